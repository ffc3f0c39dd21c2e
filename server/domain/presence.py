"""The presence rules: the tap log in, visits out.

Every entry of the log that concerns a member is replayed in (corrected time, tap id)
order from the last point the new entry cannot have changed, so the visits come out the
same whatever order the taps arrived in. Closing time is a rule of that replay, not only
of a scheduled job: a late tap and a catch-up job cannot disagree.

The rules the replay applies, entry by entry (`_apply`):

- a badge at a toggle kiosk checks the member in at its site, or out if they are in
  there; an in-only kiosk only checks in, an out-only kiosk only out; staff entries
  check in or out by hand. A check-in at another site ends the visit at the first;
- a badge read within `debounce` of the entry that last changed the member's state
  (in or out, never an automatic end) does nothing: a repeat;
- a visit nobody ends by closing time plus `grace` ends then (`VisitEnd.AUTO`);
- leaving after closing: an entry asking to leave (toggle, out-only kiosk, staff out) at
  that visit's site after its automatic end ends it at the entry's time instead, until
  `OpeningHours.leaving_until` (local midnight after the day its closing period opened,
  plus `grace`, or the site's next opening if sooner). Afterwards, or from an in-only
  kiosk, the automatic end stands and the entry is an arrival.

        09:30 in ─────────── 19:00 closes ┄┄ 19:30 ended ┄┄ 19:45 tap: ended at 19:45
                                                       ┄┄ 00:40 tap: a new visit
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, func, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased, joinedload

from badges.lookup import value_hash
from badges.tokens import looks_like_token
from badges.uid import BadUid
from badges.uid import normalise_badge as badge_normal_form
from server.domain.credentials import TokenRefused, check_token
from server.domain.hours import OpeningHours
from server.store.db import lookup_key
from server.store.models import (
    Badge,
    BadgeKind,
    ClockStatus,
    GuestDay,
    Kiosk,
    KioskMode,
    Member,
    Outcome,
    Site,
    Tap,
    TapKind,
    UTCDateTime,
    Visit,
    VisitEnd,
)

#: The head-counts a transaction worked out, by site (`session.info`): the board
#: tracker reuses them rather than count again, and forgets them when a visit changes.
HEAD_COUNTS = "presence.head_counts"
#: Outcomes of taps that never take part in presence.
REFUSED = frozenset({Outcome.UNKNOWN_BADGE, Outcome.REVOKED, Outcome.ARCHIVED, Outcome.INVALID})
MAX_BADGE_LENGTH = 512


@dataclass(frozen=True)
class Rules:
    """The tunable parts of the rules, from the `[presence]` settings."""

    debounce: timedelta = timedelta(seconds=60)
    grace: timedelta = timedelta(minutes=30)
    future_tolerance: timedelta = timedelta(minutes=5)


@dataclass(frozen=True)
class KioskClock:
    """The kiosk's clocks at the moment it sent an upload or a heartbeat."""

    monotonic: float
    boot_id: str
    wall: datetime | None = None


@dataclass(frozen=True)
class KioskMemory:
    """What the server remembered of a kiosk's clocks when an upload arrived (before the
    upload itself told it anything): see `place_in_time`."""

    created_at: datetime
    #: The boots it heard from (the last one and the one before), and when each began.
    boots: dict[str, datetime] = field(default_factory=dict)
    last_boot: str | None = None
    last_seen_at: datetime | None = None
    #: The last time it heard from the kiosk before its last boot began.
    heard_before_boot_at: datetime | None = None
    #: The kiosk's wall clock minus ours, when it last said it.
    skew: timedelta | None = None

    @classmethod
    def of(cls, kiosk: Kiosk) -> KioskMemory:
        """What the kiosk's row says now (see `kiosks.heard_from`)."""
        boots = {
            boot: started
            for boot, started in (
                (kiosk.previous_boot_id, kiosk.previous_boot_started_at),
                (kiosk.boot_id, kiosk.boot_started_at),
            )
            if boot is not None and started is not None
        }
        skew = kiosk.clock_skew_seconds
        return cls(
            created_at=kiosk.created_at,
            boots=boots,
            last_boot=kiosk.boot_id,
            last_seen_at=kiosk.last_seen_at,
            heard_before_boot_at=kiosk.heard_before_boot_at,
            skew=None if skew is None else timedelta(seconds=skew),
        )


@dataclass(frozen=True)
class GuestArrival:
    """A guest checking in at the kiosk (see `server.domain.guests`)."""

    name: str
    email: str | None = None
    host_id: int | None = None


