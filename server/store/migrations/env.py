"""Alembic environment, shipped in the package: run through `server.store.migrate`, no ini file.

The database URL is the Config's main option "sqlalchemy.url"; a connection passed in
`config.attributes["connection"]` is used as is (its transaction, if any, is the caller's).
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, TypeDecorator

from server.store.db import make_engine
from server.store.models import Base

config = context.config
target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render our own column types as their SQLAlchemy implementation (no server imports)."""
    if type_ == "type" and isinstance(obj, TypeDecorator):
        return f"sa.{obj.impl_instance!r}"
    return False


def configure(**options: Any) -> None:
    """Configure the migration context with the options every mode shares."""
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        # Always batch: the same scripts run on SQLite, which cannot ALTER most things.
        render_as_batch=True,
        render_item=render_item,
        **options,
    )


def run_on(connection: Connection) -> None:
    """Run the migrations on a connection."""
    configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    """Write the migrations as SQL, for the dialect of the configured URL."""
    url = config.get_main_option("sqlalchemy.url")
    configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run the migrations on the given connection, else on one to the configured URL."""
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: set the main option 'sqlalchemy.url'")
    engine = make_engine(url)
    try:
        with engine.connect() as new_connection:
            run_on(new_connection)
            new_connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
