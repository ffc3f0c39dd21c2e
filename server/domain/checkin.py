"""Recording what kiosks upload: one service for every kind of tap.

A kiosk uploads a batch of taps; each is one of five kinds, told apart by what it
carries, and each kind has its handler (the table `HANDLERS`):

    upload ──► record_upload(transaction, kiosk_id, taps, ...)   one write transaction
                 │  what the server knew of the kiosk's clocks, for placing taps in time
                 ├─ tap ids stored before (one query) ──► their first answers, again
                 ├─ the other new taps, by kind, one by one:
                 │     guest arrival   guests.record_arrival
                 │     guest leaving   guests.record_departure
                 │     walk-in         meetups.record_walk_in
                 │     event ticket    meetups.record_ticket_scan
                 ├─ the new badge reads, together: presence.record_badge_taps
                 ├─ the head-count after the batch
                 └─ the kiosk is heard from: its clocks remembered, and its clock
                    doubted if a tap could not be placed in time honestly
               a tap id raced by another copy of the same upload ──► tried once more

The badge reads are most of what kiosks send, and a kiosk back from an outage sends
hundreds at once: they are recorded in a number of statements that does not grow with
the batch (see `presence.record_badge_taps`). `record_tap` records a single tap.

Every handler takes the same three things (the session, the tap, a `TapContext`) and
returns a `TapResult`, which is stored with the tap: a replay is answered from it.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from badges.tokens import is_ticket
from server.domain import guests, meetups, presence
from server.domain.kiosks import heard_from
from server.domain.presence import (
    BadgeKeys,
    IncomingTap,
    KioskClock,
    KioskMemory,
    Rules,
    TapContext,
    TapResult,
)
from server.domain.refusals import N_, Refusal
from server.store.models import BadgeKind, ClockStatus, Kiosk


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
    existing = presence.stored_answers(session, [tap.tap_id])
    if existing:
        return existing[tap.tap_id]
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
    still_valid: Callable[[Kiosk], bool] = lambda kiosk: True,
) -> UploadAnswer:
    """Record a kiosk's upload in one transaction (`transaction()` opens it and commits
    on success), or raise KioskGone if the kiosk is gone or `still_valid` says its
    credentials changed since the caller authenticated it."""
    try:
        return _record(transaction, kiosk_id, taps, clock, now, rules, keys, still_valid)
    except IntegrityError:
        # Two copies of the same new tap raced (a kiosk resending an upload whose answer
        # it lost, while the first is still being stored): the loser's insert failed on
        # the unique tap id, and trying again finds the winner's answer.
        return _record(transaction, kiosk_id, taps, clock, now, rules, keys, still_valid)


def _record(
    transaction: Callable[[], AbstractContextManager[Session]],
    kiosk_id: int,
    taps: Sequence[IncomingTap],
    clock: KioskClock | None,
    now: datetime,
    rules: Rules,
    keys: BadgeKeys,
    still_valid: Callable[[Kiosk], bool],
) -> UploadAnswer:
    with transaction() as session:
        kiosk = session.get(Kiosk, kiosk_id)
        if kiosk is None or not still_valid(kiosk):
            raise KioskGone("kiosk_gone")
        # The taps are placed in time by what the server knew of the kiosk's clocks
        # before this upload (see presence.place_in_time).
        context = TapContext(kiosk, clock, now, rules, keys, KioskMemory.of(kiosk))
        answered = presence.stored_answers(session, [tap.tap_id for tap in taps])
        fresh = list({tap.tap_id: tap for tap in taps if tap.tap_id not in answered}.values())
        # Badge reads go together (their cost is per batch, not per tap); the other kinds
        # are few and go one by one, first (the badge reads then find what they did).
        badges = [tap for tap in fresh if kind_of(tap) is UploadKind.BADGE]
        done = [
            HANDLERS[kind_of(tap)](session, tap, context)
            for tap in fresh
            if kind_of(tap) is not UploadKind.BADGE
        ]
        done += presence.record_badge_taps(session, badges, context) if badges else []
        answered |= {uuid.UUID(result.tap_id): result for result in done}
        # Taps applied now say the head-count after them; ask only if none did.
        counted = [result.head_count for result in done if result.head_count is not None]
        count = counted[-1] if counted else presence.head_count(session, kiosk.site_id, now)
        # Last: on PostgreSQL the kiosk's row stays locked from this update to the commit.
        heard_from(kiosk, clock, now)
        if any(presence.placed_by(tap, context)[1] is ClockStatus.IMPLAUSIBLE for tap in fresh):
            kiosk.clock_doubted_at = now
    return UploadAnswer(_in_upload_order(taps, answered), count, now)


def _in_upload_order(
    taps: Sequence[IncomingTap], answered: dict[uuid.UUID, TapResult]
) -> list[TapResult]:
    """The answers in the order of the taps; a tap id sent twice is answered as a resend
    the second time."""
    results, seen = [], set()
    for tap in taps:
        result = answered[tap.tap_id]
        results.append(replace(result, replayed=True) if tap.tap_id in seen else result)
        seen.add(tap.tap_id)
    return results