@dataclass(frozen=True)
class WalkIn:
    """Someone at the door for an event, without a ticket (see `server.domain.meetups`)."""

    event_id: int
    name: str
    email: str | None = None


@dataclass(frozen=True)
class IncomingTap:
    """One tap as a kiosk reports it (already checked for types by the API): a badge
    read, a guest arriving (`guest`) or leaving (`leaving`: their arrival's tap id), or
    someone coming to an event without a ticket (`walk_in`)."""

    tap_id: uuid.UUID
    badge: str
    badge_kind: BadgeKind
    read_at: datetime
    monotonic: float | None = None
    boot_id: str | None = None
    guest: GuestArrival | None = None
    leaving: uuid.UUID | None = None
    walk_in: WalkIn | None = None


@dataclass(frozen=True)
class BadgeKeys:
    """The badge signing key pair: `public` checks badges, passes and tickets; `private`
    signs the passes and tickets made at the door (a guest's day, a walk-in)."""

    public: bytes
    private: bytes | None = None


@dataclass(frozen=True)
class TapContext:
    """What every kind of tap is recorded with: the kiosk it came through, the kiosk's
    clocks at upload, when the server received it, the rules, the badge keys, and what
    the server remembered of the kiosk's clocks before the upload (by default, what the
    kiosk's row says now)."""

    kiosk: Kiosk
    clock: KioskClock | None
    received_at: datetime
    rules: Rules
    keys: BadgeKeys | None = None
    memory: KioskMemory | None = None


@dataclass(frozen=True)
class TapResult:
    """The answer to one tap; it is stored with the tap and given again on a replay."""

    tap_id: str
    outcome: Outcome
    name: str | None = None
    head_count: int | None = None
    reason: str | None = None
    replayed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.tap_id,
            "outcome": self.outcome.value,
            "name": self.name,
            "head_count": self.head_count,
            "reason": self.reason,
        }

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> TapResult:
        return cls(
            tap_id=data["id"],
            outcome=Outcome(data["outcome"]),
            name=data.get("name"),
            head_count=data.get("head_count"),
            reason=data.get("reason"),
            replayed=True,
        )


# -- time ------------------------------------------------------------------------------


def place_in_time(
    tap: IncomingTap,
    clock: KioskClock | None,
    received_at: datetime,
    memory: KioskMemory,
    rules: Rules,
) -> tuple[datetime, ClockStatus]:
    """Say when a tap happened, trusting the kiosk's wall clock only when it must.

    A Raspberry Pi has no real-time clock: its wall time is wrong after an offline boot
    (fake-hwclock puts back the time it saved, hours or days ago) and jumps when NTP
    syncs. Within one boot its monotonic clock is steady, and the server learns when a
    boot began (its time of receipt minus the kiosk's monotonic clock) from each upload
    and heartbeat; so a tap is placed by the boot it was read in:

        the tap's boot                  placed at                              clock
        ──────────────────────────────  ─────────────────────────────────────  ───────────
        the upload's own                received − (upload's monotonic         corrected
                                          − tap's monotonic)
        one we heard from before        that boot's start + tap's monotonic    corrected
          (the last two boots)
        one we never heard from,        its wall time, if it is plausible      unverified
          or not said                     (below)
        anything else                   received time                          implausible

    A wall time is plausible when it falls after the last time we heard from the kiosk
    in an earlier boot than the upload's (a tap read in a later boot cannot be older
    than that; what the upload's own boot told us, its heartbeats, this upload and the
    batches before it, all came after the tap and does not count), not after the
    upload's boot began (the tap was read before it) nor after receipt, give or take
    `future_tolerance`, and the kiosk's last known skew says its clock was right within
    `future_tolerance`. A kiosk never heard from has only its creation (less a day) as
    a floor.
    """
    if tap.monotonic is not None and tap.boot_id is not None:
        if clock is not None and tap.boot_id == clock.boot_id:
            elapsed = clock.monotonic - tap.monotonic
            placed = _shifted(received_at, -elapsed) if elapsed >= 0 else None
            if placed is None:
                return received_at, ClockStatus.IMPLAUSIBLE
            return placed, ClockStatus.CORRECTED
        if tap.boot_id in memory.boots:
            placed = _shifted(memory.boots[tap.boot_id], tap.monotonic)
            if placed is None or placed > received_at + rules.future_tolerance:
                return received_at, ClockStatus.IMPLAUSIBLE
            return min(placed, received_at), ClockStatus.CORRECTED

    floor, latest = memory.heard_before_boot_at, received_at
    if clock is not None and tap.boot_id not in (None, clock.boot_id):  # an earlier boot
        if clock.boot_id != memory.last_boot:  # the first we hear of the upload's boot
            floor = memory.last_seen_at
        began = _shifted(received_at, -clock.monotonic)
        latest = latest if began is None else min(latest, began)
    if floor is None:
        floor = memory.created_at - timedelta(days=1)
    right = memory.skew is None or abs(memory.skew) <= rules.future_tolerance
    if right and floor <= tap.read_at <= latest + rules.future_tolerance:
        return min(tap.read_at, latest), ClockStatus.UNVERIFIED
    return received_at, ClockStatus.IMPLAUSIBLE


