"""The presence rules, one test per rule, calling the service functions directly.

The factory site is open mon-fri 09:00-19:00 in Paris; `at(hour, minute, day=...)` gives
Paris times in November 2026 (the 24th is a Tuesday, the 28th a Saturday).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.domain.checkin import record_tap
from server.domain.presence import (
    IncomingTap,
    Rules,
    TapContext,
    TapResult,
    close_expired_visits,
    head_count,
    present_visits,
    rebuild_visits,
    record_staff_entry,
)
from server.store.models import (
    Badge,
    BadgeKind,
    Kiosk,
    KioskMode,
    Member,
    OpeningException,
    Outcome,
    Site,
    Tap,
    TapKind,
    Visit,
    VisitEnd,
)
from tests.conftest import at
from tests.factories import make_badge, make_kiosk, make_member, make_site

PARIS = ZoneInfo("Europe/Paris")
RULES = Rules()


@dataclass
class Place:
    site: Site
    door: Kiosk  # a toggle kiosk


@dataclass
class World:
    here: Place
    there: Place
    alice: Member
    badge: Badge


@pytest.fixture
def world(session: Session) -> World:
    here, there = make_site(session, name="Ici"), make_site(session, name="Là-bas")
    alice = make_member(session, given_name="Alice")
    badge = make_badge(session, alice)
    return World(
        Place(here, make_kiosk(session, here)[0]),
        Place(there, make_kiosk(session, there)[0]),
        alice,
        badge,
    )


def tap(
    session: Session,
    kiosk: Kiosk,
    badge: Badge,
    when: datetime,
    *,
    received_at: datetime | None = None,
    tap_id: uuid.UUID | None = None,
    rules: Rules = RULES,
) -> TapResult:
    """A badge read at `when`, received then (or later, from an offline kiosk)."""
    incoming = IncomingTap(tap_id or uuid.uuid4(), badge.value, BadgeKind.NFC, when)
    return record_tap(session, incoming, TapContext(kiosk, None, received_at or when, rules))


def staff(
    session: Session,
    member: Member,
    site: Site,
    kind: TapKind,
    when: datetime,
    *,
    received_at: datetime | None = None,
    rules: Rules = RULES,
) -> TapResult:
    return record_staff_entry(
        session, member, site, kind, when, "staff@example.org", "fix", received_at or when, rules
    )


def visits(session: Session, member: Member | None = None) -> list[Visit]:
    session.expire_all()  # close_expired_visits writes behind the session's back
    query = select(Visit).order_by(Visit.checked_in_at, Visit.id)
    if member is not None:
        query = query.where(Visit.member_id == member.id)
    return list(session.scalars(query))


def spans(session: Session, member: Member | None = None) -> list[tuple[Any, ...]]:
    """Each visit as (site id, in, out, ended by)."""
    return [
        (v.site_id, v.checked_in_at, v.checked_out_at, v.ended_by) for v in visits(session, member)
    ]


def tap_row(session: Session, result: TapResult) -> Tap:
    found = session.scalar(select(Tap).where(Tap.tap_id == uuid.UUID(result.tap_id)))
    assert found is not None
    return found


def add_exception(session: Session, site: Site, day: date, hours: list[list[str]]) -> None:
    site.exceptions.append(OpeningException(day=day, hours=hours))
    session.flush()


# -- toggling -------------------------------------------------------------------------


def test_taps_at_a_toggle_kiosk_check_in_and_out_in_turn(session, world: World) -> None:
    door, site = world.here.door, world.here.site

    first = tap(session, door, world.badge, at(10))
    second = tap(session, door, world.badge, at(12))
    third = tap(session, door, world.badge, at(14))

    assert (first.outcome, first.name, first.head_count) == (Outcome.CHECKED_IN, "Alice", 1)
    assert (second.outcome, second.head_count) == (Outcome.CHECKED_OUT, 0)
    assert (third.outcome, third.head_count) == (Outcome.CHECKED_IN, 1)
    assert spans(session) == [
        (site.id, at(10), at(12), VisitEnd.TAP),
        (site.id, at(14), None, None),
    ]
    [first_visit, _] = visits(session)
    assert first_visit.in_tap_id == tap_row(session, first).id
    assert first_visit.out_tap_id == tap_row(session, second).id


def test_tap_within_debounce_is_a_duplicate_and_after_it_checks_out(session, world) -> None:
    door = world.here.door

    tap(session, door, world.badge, at(10))
    bounce = tap(session, door, world.badge, at(10, 0, 30))
    leave = tap(session, door, world.badge, at(10, 1, 1))

    assert bounce.outcome is Outcome.DUPLICATE and bounce.head_count == 1
    assert leave.outcome is Outcome.CHECKED_OUT
    assert spans(session) == [(world.here.site.id, at(10), at(10, 1, 1), VisitEnd.TAP)]


def test_debounce_counts_from_the_last_change_not_from_a_duplicate(session, world) -> None:
    door = world.here.door

    tap(session, door, world.badge, at(10))
    bounce = tap(session, door, world.badge, at(10, 0, 50))
    # 30 s after the duplicate but 80 s after the check-in: a real check-out.
    leave = tap(session, door, world.badge, at(10, 1, 20))
    # 20 s after the check-out: a bounce again, not a new check-in.
    bounce_out = tap(session, door, world.badge, at(10, 1, 40))

    assert [bounce.outcome, leave.outcome, bounce_out.outcome] == [
        Outcome.DUPLICATE,
        Outcome.CHECKED_OUT,
        Outcome.DUPLICATE,
    ]
    assert spans(session) == [(world.here.site.id, at(10), at(10, 1, 20), VisitEnd.TAP)]


def test_debounce_window_is_a_setting(session, world) -> None:
    slow = Rules(debounce=timedelta(minutes=5))
    door = world.here.door

    tap(session, door, world.badge, at(10), rules=slow)
    early = tap(session, door, world.badge, at(10, 4, 59), rules=slow)
    later = tap(session, door, world.badge, at(10, 5), rules=slow)

    assert (early.outcome, later.outcome) == (Outcome.DUPLICATE, Outcome.CHECKED_OUT)


# -- replays --------------------------------------------------------------------------


def test_replayed_tap_id_returns_the_first_answer_and_changes_nothing(session, world) -> None:
    door, tap_id = world.here.door, uuid.uuid4()
    first = tap(session, door, world.badge, at(10), tap_id=tap_id)

    # Resent an hour later, even with another time (a kiosk that lost our answer).
    again = tap(session, door, world.badge, at(11), received_at=at(11), tap_id=tap_id)

    assert again.replayed and not first.replayed
    assert again.as_dict() == first.as_dict()
    assert again.outcome is Outcome.CHECKED_IN
    assert session.scalars(select(Tap)).all() == [tap_row(session, first)]
    assert spans(session) == [(world.here.site.id, at(10), None, None)]


# -- kiosk modes ----------------------------------------------------------------------


def test_in_and_out_kiosks_force_the_direction(session, world) -> None:
    site = world.here.site
    entrance, _ = make_kiosk(session, site, mode=KioskMode.IN)
    exit_, _ = make_kiosk(session, site, mode=KioskMode.OUT)

    outcomes = [
        tap(session, exit_, world.badge, at(9)).outcome,  # not in: nothing to close
        tap(session, entrance, world.badge, at(10)).outcome,
        tap(session, entrance, world.badge, at(11)).outcome,  # already in
        tap(session, exit_, world.badge, at(12)).outcome,
        tap(session, exit_, world.badge, at(13)).outcome,  # already out
        tap(session, entrance, world.badge, at(14)).outcome,
    ]

    assert outcomes == [
        Outcome.DUPLICATE,
        Outcome.CHECKED_IN,
        Outcome.DUPLICATE,
        Outcome.CHECKED_OUT,
        Outcome.DUPLICATE,
        Outcome.CHECKED_IN,
    ]
    assert spans(session) == [
        (site.id, at(10), at(12), VisitEnd.TAP),
        (site.id, at(14), None, None),
    ]


def test_kiosk_mode_is_the_one_stored_on_the_tap(session, world) -> None:
    """Turning an `in` kiosk into a toggle later does not rewrite past visits."""
    entrance, _ = make_kiosk(session, world.here.site, mode=KioskMode.IN)
    tap(session, entrance, world.badge, at(10))
    again = tap(session, entrance, world.badge, at(11))

    entrance.mode = KioskMode.TOGGLE
    session.flush()
    rebuild_visits(session, world.alice.id, since=None, rules=RULES)

    assert again.outcome is Outcome.DUPLICATE
    assert tap_row(session, again).mode is KioskMode.IN
    assert spans(session) == [(world.here.site.id, at(10), None, None)]


# -- several sites --------------------------------------------------------------------


def test_check_in_at_another_site_closes_the_first_visit_at_that_moment(session, world) -> None:
    here, there = world.here, world.there

    tap(session, here.door, world.badge, at(10))
    moved = tap(session, there.door, world.badge, at(11))

    assert moved.outcome is Outcome.CHECKED_IN
    assert spans(session) == [
        (here.site.id, at(10), at(11), VisitEnd.TAP),
        (there.site.id, at(11), None, None),
    ]
    first, second = visits(session)
    assert first.out_tap_id == second.in_tap_id == tap_row(session, moved).id
    assert head_count(session, here.site.id, at(12)) == 0
    assert head_count(session, there.site.id, at(12)) == 1


# -- closing time ---------------------------------------------------------------------


def auto_row(visit: Visit) -> tuple[Any, ...]:
    return (
        visit.site_id,
        visit.checked_in_at,
        visit.checked_out_at,
        visit.closes_at,
        visit.ended_by,
        visit.out_tap_id,
    )


def test_visit_nobody_closed_ends_at_closing_plus_grace_by_a_later_tap_or_by_the_job(
    session, world
) -> None:
    rules = Rules(grace=timedelta(minutes=45))
    door = world.here.door
    bob = make_member(session, given_name="Bob")
    bobs_badge = make_badge(session, bob)

    tap(session, door, world.badge, at(10), rules=rules)
    tap(session, door, bobs_badge, at(10), rules=rules)
    # Alice comes back the next morning: her tap is a check-in, yesterday ended by itself.
    next_day = tap(session, door, world.badge, at(10, day=25), rules=rules)
    # Nobody taps for Bob: the job ends his visit. Not a second before closing + grace.
    not_yet = close_expired_visits(session, at(19, 44, 59))
    closed = close_expired_visits(session, at(10, day=25))

    assert next_day.outcome is Outcome.CHECKED_IN
    assert (not_yet, closed) == (0, 1)
    [alices, _] = visits(session, world.alice)
    [bobs] = visits(session, bob)
    expected = (world.here.site.id, at(10), at(19, 45), at(19, 45), VisitEnd.AUTO, None)
    assert auto_row(alices) == auto_row(bobs) == expected


def test_job_and_late_tap_agree_whichever_comes_first(session, world) -> None:
    """The job ended the visit at closing; a late tap from before closing still wins."""
    door = world.here.door
    tap(session, door, world.badge, at(10))
    close_expired_visits(session, at(8, day=25))

    late = tap(session, door, world.badge, at(17), received_at=at(9, day=25))

    assert late.outcome is Outcome.CHECKED_OUT
    assert spans(session) == [(world.here.site.id, at(10), at(17), VisitEnd.TAP)]


def test_arrival_before_opening_ends_at_that_days_closing(session, world) -> None:
    tap(session, world.here.door, world.badge, at(7, 30))

    [visit] = visits(session)

    assert visit.closes_at == at(19, 30)  # 19:00 + the default 30 min grace


def test_arrival_after_closing_ends_at_local_midnight_plus_grace(session, world) -> None:
    door = world.here.door
    tap(session, door, world.badge, at(20))
    saturday = tap(session, door, world.badge, at(15, day=28))  # closed all day

    evening, weekend = visits(session)

    assert saturday.outcome is Outcome.CHECKED_IN  # the evening visit had ended by itself
    assert evening.closes_at == at(0, 30, day=25)
    assert (evening.checked_out_at, evening.ended_by) == (at(0, 30, day=25), VisitEnd.AUTO)
    assert weekend.closes_at == at(0, 30, day=29)


def test_exception_date_closes_the_site_for_the_day(session, world) -> None:
    add_exception(session, world.here.site, date(2026, 11, 25), [])

    tap(session, world.here.door, world.badge, at(10, day=25))

    [visit] = visits(session)
    assert visit.closes_at == at(0, 30, day=26)  # a closed day: local midnight + grace


def test_evening_event_keeps_a_visit_open_past_midnight(session, world) -> None:
    """Thursday 26 has an event until 01:00: a visit crosses midnight and ends by a tap."""
    site, door = world.here.site, world.here.door
    add_exception(session, site, date(2026, 11, 26), [["09:00", "01:00"]])

    tap(session, door, world.badge, at(22, day=26))
    assert head_count(session, site.id, at(1, 29, day=27)) == 1
    leave = tap(session, door, world.badge, at(0, 40, day=27))

    [visit] = visits(session)
    assert visit.closes_at == at(1, 30, day=27)
    assert leave.outcome is Outcome.CHECKED_OUT
    assert (visit.checked_out_at, visit.ended_by) == (at(0, 40, day=27), VisitEnd.TAP)


def test_late_tap_after_midnight_rebuilds_the_visit_begun_the_evening_before(
    session, world
) -> None:
    """A 00:40 tap uploaded the next morning closes the 22:00 visit, then 10:00 still opens."""
    site, door = world.here.site, world.here.door
    add_exception(session, site, date(2026, 11, 26), [["09:00", "01:00"]])
    tap(session, door, world.badge, at(22, day=26))
    morning = tap(session, door, world.badge, at(10, day=27))
    assert spans(session) == [
        (site.id, at(22, day=26), at(1, 30, day=27), VisitEnd.AUTO),
        (site.id, at(10, day=27), None, None),
    ]

    late = tap(session, door, world.badge, at(0, 40, day=27), received_at=at(10, 5, day=27))

    assert (morning.outcome, late.outcome) == (Outcome.CHECKED_IN, Outcome.CHECKED_OUT)
    assert spans(session) == [
        (site.id, at(22, day=26), at(0, 40, day=27), VisitEnd.TAP),
        (site.id, at(10, day=27), None, None),
    ]


# -- leaving after closing --------------------------------------------------------------


def test_tap_after_closing_ends_the_visit_at_the_tap_until_the_night_is_over(
    session, world
) -> None:
    """Someone who works 09:30-19:45 and taps out on leaving is said goodbye and billed
    what they stayed; after 00:30 the same tap is tomorrow's arrival."""
    door, site = world.here.door, world.here.site
    bob = make_member(session, given_name="Bob")
    bobs_badge = make_badge(session, bob)
    tap(session, door, world.badge, at(9, 30))
    tap(session, door, bobs_badge, at(9, 30))
    assert head_count(session, site.id, at(19, 40)) == 0  # ended at 19:30 meanwhile

    leaving = tap(session, door, world.badge, at(19, 45))
    past_midnight = tap(session, door, bobs_badge, at(0, 35, day=25))

    assert (leaving.outcome, leaving.head_count) == (Outcome.CHECKED_OUT, 0)
    assert spans(session, world.alice) == [(site.id, at(9, 30), at(19, 45), VisitEnd.TAP)]
    assert visits(session, world.alice)[0].minutes == 10 * 60 + 15
    assert past_midnight.outcome is Outcome.CHECKED_IN
    assert spans(session, bob) == [
        (site.id, at(9, 30), at(19, 30), VisitEnd.AUTO),
        (site.id, at(0, 35, day=25), None, None),
    ]


