"""Persistence: the SQLAlchemy models, engine and sessions, migrations and backups."""