def _shifted(moment: datetime, seconds: float) -> datetime | None:
    """`moment` moved by `seconds`, or None past what a time can hold (a kiosk may send
    any monotonic reading)."""
    try:
        return moment + timedelta(seconds=seconds)
    except OverflowError:
        return None


def placed_by(tap: IncomingTap, context: TapContext) -> tuple[datetime, ClockStatus]:
    """Where `place_in_time` puts a tap from a kiosk, in this context."""
    memory = context.memory or KioskMemory.of(context.kiosk)
    return place_in_time(tap, context.clock, context.received_at, memory, context.rules)


# -- recording taps ---------------------------------------------------------------------


def find_tap(session: Session, tap_id: uuid.UUID) -> Tap | None:
    return session.scalar(select(Tap).where(Tap.tap_id == tap_id))


def stored_answers(session: Session, tap_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, TapResult]:
    """The first answer of each of these tap ids already in the log, to give again."""
    if not tap_ids:
        return {}
    rows = session.execute(_STORED_ANSWERS, {"ids": list(set(tap_ids))})
    return {tap_id: TapResult.from_stored(response) for tap_id, response in rows}


def kiosk_entry(tap: IncomingTap, context: TapContext, **fields: Any) -> Tap:
    """The log entry of a tap from a kiosk, placed in time (`fields` override the badge
    read's defaults: kind, mode, reason...)."""
    kiosk, received_at = context.kiosk, context.received_at
    occurred_at, clock_status = placed_by(tap, context)
    values: dict[str, Any] = {
        "tap_id": tap.tap_id,
        "kind": TapKind.BADGE,
        "kiosk_id": kiosk.id,
        "site_id": kiosk.site_id,
        "mode": kiosk.mode,
        "badge_kind": tap.badge_kind,
        "read_at": tap.read_at,
        "occurred_at": occurred_at,
        "clock": clock_status,
        "received_at": received_at,
    }
    return Tap(**(values | fields))


def record_badge_taps(
    session: Session, taps: Sequence[IncomingTap], context: TapContext
) -> list[TapResult]:
    """Store badge reads from one kiosk, apply them, and say what each did, in order.

    The tap ids are new (the caller looked them up) and distinct. Signed QR badge tokens
    are checked with the context's public key. Built for a kiosk's batch: the number of
    statements does not grow with the taps, only the rows do.

        taps ──► log entries placed in time, badge values normalised
                   one query: the badges        (tokens: each its badge, by id)
                   one query: their members, locked in id order
                   refusals decided: unknown, revoked, archived, a pass on another day
                   one query: each member's newest log entry, and one their latest visit
                   one insert: the entries
                 ──► per member, oldest entry first:
                   every new entry newer than the log ──► applied to the latest visit
                   else (a tap held offline, a clock put right) ──► replayed from a checkpoint
                 ──► one head-count, one update of the entries' answers
    """
    reads = [_Read(kiosk_entry(tap, context)) for tap in taps]
    _identify(session, reads, taps, context)
    members = _lock_members(session, {read.member_id for read in reads if read.member_id})
    for read in reads:
        if read.member_id is not None and read.outcome is None:
            read.check(members[read.member_id], session, context.kiosk.site_id)
    counted = [read for read in reads if read.outcome is None]
    newest = _newest_entries(session, {read.member_id for read in counted if read.member_id})
    for read in reads:
        read.entry.outcome = read.outcome or Outcome.DUPLICATE  # until the replay says
    session.add_all(read.entry for read in reads)
    session.flush()

    by_member: dict[int, list[Tap]] = {}
    for read in counted:
        assert read.member_id is not None
        by_member.setdefault(read.member_id, []).append(read.entry)
    effects = _bring_visits_along(session, by_member, newest, context.rules)

    count = head_count(session, context.kiosk.site_id, context.received_at) if counted else None
    results = []
    for read in reads:
        if read.outcome is None:
            assert read.member_id is not None
            outcome = _EFFECTS.get(effects.get(read.entry.id, ""), Outcome.DUPLICATE)
            name = members[read.member_id].greeting_name
            results.append(answer(read.entry, outcome, name=name, head_count=count))
        else:
            results.append(answer(read.entry, read.outcome, reason=read.reason))
    session.flush()
    if count is not None:  # for the board tracker, until a visit changes again
        session.info.setdefault(HEAD_COUNTS, {})[context.kiosk.site_id] = count
    return results