def test_leaving_after_the_closing_job_ran_gives_the_same_visit(session, world) -> None:
    door, site = world.here.door, world.here.site
    tap(session, door, world.badge, at(9, 30))
    assert close_expired_visits(session, at(19, 31)) == 1

    leaving = tap(session, door, world.badge, at(19, 45))
    uploaded_late = tap(session, door, world.badge, at(0, 20, day=25), received_at=at(9, day=25))

    assert (leaving.outcome, uploaded_late.outcome) == (Outcome.CHECKED_OUT, Outcome.CHECKED_IN)
    assert spans(session) == [
        (site.id, at(9, 30), at(19, 45), VisitEnd.TAP),
        (site.id, at(0, 20, day=25), None, None),
    ]


def test_after_closing_an_in_kiosk_opens_a_visit_and_an_out_kiosk_ends_one(session, world) -> None:
    site = world.here.site
    entrance, _ = make_kiosk(session, site, mode=KioskMode.IN)
    exit_, _ = make_kiosk(session, site, mode=KioskMode.OUT)
    bob = make_member(session, given_name="Bob")
    bobs_badge = make_badge(session, bob)
    tap(session, entrance, world.badge, at(9))
    tap(session, entrance, bobs_badge, at(9))

    arriving = tap(session, entrance, world.badge, at(19, 45))
    leaving = tap(session, exit_, bobs_badge, at(19, 45))
    too_late = tap(session, exit_, world.badge, at(0, 40, day=25))

    assert (arriving.outcome, leaving.outcome) == (Outcome.CHECKED_IN, Outcome.CHECKED_OUT)
    assert spans(session, world.alice) == [
        (site.id, at(9), at(19, 30), VisitEnd.AUTO),
        (site.id, at(19, 45), at(0, 30, day=25), VisitEnd.AUTO),
    ]
    assert too_late.outcome is Outcome.DUPLICATE
    assert spans(session, bob) == [(site.id, at(9), at(19, 45), VisitEnd.TAP)]


