"""Staff API tokens for integrations: made and revoked by an admin, stored as hashes.

A token is 256 random bits, shown once when it is made; the server keeps its SHA-256,
like a kiosk's token (`server.domain.kiosks.hash_token`). Its scope is `read`: it opens
the read-only endpoints of the API and nothing else. A revoked token opens nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.domain.kiosks import hash_token
from server.store.models import ApiScope, ApiToken

#: Told apart from a kiosk token ("pk_") at a glance, in a configuration or a log.
TOKEN_PREFIX = "pa_"
#: `last_used_at` is written at most this often: a busy integration does not turn every
#: read into a write.
USE_PRECISION = timedelta(minutes=1)


def issue_token(
    session: Session, name: str, actor: str, now: datetime, scope: ApiScope = ApiScope.READ
) -> tuple[ApiToken, str]:
    """Make a token named `name`; return it with the token, which is never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name, token_hash=hash_token(token), scope=scope, created_at=now, created_by=actor
    )
    session.add(row)
    session.flush()
    return row, token


def find_token(session: Session, token: str) -> ApiToken | None:
    """The token's row if it is known and not revoked."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    return row if row is not None and row.revoked_at is None else None


def note_use(row: ApiToken, now: datetime) -> bool:
    """Remember the token was used now (to the minute); whether that changed the row."""
    if row.last_used_at is not None and now - row.last_used_at < USE_PRECISION:
        return False
    row.last_used_at = now
    return True


def revoke_token(row: ApiToken, actor: str, now: datetime) -> None:
    """Revoke a token: its next request is refused. Revoking twice keeps the first."""
    if row.revoked_at is None:
        row.revoked_at, row.revoked_by = now, actor


def all_tokens(session: Session) -> Sequence[ApiToken]:
    """Every token, the ones still in use first, newest first."""
    return session.scalars(
        select(ApiToken).order_by(
            ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id.desc()
        )
    ).all()