def record_badge_tap(session: Session, tap: IncomingTap, context: TapContext) -> TapResult:
    """Store one badge read from a kiosk, apply it, and say what it did."""
    return record_badge_taps(session, [tap], context)[0]


def _bring_visits_along(
    session: Session, by_member: dict[int, list[Tap]], newest: dict[int, datetime], rules: Rules
) -> dict[int, str]:
    """Apply each member's new entries (stored, under the member's lock) to their visits;
    say what each entry did ("in", "out"; absent: nothing).

    The common case is a member whose new entries are all newer than their whole log
    (`newest`, read before they were stored): they are applied, oldest first, to the
    state the member's latest visit describes. A member with an older one (a tap held
    offline, a clock put right) has their visits replayed from a checkpoint before it.
    """
    for entries in by_member.values():
        entries.sort(key=lambda entry: (entry.occurred_at, entry.tap_id))
    appended = {
        member_id
        for member_id, entries in by_member.items()
        if member_id not in newest or newest[member_id] < entries[0].occurred_at
    }
    latest = _latest_visits(session, appended)
    effects: dict[int, str] = {}
    for member_id, entries in by_member.items():
        if member_id in appended:
            effects |= _append(session, latest.get(member_id), entries, rules)
        else:
            effects |= _replay(session, member_id, entries[0], rules).effects
    session.flush()
    return effects


@dataclass
class _Read:
    """A badge read on its way into the log: its entry, and its refusal once decided."""

    entry: Tap
    badge: Badge | None = None
    outcome: Outcome | None = None
    reason: str | None = None

    @property
    def member_id(self) -> int | None:
        return self.badge.member_id if self.badge is not None else self.entry.member_id

    def refuse(self, outcome: Outcome, reason: str | None = None) -> None:
        self.outcome, self.reason = outcome, reason

    def check(self, member: Member, session: Session, site_id: int) -> None:
        """Refuse a badge that may not check its member in now."""
        assert self.badge is not None
        if self.badge.revoked_at is not None:
            self.refuse(Outcome.REVOKED, "revoked")
        elif member.archived_at is not None or member.erased_at is not None:
            self.refuse(Outcome.ARCHIVED)
        elif self.badge.valid_on is not None:  # a guest's pass: its day and its site only
            if _hours(session, site_id).local_date(self.entry.occurred_at) != self.badge.valid_on:
                self.refuse(Outcome.REVOKED, "not_today")
            elif session.scalar(
                select(GuestDay.site_id).where(GuestDay.badge_id == self.badge.id)
            ) not in (None, site_id):
                self.refuse(Outcome.REVOKED, "other_site")


def _identify(
    session: Session, reads: list[_Read], taps: Sequence[IncomingTap], context: TapContext
) -> None:
    """Find each read's badge (and member), or refuse the read."""
    by_value: dict[tuple[BadgeKind, str], list[_Read]] = {}
    for read, tap in zip(reads, taps, strict=True):
        entry = read.entry
        try:
            entry.badge_value = normalise_badge(tap.badge_kind, tap.badge)
            hashed = value_hash(lookup_key(session), tap.badge_kind.value, entry.badge_value)
            entry.badge_hash = hashed
        except BadUid:
            entry.kind = TapKind.VOID
            entry.badge_value = printable(tap.badge)[:MAX_BADGE_LENGTH]
            read.refuse(Outcome.INVALID, "malformed_badge")
            continue
        if tap.badge_kind is BadgeKind.QR and looks_like_token(entry.badge_value):
            if context.keys is None:
                raise ValueError("a QR token needs the badge public key to be checked")
            try:
                read.badge = check_token(session, entry.badge_value, context.keys.public)
            except TokenRefused as refused:
                if refused.badge is not None:
                    entry.badge_id, entry.member_id = refused.badge.id, refused.badge.member_id
                read.refuse(refused.outcome, refused.code)
        else:
            by_value.setdefault((tap.badge_kind, hashed), []).append(read)
    found = _find_badges(session, set(by_value))
    for key, waiting in by_value.items():
        for read in waiting:
            read.badge = found.get(key)
            if read.badge is None:
                read.refuse(Outcome.UNKNOWN_BADGE)
    for read in reads:
        if read.badge is not None:
            read.entry.badge_id, read.entry.member_id = read.badge.id, read.badge.member_id