def test_leaving_after_closing_is_debounced_from_the_last_tap(session, world) -> None:
    """The debounce counts from the tap that last changed the member's state, not from
    closing time: a second tap a few seconds after leaving is not an arrival."""
    door, site = world.here.door, world.here.site
    tap(session, door, world.badge, at(9, 30))
    tap(session, door, world.badge, at(19, 45))

    again = tap(session, door, world.badge, at(19, 45, 20))

    assert again.outcome is Outcome.DUPLICATE
    assert spans(session) == [(site.id, at(9, 30), at(19, 45), VisitEnd.TAP)]


def test_staff_checking_out_after_closing_ends_the_visit_then(session, world) -> None:
    door, site = world.here.door, world.here.site
    tap(session, door, world.badge, at(9, 30))

    out = staff(
        session, world.alice, site, TapKind.STAFF_OUT, at(20, 15), received_at=at(9, day=25)
    )

    assert out.outcome is Outcome.CHECKED_OUT
    assert spans(session) == [(site.id, at(9, 30), at(20, 15), VisitEnd.STAFF)]


def test_leaving_after_closing_counts_only_at_the_visits_site(session, world) -> None:
    tap(session, world.here.door, world.badge, at(9, 30))

    elsewhere = tap(session, world.there.door, world.badge, at(19, 45))

    assert elsewhere.outcome is Outcome.CHECKED_IN
    assert spans(session) == [
        (world.here.site.id, at(9, 30), at(19, 30), VisitEnd.AUTO),
        (world.there.site.id, at(19, 45), None, None),
    ]


