"""Kiosks: API tokens (only their hash is kept), heartbeats and the offline directory."""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from badges.lookup import badge_hash
from server.domain.presence import KioskClock
from server.store.models import Badge, Kiosk, KioskMode, Member, ReaderState, Site

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


#: A kiosk whose taps could not all be placed in time honestly is shown with a wrong
#: clock for this long after the last of them.
CLOCK_DOUBT_FOR = timedelta(hours=24)


class Unchanged(enum.Enum):
    """A heartbeat field the kiosk did not send: what the server knew stays."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


@dataclass(frozen=True)
class Heartbeat:
    version: str | None
    pending_taps: int | None
    clock: KioskClock | None = None
    #: The badge reader: None when the kiosk does not know yet; older kiosks say nothing.
    reader: ReaderState | None | Unchanged = UNCHANGED


def record_heartbeat(kiosk: Kiosk, beat: Heartbeat, now: datetime) -> None:
    heard_from(kiosk, beat.clock, now)
    if beat.version is not None:
        kiosk.last_version = beat.version
    if beat.pending_taps is not None:
        kiosk.pending_taps = beat.pending_taps
    if beat.reader is not UNCHANGED:
        kiosk.reader = beat.reader


def heard_from(kiosk: Kiosk, clock: KioskClock | None, now: datetime) -> None:
    """Remember what a heartbeat or an upload said of the kiosk's clocks (an upload's
    taps are placed first, by what the server knew before it: see `place_in_time`)."""
    started = _before(now, clock.monotonic) if clock is not None else None
    if clock is not None and started is not None:
        if clock.boot_id != kiosk.boot_id:
            # A boot we had not heard from: the last contact before it, if it was.
            last = kiosk.last_seen_at
            kiosk.heard_before_boot_at = last if last is not None and last <= started else None
            if kiosk.boot_id is not None:
                kiosk.previous_boot_id = kiosk.boot_id
                kiosk.previous_boot_started_at = kiosk.boot_started_at
            kiosk.boot_id, kiosk.boot_started_at = clock.boot_id, started
        elif kiosk.boot_started_at is None or started < kiosk.boot_started_at:
            # Each message arrives a little after it was sent: the quickest one is
            # the closest to the truth.
            kiosk.boot_started_at = started
    if clock is not None and clock.wall is not None:
        kiosk.clock_skew_seconds = round((clock.wall - now).total_seconds(), 3)
    kiosk.last_seen_at = now


def _before(moment: datetime, seconds: float) -> datetime | None:
    try:
        return moment - timedelta(seconds=seconds)
    except OverflowError:  # a monotonic clock no kiosk can have: nothing to learn
        return None


def clock_wrong(kiosk: Kiosk, now: datetime, tolerance: timedelta) -> bool:
    """Whether the kiosk's clock should be put right: its last known skew is more than
    `tolerance`, or a tap it sent in the last CLOCK_DOUBT_FOR could not be placed in time
    honestly (stored at its time of receipt, flagged `implausible`)."""
    skew = kiosk.clock_skew_seconds
    if skew is not None and abs(skew) > tolerance.total_seconds():
        return True
    doubted = kiosk.clock_doubted_at
    return doubted is not None and now - doubted <= CLOCK_DOUBT_FOR


def directory_key(secret: str, kiosk: Kiosk) -> bytes:
    """The kiosk's lookup key; it changes with the kiosk's token."""
    return hmac.new(secret.encode(), f"directory:{kiosk.token_hash}".encode(), "sha256").digest()


def directory(
    session: Session, secret: str, kiosk: Kiosk, now: datetime, lookup_key: bytes
) -> dict[str, Any]:
    """Active badges -> first name and visibility, keyed so no raw value sits beside a
    name: an entry is `badge_hash(directory_key, kind, value_hash)` and the kiosk gets
    the lookup key to hash a read itself (see badges.lookup for what a stolen kiosk
    gives away). A kiosk from before the lookup key hashes the raw value and finds no
    entry: it greets without a name while offline until it is updated."""
    key = directory_key(secret, kiosk)
    rows = session.execute(
        select(
            Badge.kind, Badge.value_hash, Member.display_name, Member.given_name, Member.visibility
        )
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
            "hash": badge_hash(key, kind.value, hashed),
            "name": display or given,
            "visibility": visibility.value,
        }
        for kind, hashed, display, given, visibility in rows
    ]
    return {
        "generated_at": now,
        "key": key.hex(),
        "lookup_key": lookup_key.hex(),
        "entries": entries,
    }