def _find_badges(
    session: Session, keys: set[tuple[BadgeKind, str]]
) -> dict[tuple[BadgeKind, str], Badge]:
    """The badge of each (kind, value hash), in one query: the active one if any, else
    the last revoked one."""
    if not keys:
        return {}
    found: dict[tuple[BadgeKind, str], Badge] = {}
    for badge in session.scalars(_BADGES, {"hashes": list({hashed for _, hashed in keys})}):
        found.setdefault((badge.kind, badge.value_hash), badge)
    return {key: badge for key, badge in found.items() if key in keys}


def _lock_members(session: Session, member_ids: set[int]) -> dict[int, Member]:
    """Take the members' row locks, in id order (two uploads never wait on each other in
    a circle): a member's visits are rewritten by one transaction at a time."""
    if not member_ids:
        return {}
    members = session.scalars(_LOCK_MEMBERS, {"ids": list(member_ids)}).all()
    _hold(session, members)
    return {member.id: member for member in members}


def _newest_entries(session: Session, member_ids: set[int]) -> dict[int, datetime]:
    """The time of each member's newest entry that takes part in presence (read under
    the member's lock, before the new entries are stored)."""
    if not member_ids:
        return {}
    rows = session.execute(_NEWEST_ENTRIES, {"ids": list(member_ids)})
    return {member_id: at for member_id, at in rows if at is not None}


def record_staff_entry(
    session: Session,
    member: Member,
    site: Site,
    kind: TapKind,
    at: datetime,
    actor: str,
    reason: str,
    received_at: datetime,
    rules: Rules,
) -> TapResult:
    """Check a member in or out by hand (or record a forgotten check-out), with who and why."""
    if kind not in (TapKind.STAFF_IN, TapKind.STAFF_OUT, TapKind.AUTO_OUT):
        raise ValueError(f"{kind} is not a staff entry")
    lock_member(session, member.id)
    entry = Tap(
        tap_id=uuid.uuid4(),
        kind=kind,
        site_id=site.id,
        member_id=member.id,
        actor=actor,
        reason=reason,
        occurred_at=at.astimezone(UTC),
        clock=ClockStatus.SERVER,
        received_at=received_at,
    )
    return apply_entry(session, entry, member, rules)


def apply_entry(session: Session, entry: Tap, member: Member, rules: Rules) -> TapResult:
    """Add an entry that concerns a member (already locked) and bring their visits along."""
    assert entry.site_id is not None
    newest = _newest_entries(session, {member.id})  # before the entry is stored
    entry.outcome = Outcome.DUPLICATE  # until the replay says what it did
    session.add(entry)
    session.flush()
    effects = _bring_visits_along(session, {member.id: [entry]}, newest, rules)
    outcome = _EFFECTS.get(effects.get(entry.id, ""), Outcome.DUPLICATE)
    count = head_count(session, entry.site_id, entry.received_at)
    return finish(session, entry, outcome, name=member.greeting_name, head_count=count)


def normalise_badge(kind: BadgeKind, raw: str) -> str:
    return badge_normal_form(kind.value, raw)


def printable(text: str) -> str:
    """Escape what no database should store as text (NUL, control characters, surrogates)."""
    return "".join(char if char.isprintable() else f"\\u{ord(char):04x}" for char in text)


def lock_member(session: Session, member_id: int) -> Member:
    """Take the member's row lock: their visits are rewritten by one request at a time."""
    member = session.scalar(select(Member).where(Member.id == member_id).with_for_update())
    assert member is not None
    return member


def answer(
    entry: Tap,
    outcome: Outcome,
    *,
    name: str | None = None,
    head_count: int | None = None,
    reason: str | None = None,
) -> TapResult:
    """Write a tap's outcome and answer on its entry (the caller adds and flushes it)."""
    result = TapResult(str(entry.tap_id), outcome, name, head_count, reason)
    entry.outcome = outcome
    entry.reason = entry.reason or (reason or "")
    entry.response = result.as_dict()
    return result


