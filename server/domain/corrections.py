"""Fixing a member's day after the fact: a wrong check-out, a forgotten badge, a time
that was off.

The tap log is append-only: a correction never edits a stored entry, it adds entries,
each with who made it and why, and replays the member's visits from before the earliest
moment it touches (`presence.rebuild_visits`):

    what staff ask                 what the log gets
    ─────────────────────────────  ──────────────────────────────────────────────────────
    remove a wrong tap             a `void` entry withdrawing it (`cancels_id`): the tap
                                   stays as it was, and no longer takes part
    add a forgotten tap            a staff check-in or check-out at that past time
    move a visit's start           the entry that opened it withdrawn, a staff check-in
                                   at the new time
    move a visit's end             the entry that ended it withdrawn (unless it also
                                   opened the next visit, at another site), a staff
                                   check-out at the new time

Each is one transaction: the entries, the replay and the audit entry together.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.domain import presence
from server.domain.presence import Rules
from server.domain.refusals import N_, Refusal
from server.store.models import (
    ClockStatus,
    Member,
    Outcome,
    Site,
    Tap,
    TapKind,
    Visit,
)


class CorrectionError(Refusal):
    """A correction of a member's day that cannot be made as asked."""

    MESSAGES = {
        "no_reason": N_("Dites pourquoi : la raison reste dans le journal."),
        "future": N_("Cette heure n'est pas encore passée."),
        "not_found": N_("Ce passage n'est pas dans le journal de ce membre."),
        "not_removable": N_(
            "Ce passage ne compte pas dans les présences (badge refusé, invité, billet) : "
            "il n'y a rien à retirer."
        ),
        "already_removed": N_("Ce passage a déjà été retiré."),
        "start_after_end": N_("L'arrivée doit venir avant la sortie (%(end)s)."),
        "end_before_start": N_("La sortie doit venir après l'arrivée (%(start)s)."),
        "ended_by_next": N_(
            "Cette visite s'est terminée par une arrivée ailleurs : une sortie ne peut que "
            "l'avancer."
        ),
        "unchanged": N_("C'est déjà l'heure enregistrée."),
        "not_applied": N_(
            "Cette correction ne change pas la visite (l'heure tombe hors de la visite, "
            "ou après sa fin automatique et la nuit) : rien n'a été enregistré."
        ),
    }


@dataclass(frozen=True)
class Correction:
    """What a correction changed, for the audit trail and the flash message."""

    action: str  # "tap.remove", "visit.start", "visit.end", "visit.check-in", ...
    site: Site
    before: datetime | None
    after: datetime | None


def _reason(reason: str) -> str:
    reason = " ".join(reason.split())
    if not reason:
        raise CorrectionError("no_reason")
    return reason


def withdraw(
    session: Session, member: Member, tap: Tap, actor: str, reason: str, now: datetime
) -> Tap:
    """Withdraw one of the member's entries (already locked): a `void` entry naming it;
    the caller replays."""
    if tap.member_id != member.id:
        raise CorrectionError("not_found")
    if tap.kind is TapKind.VOID or tap.outcome in presence.REFUSED:
        raise CorrectionError("not_removable")
    if session.scalar(select(Tap.id).where(Tap.cancels_id == tap.id)) is not None:
        raise CorrectionError("already_removed")
    withdrawal = Tap(
        tap_id=uuid.uuid4(),
        kind=TapKind.VOID,
        site_id=tap.site_id,
        member_id=member.id,
        actor=actor,
        reason=reason,
        occurred_at=now,
        clock=ClockStatus.SERVER,
        received_at=now,
        outcome=Outcome.DUPLICATE,
        cancels_id=tap.id,
    )
    session.add(withdrawal)
    session.flush()
    return withdrawal


