"""What a running server holds: settings, database, rules and the clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from server.db import transaction
from server.models import utcnow
from server.presence import Rules
from server.settings import Settings

Clock = Callable[[], datetime]


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock = utcnow

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

    def transaction(self) -> contextmanager[Session]:  # type: ignore[valid-type]
        return transaction(self.sessions)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session for reading: nothing it does is committed."""
        with self.sessions() as session:
            yield session


def runtime() -> Runtime:
    """The runtime of the application handling the current request."""
    found: Runtime = current_app.extensions["presence"]
    return found