def finish(session: Session, entry: Tap, outcome: Outcome, **answered: Any) -> TapResult:
    """Answer a tap (see `answer`) and store its entry."""
    result = answer(entry, outcome, **answered)
    session.add(entry)
    session.flush()
    return result


# -- deriving visits --------------------------------------------------------------------

#: The tap that opened a visit, for ordering visits the way the log is ordered.
_OPENING = aliased(Tap, name="opening_tap")
_EFFECTS = {"in": Outcome.CHECKED_IN, "out": Outcome.CHECKED_OUT}


@dataclass
class _State:
    open: Visit | None = None
    #: The visit closing time just ended, while a tap asking to leave may still end it
    #: at its own time (see `OpeningHours.leaving_until`); None once anything else
    #: opens or ends a visit.
    lingering: Visit | None = None
    last_change: datetime | None = None
    #: What each replayed entry did: "in" or "out" (absent: nothing, a duplicate).
    effects: dict[int, str] = field(default_factory=dict)


def opening_hours(site: Site) -> OpeningHours:
    return OpeningHours(
        site.timezone, site.opening_hours, {item.day: item.hours for item in site.exceptions}
    )


#: A staff entry withdrawing another (see `server.domain.corrections`).
_WITHDRAWAL = aliased(Tap, name="withdrawal")


def _participating(member_id: int | InstrumentedAttribute[int]) -> Select[Tap]:
    """The member's entries that take part in presence: not void, not refused, not
    withdrawn by staff."""
    return select(Tap).where(
        Tap.member_id == member_id,
        Tap.kind != TapKind.VOID,
        Tap.outcome.not_in(REFUSED),
        ~select(_WITHDRAWAL.id).where(_WITHDRAWAL.cancels_id == Tap.id).exists(),
    )


# The batch path's statements, built once: building a statement costs more than the
# database takes to run these.
_STORED_ANSWERS = select(Tap.tap_id, Tap.response).where(
    Tap.tap_id.in_(bindparam("ids", expanding=True))
)
_BADGES = (
    select(Badge)
    .where(Badge.value_hash.in_(bindparam("hashes", expanding=True)))
    .order_by(Badge.revoked_at.is_not(None), Badge.issued_at.desc(), Badge.id.desc())
)
_LOCK_MEMBERS = (
    select(Member)
    .where(Member.id.in_(bindparam("ids", expanding=True)))
    .order_by(Member.id)
    .with_for_update()
)
_NEWEST_ENTRIES = select(
    Member.id,
    _participating(Member.id)
    .with_only_columns(Tap.occurred_at)
    .order_by(Tap.occurred_at.desc())
    .limit(1)
    .correlate(Member)
    .scalar_subquery(),
).where(Member.id.in_(bindparam("ids", expanding=True)))
_LATEST_VISITS = select(Visit).where(
    Visit.id.in_(
        select(
            select(Visit.id)
            .join(_OPENING, Visit.in_tap_id == _OPENING.id)
            .where(Visit.member_id == Member.id)
            .order_by(Visit.checked_in_at.desc(), _OPENING.tap_id.desc())
            .limit(1)
            .correlate(Member)
            .scalar_subquery()
        ).where(Member.id.in_(bindparam("ids", expanding=True)))
    )
)


def rebuild_visits(session: Session, member_id: int, since: Tap | None, rules: Rules) -> Outcome:
    """Bring the member's visits up to date with the log by replaying it from a
    checkpoint before `since`, or from the very beginning when there is no `since`; say
    what `since` did. (New entries go through `_bring_visits_along`, which appends them
    when it can.)"""
    effects = _replay(session, member_id, since, rules).effects
    session.flush()
    if since is None:
        return Outcome.DUPLICATE
    return _EFFECTS.get(effects.get(since.id, ""), Outcome.DUPLICATE)


def _append(
    session: Session, latest: Visit | None, entries: Sequence[Tap], rules: Rules
) -> dict[int, str]:
    """Apply entries newer than all of a member's log, oldest first, to the state their
    latest visit describes; say what each did."""
    state = _state_after(latest)
    for entry in entries:
        _apply(session, state, entry, rules)
    return state.effects