def remove_tap(
    session: Session,
    member_id: int,
    tap_id: int,
    actor: str,
    reason: str,
    now: datetime,
    rules: Rules,
) -> Correction:
    """Take a wrong entry out of the member's presence (a check-out by mistake, a
    colleague's badge): the visits are replayed as if it had never been."""
    reason = _reason(reason)
    member = presence.lock_member(session, member_id)
    tap = session.get(Tap, tap_id)
    if tap is None:
        raise CorrectionError("not_found")
    withdraw(session, member, tap, actor, reason, now)
    presence.rebuild_visits(session, member.id, tap, rules)
    site = session.get(Site, tap.site_id)
    assert site is not None
    return Correction("tap.remove", site, tap.occurred_at, None)


def add_entry(
    session: Session,
    member_id: int,
    site: Site,
    kind: TapKind,
    at: datetime,
    actor: str,
    reason: str,
    now: datetime,
    rules: Rules,
) -> Correction:
    """A forgotten check-in or check-out at a past time."""
    reason = _reason(reason)
    if at > now:
        raise CorrectionError("future")
    member = presence.lock_member(session, member_id)
    _entry_that_changes(session, member, site, kind, at, actor, reason, now, rules)
    action = "visit.check-in" if kind is TapKind.STAFF_IN else "visit.check-out"
    return Correction(action, site, None, at.astimezone(UTC))


def move_start(
    session: Session,
    visit_id: int,
    at: datetime,
    actor: str,
    reason: str,
    now: datetime,
    rules: Rules,
) -> Correction:
    """Put a visit's arrival at another time: its opening entry withdrawn, a staff
    check-in at `at`."""
    reason = _reason(reason)
    visit = _visit(session, visit_id)
    member = presence.lock_member(session, visit.member_id)
    site, before, end = visit.site, visit.checked_in_at, visit.checked_out_at
    if at > now:
        raise CorrectionError("future")
    if at == before:
        raise CorrectionError("unchanged")
    if end is not None and at >= end:
        raise CorrectionError("start_after_end", end=_hhmm(end, site))
    opening = visit.in_tap
    withdraw(session, member, opening, actor, reason, now)
    presence.rebuild_visits(session, member.id, opening, rules)
    _entry_that_changes(session, member, site, TapKind.STAFF_IN, at, actor, reason, now, rules)
    return Correction("visit.start", site, before, at.astimezone(UTC))


def move_end(
    session: Session,
    visit_id: int,
    at: datetime,
    actor: str,
    reason: str,
    now: datetime,
    rules: Rules,
) -> Correction:
    """Put a visit's departure at another time: the entry that ended it withdrawn
    (unless it opened the next visit), a staff check-out at `at`."""
    reason = _reason(reason)
    visit = _visit(session, visit_id)
    member = presence.lock_member(session, visit.member_id)
    site, start, before = visit.site, visit.checked_in_at, visit.checked_out_at
    if before is None and visit.closes_at <= now:  # ended by closing time, not yet swept
        before = visit.closes_at
    if at > now:
        raise CorrectionError("future")
    if at <= start:
        raise CorrectionError("end_before_start", start=_hhmm(start, site))
    if at == before:
        raise CorrectionError("unchanged")
    closing = session.get(Tap, visit.out_tap_id) if visit.out_tap_id is not None else None
    opens_next = closing is not None and (
        session.scalar(select(Visit.id).where(Visit.in_tap_id == closing.id)) is not None
    )
    if opens_next and before is not None and at > before:
        raise CorrectionError("ended_by_next")
    if closing is not None and not opens_next:
        withdraw(session, member, closing, actor, reason, now)
        presence.rebuild_visits(session, member.id, closing, rules)
    _entry_that_changes(session, member, site, TapKind.STAFF_OUT, at, actor, reason, now, rules)
    return Correction("visit.end", site, before, at.astimezone(UTC))