def test_back_from_a_lunch_closure_is_an_arrival(session, world) -> None:
    """Open 08-12 and 14-19: a tap during the closure ends the morning; from the
    afternoon's opening on, a tap is an arrival (not a check-out billing lunch)."""
    site, door = world.here.site, world.here.door
    add_exception(session, site, date(2026, 11, 24), [["08:00", "12:00"], ["14:00", "19:00"]])
    add_exception(session, site, date(2026, 11, 25), [["08:00", "12:00"], ["14:00", "19:00"]])
    tap(session, door, world.badge, at(10))
    tap(session, door, world.badge, at(10, day=25))

    leaving = tap(session, door, world.badge, at(12, 45))
    back = tap(session, door, world.badge, at(14, 5, day=25))

    assert (leaving.outcome, back.outcome) == (Outcome.CHECKED_OUT, Outcome.CHECKED_IN)
    assert spans(session) == [
        (site.id, at(10), at(12, 45), VisitEnd.TAP),
        (site.id, at(10, day=25), at(12, 30, day=25), VisitEnd.AUTO),
        (site.id, at(14, 5, day=25), None, None),
    ]


def test_a_visit_begun_after_midnight_is_not_ended_by_the_next_mornings_tap(session, world) -> None:
    """An event until 01:00: a visit begun at 00:10 ends at 01:30 by itself, and the
    member's tap at 08:50, arriving early, opens the day's visit."""
    site, door = world.here.site, world.here.door
    add_exception(session, site, date(2026, 11, 26), [["09:00", "01:00"]])
    tap(session, door, world.badge, at(0, 10, day=27))

    morning = tap(session, door, world.badge, at(8, 50, day=27))

    assert morning.outcome is Outcome.CHECKED_IN
    assert spans(session) == [
        (site.id, at(0, 10, day=27), at(1, 30, day=27), VisitEnd.AUTO),
        (site.id, at(8, 50, day=27), None, None),
    ]


