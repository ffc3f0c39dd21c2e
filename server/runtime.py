"""What a running server holds: settings, database, rules and the clock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from badges.tokens import public_key_of
from server.domain.board import BoardTracker
from server.domain.outbound import Resolver, system_resolver
from server.domain.presence import Rules
from server.domain.webhooks import NotificationTracker
from server.settings import Settings, badge_lookup_key, badge_signing_key, secret_key
from server.store.db import LOOKUP_KEY, READ_ONLY, is_sqlite, transaction
from server.store.models import utcnow

Clock = Callable[[], datetime]


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock = utcnow
    #: Names to addresses, for judging webhook addresses (tests give a stub).
    resolve: Resolver = system_resolver
    board: BoardTracker = field(init=False, repr=False)
    #: Signs QR badge tokens (Ed25519); kiosks get the public half.
    badge_private_key: bytes = field(init=False, repr=False)
    badge_public_key: bytes = field(init=False, repr=False)
    #: Hashes badge values (see badges.lookup); every session of `sessions` carries it.
    badge_lookup_key: bytes = field(init=False, repr=False)
    _write_lock: AbstractContextManager[object] = field(init=False, repr=False)
    #: Set when a transaction queued webhook calls or e-mails (see server.jobs.outbox).
    outbox_wake: threading.Event = field(init=False, repr=False)

    @property
    def rules(self) -> Rules:
        section = self.settings.presence
        return Rules(
            debounce=timedelta(seconds=section.debounce_seconds),
            grace=timedelta(minutes=section.auto_checkout_grace_minutes),
            future_tolerance=timedelta(seconds=section.future_tolerance_seconds),
        )

    def now(self) -> datetime:
        return self.clock()

    def __post_init__(self) -> None:
        # SQLite has one writer at a time. Queueing our own threads on a lock hands the
        # database over at once, where SQLite's busy handler would sleep and retry.
        self._write_lock = threading.RLock() if is_sqlite(self.engine) else nullcontext()
        # Every write transaction numbers and hands on the changes boards must see; the
        # server sets `board.publish`, a command-line process leaves it to Redis or none.
        self.board = BoardTracker(self.now, secret_key(self.settings))
        self.board.install(self.sessions)
        # ...and the webhook calls and alerts its taps call for, sent by server.jobs.outbox.
        self.outbox_wake = threading.Event()
        NotificationTracker(
            self.now, self.settings, secret_key(self.settings), self.outbox_wake.set
        ).install(self.sessions)
        self.badge_private_key = badge_signing_key(self.settings)
        self.badge_public_key = public_key_of(self.badge_private_key)
        self.badge_lookup_key = badge_lookup_key(self.settings)
        self.sessions.configure(info={LOOKUP_KEY: self.badge_lookup_key})

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session inside one transaction: committed on success, rolled back on error."""
        with self._write_lock, transaction(self.sessions) as session:
            yield session

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session for reading one consistent snapshot: nothing it does is committed."""
        options: dict[str, object] = {READ_ONLY: True}
        if not is_sqlite(self.engine):  # SQLite's read transactions are snapshots already
            options["isolation_level"] = "REPEATABLE READ"
        with self.sessions() as session:
            session.connection(execution_options=options)
            yield session


def runtime() -> Runtime:
    """The runtime of the application handling the current request."""
    found: Runtime = current_app.extensions["presence"]
    return found


def external_url(endpoint: str, **values: object) -> str:
    """The full address of a page, for a link given out (e-mailed, printed, put in a feed,
    shown to be copied): always under `[server] public_url` (else the server's own
    address), never the name the current request came with."""
    base = urlsplit(runtime().settings.server.address())
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme
    )
    return adapter.build(endpoint, values, force_external=True)
