"""Fixtures: settings in a temporary folder, a frozen clock, the app, a database per test.

Tests that need PostgreSQL, Redis or the browser read their URLs from the environment
and skip with the reason when it is not set; PRESENCE_REQUIRE_ALL=1 (CI) makes those
skips failures, so CI can never be green with a suite silently left out.

A run of the suite keeps to names of its own on those shared servers (a PostgreSQL
database, a Redis channel), so two runs side by side never touch each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.orm import Session

from server import create_app
from server.runtime import Runtime
from server.settings import ServerSection, Settings
from server.store import migrate
from server.store.models import Base
from tests.servers import RUN

#: The clone's root, and the test data kept in it (no test reads a file outside the clone).
ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = ROOT / "tests" / "data"

POSTGRES_ENV = "PRESENCE_TEST_POSTGRES_URL"
REDIS_ENV = "PRESENCE_TEST_REDIS_URL"
CHROMIUM_ENV = "PRESENCE_TEST_CHROMIUM"
EXAMPLES = {
    POSTGRES_ENV: "postgresql+psycopg://127.0.0.1/test",
    REDIS_ENV: "redis://127.0.0.1:6379/0",
    CHROMIUM_ENV: "/usr/bin/chromium, from Debian's chromium package",
}


def require_env(name: str, what: str) -> str:
    """The value of `name`, else skip (or fail under PRESENCE_REQUIRE_ALL=1)."""
    value = os.environ.get(name)
    if value:
        return value
    reason = f"{what} tests need {name} (e.g. {EXAMPLES[name]})"
    if os.environ.get("PRESENCE_REQUIRE_ALL") == "1":
        pytest.fail(f"PRESENCE_REQUIRE_ALL=1 but {name} is not set: {reason}")
    pytest.skip(reason)


@contextmanager
def own_postgres_database(prefix: str) -> Iterator[str]:
    """A database of our own on the test PostgreSQL server, dropped afterwards."""
    shared = make_url(require_env(POSTGRES_ENV, "PostgreSQL"))
    name = f"{prefix}_{RUN}_{uuid.uuid4().hex[:6]}"
    admin = shared.set(drivername="postgresql", database="postgres")
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield shared.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """This run's database on the test PostgreSQL server; each test empties it first."""
    with own_postgres_database("presence_test") as url:
        yield url


class FrozenClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current

    def set(self, moment: datetime) -> None:
        self.current = moment


@pytest.fixture
def clock() -> FrozenClock:
    # A Tuesday, 10:00 in Paris: the site is open.
    return FrozenClock(at(10))


def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """Each test using the database runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'presence.db'}"
    url: str = request.getfixturevalue("postgres_url")
    _reset_postgres(url)
    return url


@pytest.fixture
def settings(tmp_path: Any, database_url: str) -> Settings:
    return Settings(
        server=ServerSection(
            data_dir=str(tmp_path), database_url=database_url, secret_key="test-secret"
        )
    )


@pytest.fixture
def config_file(tmp_path: Path, database_url: str) -> Path:
    """A config.toml for the `presence` command, on this test's database."""
    path = tmp_path / "config.toml"
    path.write_text(
        f'[server]\ndata_dir = "{tmp_path}"\ndatabase_url = "{database_url}"\n'
        'secret_key = "test-secret"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def app(settings: Settings, clock: FrozenClock) -> Iterator[Flask]:
    application = create_app(settings, clock=clock)
    runtime: Runtime = application.extensions["presence"]
    Base.metadata.create_all(runtime.engine)
    migrate.stamp_head(runtime.engine)  # so `presence` commands accept this database
    yield application
    runtime.engine.dispose()


@pytest.fixture
def runtime(app: Flask) -> Runtime:
    found: Runtime = app.extensions["presence"]
    return found


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def session(runtime: Runtime) -> Iterator[Session]:
    """A session for arranging data; call `session.commit()` before using the API."""
    with runtime.sessions() as db_session:
        yield db_session


PARIS = ZoneInfo("Europe/Paris")


def at(hour: int, minute: int = 0, second: int = 0, day: int = 24) -> datetime:
    """A moment in November 2026 (the 24th is a Tuesday), given in Paris time."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=PARIS).astimezone(UTC)


#: Headless in a container that runs as root: no sandbox here, never on a real kiosk.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium driven by Playwright (never a browser Playwright downloads)."""
    from playwright.sync_api import sync_playwright

    executable = require_env(CHROMIUM_ENV, "Browser")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()
