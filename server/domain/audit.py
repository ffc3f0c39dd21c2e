"""The audit trail: one entry per staff action, kept with who did it and why."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.store.models import AuditEntry


def record(
    session: Session,
    at: datetime,
    actor: str,
    action: str,
    target: str = "",
    reason: str = "",
    **details: Any,
) -> AuditEntry:
    entry = AuditEntry(
        at=at, actor=actor, action=action, target=target, reason=reason, details=details
    )
    session.add(entry)
    session.flush()
    return entry


def latest(session: Session, limit: int = 200, offset: int = 0) -> Sequence[AuditEntry]:
    """The entries, latest first: `limit` of them, after the `offset` latest."""
    return session.scalars(
        select(AuditEntry)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry)) or 0