def test_late_check_in_lands_before_a_departure_already_recorded(session, world) -> None:
    door, site = world.here.door, world.here.site
    tap(session, door, world.badge, at(12))  # read as a check-in when it arrived

    late = tap(session, door, world.badge, at(9), received_at=at(12, 5))

    assert late.outcome is Outcome.CHECKED_IN
    assert spans(session) == [(site.id, at(9), at(12), VisitEnd.TAP)]


def test_closing_time_plus_grace_counts_real_minutes_across_a_clock_change(session, world) -> None:
    """Saturday 28 March 2026: an event until 01:30, the night the clocks go forward."""
    site, door = world.here.site, world.here.door
    add_exception(session, site, date(2026, 3, 28), [["20:00", "01:30"]])
    rules = Rules(grace=timedelta(minutes=90))
    evening = datetime(2026, 3, 28, 21, 0, tzinfo=PARIS)

    tap(session, door, world.badge, evening, rules=rules)

    [visit] = visits(session)
    # 01:30 CET is 00:30 UTC; 90 minutes later is 02:00 UTC (04:00 CEST), not 03:00 CEST.
    assert visit.closes_at == datetime(2026, 3, 29, 2, 0, tzinfo=UTC)


# -- reading presence -----------------------------------------------------------------


def test_head_count_and_present_visits_ignore_visits_past_their_closing(session, world) -> None:
    site, door = world.here.site, world.here.door
    bob = make_member(session, given_name="Bob")
    bobs_badge = make_badge(session, bob)
    tap(session, door, bobs_badge, at(11))
    tap(session, door, world.badge, at(10))

    # Nobody ran close_expired_visits: the visits are still open in the table.
    before = present_visits(session, site.id, at(19, 29))
    after = present_visits(session, site.id, at(19, 30))

    assert [v.member_id for v in before] == [world.alice.id, bob.id]  # earliest first
    assert head_count(session, site.id, at(19, 29)) == 2
    assert after == [] and head_count(session, site.id, at(19, 30)) == 0
    assert all(v.checked_out_at is None for v in visits(session))


