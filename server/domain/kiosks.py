"""Kiosks: API tokens (only their hash is kept), heartbeats and the offline directory."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from badges.lookup import badge_hash
from server.store.models import Badge, Kiosk, KioskMode, Member, Site

TOKEN_PREFIX = "pk_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # Tokens are 256 random bits: a fast hash is enough, a slow one would only cost taps.
    return hashlib.sha256(token.encode()).hexdigest()


def find_kiosk(session: Session, token: str) -> Kiosk | None:
    return session.scalar(select(Kiosk).where(Kiosk.token_hash == hash_token(token)))


def add_kiosk(
    session: Session, name: str, site: Site, mode: KioskMode, now: datetime
) -> tuple[Kiosk, str]:
    """Create a kiosk and return it with its token, which is shown once and never stored."""
    token = new_token()
    kiosk = Kiosk(
        name=name,
        site_id=site.id,
        mode=mode,
        token_hash=hash_token(token),
        token_issued_at=now,
        created_at=now,
    )
    session.add(kiosk)
    session.flush()
    return kiosk, token


def rotate_token(kiosk: Kiosk, now: datetime) -> str:
    """Give the kiosk a new token; the old one stops working at once."""
    token = new_token()
    kiosk.token_hash, kiosk.token_issued_at = hash_token(token), now
    return token


#: A kiosk heard from neither by heartbeat (every minute) nor upload for this long is down.
DOWN_AFTER = timedelta(minutes=5)


def health(kiosk: Kiosk, now: datetime) -> str:
    """ "up", "down" (silent for more than DOWN_AFTER) or "never seen"."""
    if kiosk.last_seen_at is None:
        return "never seen"
    return "up" if now - kiosk.last_seen_at <= DOWN_AFTER else "down"


@dataclass(frozen=True)
class Heartbeat:
    version: str | None
    pending_taps: int | None
    wall: datetime | None


def record_heartbeat(kiosk: Kiosk, beat: Heartbeat, now: datetime) -> None:
    kiosk.last_seen_at = now
    if beat.version is not None:
        kiosk.last_version = beat.version
    if beat.pending_taps is not None:
        kiosk.pending_taps = beat.pending_taps
    if beat.wall is not None:
        kiosk.clock_skew_seconds = round((beat.wall - now).total_seconds(), 3)


def directory_key(secret: str, kiosk: Kiosk) -> bytes:
    """The kiosk's lookup key; it changes with the kiosk's token."""
    return hmac.new(secret.encode(), f"directory:{kiosk.token_hash}".encode(), "sha256").digest()


def directory(session: Session, secret: str, kiosk: Kiosk, now: datetime) -> dict[str, Any]:
    """Active badges -> first name and visibility, keyed so no raw UID sits beside a name."""
    key = directory_key(secret, kiosk)
    rows = session.execute(
        select(Badge.kind, Badge.value, Member.display_name, Member.given_name, Member.visibility)
        .join(Member, Badge.member_id == Member.id)
        .where(
            Badge.revoked_at.is_(None),
            # a guest's pass until the day after its own (any time zone's "today")
            Badge.valid_on.is_(None) | (Badge.valid_on >= (now - timedelta(days=1)).date()),
            Member.archived_at.is_(None),
            Member.erased_at.is_(None),
        )
        .order_by(Badge.id)
    )
    entries = [
        {
            "hash": badge_hash(key, kind.value, value),
            "name": display or given,
            "visibility": visibility.value,
        }
        for kind, value, display, given, visibility in rows
    ]
    return {"generated_at": now, "key": key.hex(), "entries": entries}
