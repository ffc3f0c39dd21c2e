"""Engine and session lifecycle: SQLite in WAL mode by default, PostgreSQL by URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Executable, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

#: Execution option marking a session that only reads.
READ_ONLY = "presence_read_only"


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


#: Connections a process keeps (and may add) for its requests and sockets together. A
#: process serves hundreds of boards at once (gevent): when all are reconnecting after a
#: restart, each reads its state; those beyond the pool wait for a connection (a cheap
#: wait under gevent) rather than being refused. Several PostgreSQL processes stay well
#: under its default 100 connections.
POOL = {"pool_size": 10, "max_overflow": 20, "pool_timeout": 20}


def make_engine(url: str) -> Engine:
    """Create the engine; for SQLite, create the folder and set the pragmas we rely on."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, **POOL)
    in_memory = parsed.database in (None, "", ":memory:")
    if parsed.database and not in_memory:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    pool = {} if in_memory else POOL  # one connection, SQLAlchemy's own pool for that
    engine = create_engine(url, connect_args={"timeout": 30}, **pool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when a transaction begins.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a tap acknowledged to a kiosk survives a power cut of the server too.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Deleted and overwritten rows are zeroed in the file, not left in free space:
        # an erased person must not stay readable in the database's bytes.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front: a request that reads a member's visits
        # and then rewrites them cannot interleave with another doing the same. Readers
        # (READ_ONLY) begin deferred: in WAL mode they never wait for a writer.
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def checkpoint(engine: Engine) -> bool:
    """Copy SQLite's write-ahead log into the database file and empty it, so that the
    pages an erasure replaced leave the `-wal` file too; False when a reader still using
    older pages kept it from finishing (the next checkpoint does). Nothing to do on
    PostgreSQL or in memory."""
    if not is_sqlite(engine) or engine.url.database in (None, "", ":memory:"):
        return True
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        cursor.close()
    finally:
        raw.close()
    return not busy


def driver_rows(connection: Connection, statement: Executable) -> list[tuple[Any, ...]]:
    """A query's rows as the database driver gives them, without SQLAlchemy's rows or
    type processing: for reports reading a hundred thousand rows, where building rows
    took a third of the time. Select values the driver gives as wanted (integers, text)."""
    result = connection.execute(statement)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


#: Where a session keeps the key badge values are hashed with (see badges.lookup).
LOOKUP_KEY = "badge_lookup_key"


def make_session_factory(engine: Engine, lookup_key: bytes = b"") -> sessionmaker[Session]:
    """Sessions on `engine` that hash badge values with `lookup_key` (the server's, from
    server.settings.badge_lookup_key; tools and tests working on a scratch database may
    leave it empty)."""
    return sessionmaker(engine, expire_on_commit=False, info={LOOKUP_KEY: lookup_key})


def lookup_key(session: Session) -> bytes:
    """The key this session's badge values are hashed with."""
    key: bytes = session.info.get(LOOKUP_KEY, b"")
    return key


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Yield a session inside one transaction: committed on success, rolled back on error."""
    with factory() as session, session.begin():
        yield session
