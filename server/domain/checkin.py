"""Recording what kiosks upload: one service for every kind of tap.

A kiosk uploads a batch of taps; each is one of five kinds, told apart by what it
carries, and each kind has its handler (the table `HANDLERS`):

    upload ──► record_upload(transaction, kiosk_id, taps, ...)   one write transaction
                 │  the kiosk is seen now
                 ├─ each tap ──► record_tap(session, tap, context)
                 │                 tap id stored before? ──► its first answer, again
                 │                 else by kind:
                 │                   guest arrival   guests.record_arrival
                 │                   guest leaving   guests.record_departure
                 │                   walk-in         meetups.record_walk_in
                 │                   event ticket    meetups.record_ticket_scan
                 │                   badge           presence.record_badge_tap
                 └─ the head-count after the batch
               a tap id raced by another copy of the same upload ──► tried once more

Every handler takes the same three things (the session, the tap, a `TapContext`) and
returns a `TapResult`, which is stored with the tap: a replay is answered from it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from badges.tokens import is_ticket
from server.domain import guests, meetups, presence
from server.domain.presence import BadgeKeys, IncomingTap, KioskClock, Rules, TapContext, TapResult
from server.domain.refusals import N_, Refusal
from server.store.models import BadgeKind, Kiosk


class UploadKind(enum.Enum):
    """What an uploaded tap is, from what it carries."""

    GUEST_ARRIVAL = "guest_arrival"
    GUEST_LEAVING = "guest_leaving"
    WALK_IN = "walk_in"
    TICKET = "ticket"
    BADGE = "badge"


Handler = Callable[[Session, IncomingTap, TapContext], TapResult]

HANDLERS: dict[UploadKind, Handler] = {
    UploadKind.GUEST_ARRIVAL: guests.record_arrival,
    UploadKind.GUEST_LEAVING: guests.record_departure,
    UploadKind.WALK_IN: meetups.record_walk_in,
    UploadKind.TICKET: meetups.record_ticket_scan,
    UploadKind.BADGE: presence.record_badge_tap,
}


class KioskGone(Refusal):
    """The kiosk was deleted between its authentication and its upload."""

    MESSAGES = {"kiosk_gone": N_("Cette borne n'existe plus.")}


def kind_of(tap: IncomingTap) -> UploadKind:
    if tap.guest is not None:
        return UploadKind.GUEST_ARRIVAL
    if tap.leaving is not None:
        return UploadKind.GUEST_LEAVING
    if tap.walk_in is not None:
        return UploadKind.WALK_IN
    if tap.badge_kind is BadgeKind.QR and is_ticket(tap.badge):
        return UploadKind.TICKET
    return UploadKind.BADGE


def record_tap(session: Session, tap: IncomingTap, context: TapContext) -> TapResult:
    """Store one tap once, apply it, and say what it did; a tap id stored before gets
    its first answer again and changes nothing."""
    existing = presence.find_tap(session, tap.tap_id)
    if existing is not None:
        return TapResult.from_stored(existing.response)
    return HANDLERS[kind_of(tap)](session, tap, context)


@dataclass(frozen=True)
class UploadAnswer:
    """What the kiosk is told: an answer per tap, in order, and the head-count after."""

    results: list[TapResult]
    head_count: int
    server_time: datetime


def record_upload(
    transaction: Callable[[], AbstractContextManager[Session]],
    kiosk_id: int,
    taps: Sequence[IncomingTap],
    clock: KioskClock | None,
    now: datetime,
    rules: Rules,
    keys: BadgeKeys,
) -> UploadAnswer:
    """Record a kiosk's upload in one transaction (`transaction()` opens it and commits
    on success), oldest tap first, or raise KioskGone."""
    try:
        return _record(transaction, kiosk_id, taps, clock, now, rules, keys)
    except IntegrityError:
        # Two copies of the same new tap raced (a kiosk resending an upload whose answer
        # it lost, while the first is still being stored): the loser's insert failed on
        # the unique tap id, and trying again finds the winner's answer.
        return _record(transaction, kiosk_id, taps, clock, now, rules, keys)


def _record(
    transaction: Callable[[], AbstractContextManager[Session]],
    kiosk_id: int,
    taps: Sequence[IncomingTap],
    clock: KioskClock | None,
    now: datetime,
    rules: Rules,
    keys: BadgeKeys,
) -> UploadAnswer:
    with transaction() as session:
        kiosk = session.get(Kiosk, kiosk_id)
        if kiosk is None:
            raise KioskGone("kiosk_gone")
        kiosk.last_seen_at = now
        context = TapContext(kiosk, clock, now, rules, keys)
        results = [record_tap(session, tap, context) for tap in taps]
        # Every counted tap already says the head-count after it; ask only if none did.
        counted = [result.head_count for result in results if result.head_count is not None]
        count = counted[-1] if counted else presence.head_count(session, kiosk.site_id, now)
    return UploadAnswer(results, count, now)