# -- staff entries --------------------------------------------------------------------


def test_staff_out_fixes_a_forgotten_check_out(session, world) -> None:
    site, door = world.here.site, world.here.door
    tap(session, door, world.badge, at(10))
    close_expired_visits(session, at(8, day=25))  # the night job already ended it at 19:30

    fixed = staff(session, world.alice, site, TapKind.STAFF_OUT, at(16), received_at=at(9, day=25))

    assert fixed.outcome is Outcome.CHECKED_OUT
    [visit] = visits(session)
    assert (visit.checked_out_at, visit.ended_by) == (at(16), VisitEnd.STAFF)
    entry = tap_row(session, fixed)
    assert visit.out_tap_id == entry.id
    assert (entry.kind, entry.actor, entry.reason) == (
        TapKind.STAFF_OUT,
        "staff@example.org",
        "fix",
    )


def test_staff_entries_take_part_in_the_replay(session, world) -> None:
    """A staff check-in at 10:00 makes the member's 12:00 tap a check-out."""
    site, door = world.here.site, world.here.door
    noon = tap(session, door, world.badge, at(12))
    assert noon.outcome is Outcome.CHECKED_IN

    entry = staff(session, world.alice, site, TapKind.STAFF_IN, at(10), received_at=at(13))
    duplicate = staff(session, world.alice, site, TapKind.STAFF_OUT, at(9), received_at=at(13))

    assert entry.outcome is Outcome.CHECKED_IN
    assert duplicate.outcome is Outcome.DUPLICATE  # not in at 9:00
    assert spans(session) == [(site.id, at(10), at(12), VisitEnd.TAP)]


def test_auto_out_entry_ends_the_visit_as_auto(session, world) -> None:
    site = world.here.site
    tap(session, world.here.door, world.badge, at(10))

    ended = staff(session, world.alice, site, TapKind.AUTO_OUT, at(18))

    assert ended.outcome is Outcome.CHECKED_OUT
    assert spans(session) == [(site.id, at(10), at(18), VisitEnd.AUTO)]


def test_staff_entry_in_local_time_is_placed_by_its_instant(session, world) -> None:
    """Staff type Paris times: 09:30 at the first site comes before the 10:00 tap elsewhere."""
    here, there = world.here, world.there
    tap(session, there.door, world.badge, at(10))

    local = at(9, 30).astimezone(PARIS)
    entry = staff(session, world.alice, here.site, TapKind.STAFF_IN, local, received_at=at(11))

    assert entry.outcome is Outcome.CHECKED_IN
    assert spans(session) == [
        (here.site.id, at(9, 30), at(10), VisitEnd.TAP),
        (there.site.id, at(10), None, None),
    ]


def test_staff_entry_kind_must_be_a_staff_kind(session, world) -> None:
    with pytest.raises(ValueError, match="not a staff entry"):
        staff(session, world.alice, world.here.site, TapKind.BADGE, at(10))