def _replay(session: Session, member_id: int, since: Tap | None, rules: Rules) -> _State:
    """Replay the member's log from the last visit that began before `since`.

    Entries before that visit's opening entry cannot be changed by `since` (or by any
    later entry), and just before that entry the member had no visit an entry could
    still affect, so the replay starts there with a clean state and reaches the same
    visits as a replay from the very beginning.
    """
    checkpoint = None
    if since is not None:
        checkpoint = session.execute(
            select(Visit.checked_in_at, _OPENING.tap_id)
            .join(_OPENING, Visit.in_tap_id == _OPENING.id)
            .where(
                Visit.member_id == member_id,
                # A plain tuple takes the columns' types: the time is bound as naive UTC
                # like the stored ones (tuple_() would bind it as given, with its offset).
                tuple_(Visit.checked_in_at, _OPENING.tap_id) < (since.occurred_at, since.tap_id),
            )
            .order_by(Visit.checked_in_at.desc(), _OPENING.tap_id.desc())
            .limit(1)
        ).first()

    stale = select(Visit).where(Visit.member_id == member_id)
    entries = _participating(member_id)
    if checkpoint is not None:
        start = tuple(checkpoint)
        stale = stale.join(_OPENING, Visit.in_tap_id == _OPENING.id).where(
            tuple_(Visit.checked_in_at, _OPENING.tap_id) >= start
        )
        entries = entries.where(tuple_(Tap.occurred_at, Tap.tap_id) >= start)
    for visit in session.scalars(stale):
        session.delete(visit)
    session.flush()

    state = _State()
    for entry in session.scalars(entries.order_by(Tap.occurred_at, Tap.tap_id)):
        _apply(session, state, entry, rules)
    return state


def _latest_visits(session: Session, member_ids: set[int]) -> dict[int, Visit]:
    """Each member's latest visit (in log order), in one query."""
    if not member_ids:
        return {}
    found = session.scalars(_LATEST_VISITS, {"ids": list(member_ids)})
    return {visit.member_id: visit for visit in found}


def _state_after(latest: Visit | None) -> _State:
    """The replay's state after a member's whole log, read from their latest visit.

    Every change of state opens or closes a visit, and any earlier visit was closed at
    the latest one's opening at the latest, so the latest visit holds the last change.
    """
    state = _State()
    if latest is None:
        return state
    state.last_change = latest.checked_in_at
    if latest.out_tap_id is None:
        # Open, or ended by closing time (which the replay applies again if it has come):
        # an entry from before closing still finds the member in, and one a little after
        # still finds the visit lingering.
        state.open = latest
    else:
        state.last_change = latest.checked_out_at
    return state


def _apply(session: Session, state: _State, entry: Tap, rules: Rules) -> None:
    at = entry.occurred_at
    if state.open is not None and state.open.closes_at <= at:
        _close(state.open, state.open.closes_at, VisitEnd.AUTO, None)
        state.open, state.lingering = None, state.open
    current = state.open
    if current is None and state.lingering is not None:
        # A member who stayed after closing and taps out on the way: their visit ends
        # at the tap (only at its site, and only until `leaving_until`).
        lingering = state.lingering
        if lingering.site_id == entry.site_id and at < _leaving_until(session, lingering, rules):
            current = lingering

    here = current is not None and current.site_id == entry.site_id
    if entry.kind is TapKind.BADGE:
        if state.last_change is not None and at - state.last_change < rules.debounce:
            return
        mode = entry.mode or KioskMode.TOGGLE
        action = {
            KioskMode.TOGGLE: "out" if here else "in",
            # An in-only kiosk never checks out: after closing, the automatic end stands.
            KioskMode.IN: None if here and current is state.open else "in",
            KioskMode.OUT: "out" if here else None,
        }[mode]
        ends_by = VisitEnd.TAP
    elif entry.kind is TapKind.STAFF_IN:
        action, ends_by = (None if here and current is state.open else "in"), VisitEnd.STAFF
    else:  # staff_out, auto_out: close the visit at that site, if any
        action = "out" if here else None
        ends_by = VisitEnd.AUTO if entry.kind is TapKind.AUTO_OUT else VisitEnd.STAFF

    if action is not None:
        state.effects[entry.id] = action
    if action == "in":
        if state.open is not None:  # a check-in elsewhere ends the visit at the other site
            _close(state.open, at, ends_by, entry.id)
        assert entry.site_id is not None
        hours = _hours(session, entry.site_id)
        visit = Visit(
            member_id=entry.member_id,
            site_id=entry.site_id,
            checked_in_at=at,
            closes_at=hours.closing_after(at).astimezone(UTC) + rules.grace,
            in_tap_id=entry.id,
            local_day=hours.local_date(at),
        )
        session.add(visit)
        state.open, state.lingering, state.last_change = visit, None, at
    elif action == "out":
        assert current is not None
        _close(current, at, ends_by, entry.id)
        state.open, state.lingering, state.last_change = None, None, at


