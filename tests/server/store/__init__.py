"""Tests of persistence (server/store): migrations and schema.sql."""