def _entry_that_changes(
    session: Session,
    member: Member,
    site: Site,
    kind: TapKind,
    at: datetime,
    actor: str,
    reason: str,
    now: datetime,
    rules: Rules,
) -> None:
    """Record a staff entry that must change the member's visits. One that changes
    nothing (already in then; a check-out after the automatic end and the night, with no
    visit to end) is refused, and the caller's transaction rolls back all of the
    correction."""
    result = presence.record_staff_entry(session, member, site, kind, at, actor, reason, now, rules)
    if result.outcome is Outcome.DUPLICATE:
        raise CorrectionError("not_applied")


def _visit(session: Session, visit_id: int) -> Visit:
    visit = session.get(Visit, visit_id)
    if visit is None:
        raise CorrectionError("not_found")
    return visit


def _hhmm(moment: datetime, site: Site) -> str:
    return moment.astimezone(presence.opening_hours(site).zone).strftime("%H:%M")


# -- a member's days, as the staff page shows them ---------------------------------------


@dataclass
class Day:
    """One local day of a member's presence: its visits, and every entry of the log."""

    day: date
    visits: list[Visit] = field(default_factory=list)
    entries: list[Tap] = field(default_factory=list)
    #: The withdrawal of each withdrawn entry, by the withdrawn entry's id.
    withdrawn: dict[int, Tap] = field(default_factory=dict)


def timeline(
    session: Session, member_id: int, before: date | None, days: int = 14
) -> tuple[list[Day], date | None]:
    """The member's latest `days` days with a visit or an entry, before `before` (or up to
    now), newest first; and the day to ask for the page before, if any.

    An entry's day is its local date at its site (an entry with no site, at the member's
    first site's): what the staff read on the kiosk's screen.
    """
    zones = {site.id: presence.opening_hours(site).zone for site in session.scalars(select(Site))}
    fallback = next(iter(zones.values()), None)
    limit = None if before is None else datetime.combine(before + timedelta(days=1), time(0), UTC)
    # Enough entries to fill the page; a member taps a few times a day.
    query = select(Tap).where(Tap.member_id == member_id, Tap.cancels_id.is_(None))
    if limit is not None:
        query = query.where(Tap.occurred_at < limit)
    entries = list(session.scalars(query.order_by(Tap.occurred_at.desc()).limit(days * 40)))
    visit_days = select(Visit.local_day).where(Visit.member_id == member_id).distinct()
    if before is not None:
        visit_days = visit_days.where(Visit.local_day < before)
    wanted = {
        *session.scalars(visit_days.order_by(Visit.local_day.desc()).limit(days + 1)),
        *(_local_day(entry, zones, fallback) for entry in entries),
    }
    if before is not None:
        wanted = {one for one in wanted if one < before}
    ordered = sorted(wanted, reverse=True)
    shown, more = ordered[:days], ordered[days:]
    found = {one: Day(one) for one in shown}
    if not found:
        return [], None
    for visit in session.scalars(
        select(Visit)
        .where(Visit.member_id == member_id, Visit.local_day.in_(list(found)))
        .order_by(Visit.checked_in_at)
    ):
        found[visit.local_day].visits.append(visit)
    for entry in reversed(entries):
        local = _local_day(entry, zones, fallback)
        if local in found:
            found[local].entries.append(entry)
    day_of_entry = {entry.id: one for one in found.values() for entry in one.entries}
    if day_of_entry:
        withdrawals = select(Tap).where(Tap.cancels_id.in_(list(day_of_entry)))
        for withdrawal in session.scalars(withdrawals):
            withdrawn = withdrawal.cancels_id
            assert withdrawn is not None
            day_of_entry[withdrawn].withdrawn[withdrawn] = withdrawal
    return [found[one] for one in shown], (shown[-1] if more else None)


def _local_day(entry: Tap, zones: dict[int, ZoneInfo], fallback: ZoneInfo | None) -> date:
    zone = zones.get(entry.site_id or 0, fallback) or UTC
    return entry.occurred_at.astimezone(zone).date()