def _leaving_until(session: Session, visit: Visit, rules: Rules) -> datetime:
    """Until when a tap asking to leave ends `visit`, which closing time ended."""
    hours = _hours(session, visit.site_id)
    return hours.leaving_until(visit.checked_in_at, rules.grace).astimezone(UTC)


def _close(visit: Visit, at: datetime, ended_by: VisitEnd, tap_id: int | None) -> None:
    visit.end(at, ended_by, tap_id)


def _hours(session: Session, site_id: int) -> OpeningHours:
    """A site's opening hours, read once per session (a batch of taps at one site)."""
    cache: dict[int, OpeningHours] = session.info.setdefault("opening_hours", {})
    if site_id not in cache:
        site = session.get(Site, site_id)
        assert site is not None
        cache[site_id] = opening_hours(site)
        _hold(session, [site])
    return cache[site_id]


def _hold(session: Session, rows: Sequence[Member | Site]) -> None:
    """Keep rows in the session until it ends: its identity map holds them only weakly,
    and the board and webhook trackers read them again before the commit."""
    session.info.setdefault("presence.held", []).extend(rows)


# -- reading presence -------------------------------------------------------------------


def present_visits(session: Session, site_id: int, now: datetime) -> Sequence[Visit]:
    """The visits under way at a site now, earliest arrival first, with their members
    (loaded in the same query: every board connecting reads them all)."""
    return session.scalars(
        select(Visit)
        .where(Visit.site_id == site_id, Visit.checked_out_at.is_(None), Visit.closes_at > now)
        .options(joinedload(Visit.member))
        .order_by(Visit.checked_in_at)
    ).all()


_HEAD_COUNT = (
    select(func.count())
    .select_from(Visit)
    .where(
        Visit.site_id == bindparam("site"),
        Visit.checked_out_at.is_(None),
        Visit.closes_at > bindparam("now", type_=UTCDateTime),
    )
)


def head_count(session: Session, site_id: int, now: datetime) -> int:
    return int(session.scalar(_HEAD_COUNT, {"site": site_id, "now": now}) or 0)


class OpenState(enum.Enum):
    """Whether a site is open, as the board's header and SpaceAPI both say it."""

    #: Within the opening hours.
    OPEN = "open"
    #: Outside them, with people still in (an evening that goes on, staff working late).
    AFTER_HOURS = "after_hours"
    #: Outside them, and nobody in.
    CLOSED = "closed"

    @property
    def is_open(self) -> bool:
        """SpaceAPI's `state.open`: someone at the door would find people inside."""
        return self is not OpenState.CLOSED


def open_state(hours: OpeningHours, now: datetime, head_count: int) -> OpenState:
    """The one answer to "is it open?": the board and SpaceAPI both ask it here, so that
    one never says closed while the other says open."""
    if hours.is_open(now):
        return OpenState.OPEN
    return OpenState.AFTER_HOURS if head_count > 0 else OpenState.CLOSED


_CAME_SINCE = (
    select(Visit.id)
    .where(
        Visit.site_id == bindparam("site"),
        Visit.checked_in_at >= bindparam("since", type_=UTCDateTime),
        Visit.checked_in_at <= bindparam("now", type_=UTCDateTime),
    )
    .limit(1)
)


def anyone_came_since(session: Session, site_id: int, since: datetime, now: datetime) -> bool:
    """Whether anyone (named or not) checked in at the site between `since` and `now`."""
    found = session.scalar(_CAME_SINCE, {"site": site_id, "since": since, "now": now})
    return found is not None


def close_expired_visits(session: Session, now: datetime) -> int:
    """End, at their site's closing time, the visits nobody tapped out of.

    Changed one by one (few at a time) rather than in one UPDATE, so that the boards
    hear of each; on PostgreSQL, rows another sweep holds are left to it.
    """
    overdue = session.scalars(
        select(Visit)
        .where(Visit.checked_out_at.is_(None), Visit.closes_at <= now)
        .with_for_update(skip_locked=True)
    ).all()
    for visit in overdue:
        visit.end(visit.closes_at, VisitEnd.AUTO)
    session.flush()
    return len(overdue)
