"""Fixing a member's day: each kind of correction adds entries to the log (never edits
one), rebuilds the visits, and so what billing and the board read from them.

The factory site is open mon-fri 09:00-19:00 in Paris; `at(hour, minute, day=...)` gives
Paris times in November 2026 (the 24th is a Tuesday).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.domain import corrections
from server.domain.billing import FULL, HALF, statement
from server.domain.corrections import CorrectionError
from server.domain.presence import Rules, TapResult, present_visits
from server.settings import BillingSection
from server.store.models import Tap, TapKind, Visit, VisitEnd
from tests.conftest import at
from tests.factories import badge_tap, make_badge, make_kiosk, make_member, make_site

RULES = Rules()
NOW = at(9, day=27)  # the Friday after
STAFF = "marie@example.org"


@pytest.fixture
def day(session: Session) -> Any:
    """Anaïs tapped in at 09:10 and out by mistake at 15:16 (her colleague's badge
    read twice); she really left at 18:10."""
    site = make_site(session)
    kiosk, _token = make_kiosk(session, site)
    anais = make_member(session, given_name="Anaïs")
    badge = make_badge(session, anais)
    arrival = entry(session, badge_tap(session, kiosk, badge, at(9, 10)))
    wrong = entry(session, badge_tap(session, kiosk, badge, at(15, 16)))
    return site, kiosk, anais, badge, arrival, wrong


def entry(session: Session, result: TapResult) -> Tap:
    found = session.scalar(select(Tap).where(Tap.tap_id == uuid.UUID(result.tap_id)))
    assert found is not None
    return found


def spans(session: Session) -> list[tuple[Any, ...]]:
    session.expire_all()
    return [
        (visit.checked_in_at, visit.checked_out_at, visit.ended_by)
        for visit in session.scalars(select(Visit).order_by(Visit.checked_in_at))
    ]


def stored_taps(session: Session) -> list[tuple[Any, ...]]:
    rows = session.execute(select(Tap.id, Tap.kind, Tap.occurred_at, Tap.outcome).order_by(Tap.id))
    return [tuple(row) for row in rows]


def test_removing_a_wrong_check_out_continues_the_visit_from_its_arrival(
    session: Session, day: Any
) -> None:
    site, _kiosk, anais, _badge, _arrival, wrong = day
    log_before = stored_taps(session)

    done = corrections.remove_tap(
        session, anais.id, wrong.id, STAFF, "badge d'une collègue", at(15, 20), RULES
    )

    assert done.action == "tap.remove" and done.before == at(15, 16)
    assert spans(session) == [(at(9, 10), None, None)]
    [here] = present_visits(session, site.id, at(15, 20))
    assert here.checked_in_at == at(9, 10)  # "depuis 9h10", not "depuis 15h20"
    # The log only grew: the wrong tap is still there as it was, with who withdrew it.
    assert stored_taps(session)[: len(log_before)] == log_before
    withdrawal = session.scalar(select(Tap).where(Tap.cancels_id == wrong.id))
    assert withdrawal is not None
    assert (withdrawal.kind, withdrawal.actor, withdrawal.reason) == (
        TapKind.VOID,
        STAFF,
        "badge d'une collègue",
    )


def test_moving_the_end_later_bills_the_day_as_stayed(session: Session, day: Any) -> None:
    _site, _kiosk, anais, *_ = day
    [visit] = session.scalars(select(Visit)).all()
    billing = BillingSection()
    before = statement(session, anais, date(2026, 11, 1), NOW, billing)

    done = corrections.move_end(session, visit.id, at(18, 10), STAFF, "oubli de badge", NOW, RULES)

    assert (done.before, done.after) == (at(15, 16), at(18, 10))
    assert spans(session) == [(at(9, 10), at(18, 10), VisitEnd.STAFF)]
    after = statement(session, anais, date(2026, 11, 1), NOW, billing)
    assert [(d.minutes, d.kind) for d in before.days] == [(366, FULL)]
    assert [(d.minutes, d.kind) for d in after.days] == [(540, FULL)]


def test_moving_the_end_earlier_and_the_start_later(session: Session, day: Any) -> None:
    _site, _kiosk, anais, *_ = day
    [visit] = session.scalars(select(Visit)).all()

    corrections.move_end(session, visit.id, at(12, 0), STAFF, "parti déjeuner", NOW, RULES)
    [visit] = session.scalars(select(Visit)).all()
    corrections.move_start(session, visit.id, at(10, 0), STAFF, "arrivée réelle", NOW, RULES)

    assert spans(session) == [(at(10, 0), at(12, 0), VisitEnd.STAFF)]
    month = statement(session, anais, date(2026, 11, 1), NOW, BillingSection())
    assert [(d.minutes, d.kind) for d in month.days] == [(120, HALF)]


def test_a_forgotten_check_out_at_a_past_time_ends_a_visit_nobody_closed(
    session: Session, day: Any
) -> None:
    site, kiosk, anais, badge, *_ = day
    badge_tap(session, kiosk, badge, at(10, day=25))  # nobody tapped out on Wednesday

    done = corrections.add_entry(
        session, anais.id, site, TapKind.STAFF_OUT, at(16, 30, day=25), STAFF, "oubli", NOW, RULES
    )

    assert done.action == "visit.check-out"
    assert spans(session)[1] == (at(10, day=25), at(16, 30, day=25), VisitEnd.STAFF)


def test_moving_an_automatic_end_to_after_closing_counts_the_late_stay(
    session: Session, day: Any
) -> None:
    _site, kiosk, _anais, badge, *_ = day
    badge_tap(session, kiosk, badge, at(10, day=25))
    wednesday = session.scalars(select(Visit).order_by(Visit.checked_in_at.desc())).first()
    assert wednesday is not None

    corrections.move_end(session, wednesday.id, at(19, 50, day=25), STAFF, "resté tard", NOW, RULES)

    assert spans(session)[1] == (at(10, day=25), at(19, 50, day=25), VisitEnd.STAFF)


def test_a_correction_that_changes_nothing_writes_nothing(session: Session, day: Any) -> None:
    _site, kiosk, _anais, badge, *_ = day
    badge_tap(session, kiosk, badge, at(10, day=25))
    wednesday = session.scalars(select(Visit).order_by(Visit.checked_in_at.desc())).first()
    assert wednesday is not None
    session.commit()
    count = session.scalar(select(func.count()).select_from(Tap))

    with pytest.raises(CorrectionError) as refused:  # past the night: not this visit's end
        corrections.move_end(
            session, wednesday.id, at(8, 30, day=26), STAFF, "resté tard", NOW, RULES
        )
    session.rollback()

    assert refused.value.code == "not_applied"
    assert session.scalar(select(func.count()).select_from(Tap)) == count


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (
            lambda v, n: corrections.move_end(n, v.id, at(9, 0), STAFF, "x", NOW, RULES),
            "end_before_start",
        ),
        (
            lambda v, n: corrections.move_start(n, v.id, at(16, 0), STAFF, "x", NOW, RULES),
            "start_after_end",
        ),
        (
            lambda v, n: corrections.move_end(n, v.id, at(15, 16), STAFF, "x", NOW, RULES),
            "unchanged",
        ),
        (
            lambda v, n: corrections.move_end(n, v.id, at(18, 0), STAFF, "  ", NOW, RULES),
            "no_reason",
        ),
        (
            lambda v, n: corrections.move_start(n, v.id, at(10, day=28), STAFF, "x", NOW, RULES),
            "future",
        ),
    ],
)
def test_a_correction_that_cannot_be_made_says_why(
    session: Session, day: Any, change: Any, code: str
) -> None:
    [visit] = session.scalars(select(Visit)).all()
    with pytest.raises(CorrectionError) as refused:
        change(visit, session)
    assert refused.value.code == code


def test_a_tap_cannot_be_removed_twice_nor_another_members(session: Session, day: Any) -> None:
    _site, _kiosk, anais, _badge, arrival, wrong = day
    bob = make_member(session, given_name="Bob")
    corrections.remove_tap(session, anais.id, wrong.id, STAFF, "erreur", NOW, RULES)

    with pytest.raises(CorrectionError) as twice:
        corrections.remove_tap(session, anais.id, wrong.id, STAFF, "erreur", NOW, RULES)
    with pytest.raises(CorrectionError) as other:
        corrections.remove_tap(session, bob.id, arrival.id, STAFF, "erreur", NOW, RULES)

    assert (twice.value.code, other.value.code) == ("already_removed", "not_found")
