"""The annual report: each month's row is what the monthly reports say of that month,
the year's totals are their sums (people counted once), and the year before is there."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from server.domain.annual import REVENUE_KINDS, annual_report, revenue_by_plan
from server.domain.billing import close_month, month_statements, next_month
from server.domain.meetups import add_event, events_of_month
from server.domain.members import erase_member
from server.domain.reports import occupancy, revenue
from server.settings import BillingSection
from server.store.models import Member, MemberPlan, Plan, Site, Ticket
from tests.factories import badge_tap, make_badge, make_kiosk, make_member, make_site

PARIS = ZoneInfo("Europe/Paris")
RULES = BillingSection()
REGULAR = 2
TODAY = date(2026, 11, 24)  # the clock fixture's day

#: (member, site, day, arrival hour, departure hour): two years of a small network.
VISITS = [
    ("ana", "cantine", date(2025, 3, 3), 9, 13),
    ("ana", "cantine", date(2025, 3, 4), 9, 18),
    ("bruno", "cantine", date(2025, 3, 4), 10, 12),
    ("bruno", "labo", date(2025, 6, 10), 9, 17),
    ("ana", "cantine", date(2026, 1, 5), 9, 13),
    ("ana", "labo", date(2026, 1, 6), 9, 13),  # a regular of the network, not of a site
    ("bruno", "cantine", date(2026, 1, 5), 11, 16),
    ("chloe", "cantine", date(2026, 1, 5), 10, 11),
    ("dora", "cantine", date(2026, 3, 2), 9, 18),  # erased later: counted, never named
    ("dora", "cantine", date(2026, 3, 3), 9, 12),
    ("ana", "cantine", date(2026, 3, 3), 9, 17),
    ("bruno", "labo", date(2026, 3, 3), 14, 18),
    ("chloe", "cantine", date(2026, 11, 2), 9, 13),
    ("ana", "cantine", date(2026, 11, 23), 9, None),  # nobody tapped out
]


def arrange(session: Session) -> dict[str, Any]:
    sites = {
        "cantine": make_site(session, slug="cantine", name="La Cantine", capacity=10),
        "labo": make_site(session, slug="labo", name="Le Labo", capacity=4),
    }
    kiosks = {slug: make_kiosk(session, site)[0] for slug, site in sites.items()}
    joined = {
        "ana": datetime(2025, 2, 10, tzinfo=UTC),
        "bruno": datetime(2025, 2, 20, tzinfo=UTC),
        "chloe": datetime(2026, 1, 2, tzinfo=UTC),
        "dora": datetime(2026, 2, 27, tzinfo=UTC),
    }
    members = {
        name: make_member(session, given_name=name.title(), created_at=joined[name])
        for name in joined
    }
    members["chloe"].sponsor_id = members["ana"].id
    members["bruno"].plans.append(MemberPlan(plan=Plan.MONTHLY, starts_on=date(2026, 3, 1)))
    # A guest who came in January 2026 and joined in March.
    members["dora"].became_member_at = datetime(2026, 3, 1, 9, tzinfo=UTC)
    badges = {name: make_badge(session, member) for name, member in members.items()}
    for name, slug, day, start, end in VISITS:
        badge_tap(session, kiosks[slug], badges[name], datetime.combine(day, _hour(start), PARIS))
        if end is not None:
            badge_tap(session, kiosks[slug], badges[name], datetime.combine(day, _hour(end), PARIS))
    session.flush()
    return {"sites": sites, "members": members}


def _hour(hour: int) -> Any:
    return datetime.min.time().replace(hour=hour)


def _event(session: Session, site: Site, day: date, brought_by: str, came: int, now: datetime):
    starts = datetime.combine(day, _hour(18), PARIS)
    event = add_event(
        session, site, f"Soirée {day}", starts, starts + timedelta(hours=3), brought_by, True,
        "", None, "staff@example.org", now,
    )  # fmt: skip
    for n in range(came + 1):  # one registered who did not come
        checked = starts if n < came else None
        session.add(Ticket(event_id=event.id, name=f"P{n}", token=f"t{event.id}-{n}",
                           checked_in_at=checked))  # fmt: skip
    session.flush()


def test_each_month_is_the_monthly_reports_and_the_year_their_sums(
    session: Session, clock: Any
) -> None:
    found = arrange(session)
    cantine, labo = found["sites"]["cantine"], found["sites"]["labo"]
    now = clock()
    _event(session, cantine, date(2026, 3, 12), "community", 12, now)
    _event(session, labo, date(2026, 3, 19), "partner", 5, now)
    _event(session, cantine, date(2025, 6, 5), "cantine", 7, now)
    close_month(session, date(2026, 1, 1), TODAY, now, "staff@example.org", RULES)
    erase_member(session, found["members"]["dora"], now)
    session.flush()

    network = annual_report(session, 2026, None, TODAY, now, REGULAR, RULES)
    alone = annual_report(session, 2026, cantine, TODAY, now, REGULAR, RULES)
    assert [site.slug for site in network.sites] == ["cantine", "labo"]
    for report in (network, alone):
        for year in (report.current, report.previous):
            assert [row.month for row in year.months] == [
                date(year.year, n, 1) for n in range(1, 13)
            ]
            for row in year.months:
                if not row.begun:
                    assert row.month > TODAY and row.visits == 0
                    continue
                last = min(next_month(row.month) - timedelta(days=1), TODAY)
                monthly = [
                    occupancy(session, site, row.month, last, now, REGULAR) for site in report.sites
                ]
                days: dict[int, set[int]] = {}
                for one in monthly:
                    for member, there in one.days_of.items():
                        days.setdefault(member, set()).update(there)
                assert row.visits == sum(one.visits for one in monthly)
                assert row.person_minutes == sum(one.person_minutes for one in monthly)
                assert row.peak == max(day.peak for one in monthly for day in one.days)
                assert row.members == len(days)
                assert row.regulars == sum(1 for there in days.values() if len(there) >= REGULAR)
                if len(monthly) == 1:  # one site: exactly its monthly report
                    (one,) = monthly
                    key = f"{row.month:%Y-%m}"
                    assert row.members == one.members_by_month.get(key, 0) == one.members
                    assert row.regulars == len(one.regulars.get(key, []))
                    assert row.capacity_use == one.capacity_use
                    assert row.average_present == pytest.approx(
                        one.person_minutes / one.opening_minutes
                    )
                held = [events_of_month(session, site, row.month) for site in report.sites]
                assert row.events == sum(len(one.events) for one in held)
                assert row.attendance == sum(one.attendance for one in held)
                assert row.revenue_cents == revenue(session, row.month, now, RULES)
                assert row.provisional == (row.month != date(2026, 1, 1))

    # The hand-counted story of the network.
    months = {row.month.month: row for row in network.current.months}
    january, march, november = months[1], months[3], months[11]
    assert (january.members, january.regulars, january.visits) == (3, 1, 4)  # Ana: 2 days
    assert (march.members, march.events, march.attendance) == (3, 2, 17)
    assert march.by_whom == {"partner": 1, "community": 1, "cantine": 0}
    assert (november.members, november.visits) == (2, 2)
    assert not months[12].begun
    # Ana's two January days were at two sites: a regular of the network, not of La Cantine.
    assert {row.month.month: row.regulars for row in alone.current.months if row.regulars} == {
        3: 1
    }  # Dora, twice at La Cantine in March
    # Joined in 2026: Chloé (sponsored by Ana) in January, Dora (a guest first) in March.
    assert (january.new_members, january.sponsored, january.guests_joined) == (1, 1, 0)
    assert (march.new_members, march.sponsored, march.guests_joined) == (1, 0, 1)
    assert march.revenue["monthly"] > 0 and january.revenue["monthly"] == 0

    totals, before = network.current.totals, network.previous.totals
    rows = network.current.months
    for name in ("visits", "person_minutes", "events", "attendance", "new_members", "sponsored"):
        assert getattr(totals, name) == sum(getattr(row, name) for row in rows), name
    assert totals.members == 4  # Ana, Bruno, Chloé, Dora: once each in the year
    assert totals.members < sum(row.members for row in rows)
    assert totals.regulars == 2  # Ana (January), Dora (March)
    assert totals.peak == max(row.peak for row in rows)
    assert totals.revenue == {k: sum(row.revenue[k] for row in rows) for k in REVENUE_KINDS}
    assert totals.provisional
    # The year before, by the same functions.
    assert (before.members, before.visits, before.new_members) == (2, 4, 2)
    assert (before.events, before.attendance, before.by_whom["cantine"]) == (1, 7, 1)
    assert before.revenue_cents == sum(
        revenue(session, date(2025, n, 1), now, RULES) for n in range(1, 13)
    )
    assert before.person_minutes == sum(
        occupancy(session, site, date(2025, 1, 1), date(2025, 12, 31), now).person_minutes
        for site in network.sites
    )
    # Capacity use over the year: person-hours over capacity x opening hours, all sites.
    opening = {
        site.id: occupancy(session, site, date(2026, 1, 1), TODAY, now).opening_minutes
        for site in network.sites
    }
    assert totals.capacity_use == pytest.approx(
        totals.person_minutes / (10 * opening[cantine.id] + 4 * opening[labo.id])
    )


def test_revenue_by_plan_adds_up_to_each_statement(session: Session, clock: Any) -> None:
    arrange(session)
    for month in (date(2026, 1, 1), date(2026, 3, 1), date(2026, 11, 1)):
        for statement in month_statements(session, month, clock(), RULES):
            split = revenue_by_plan(statement)
            assert set(split) == set(REVENUE_KINDS)
            assert sum(split.values()) == statement.total_cents


def test_a_year_with_nothing_gives_zeros(session: Session, clock: Any) -> None:
    site = make_site(session, capacity=None)
    report = annual_report(session, 2026, site, TODAY, clock(), REGULAR, RULES)
    totals = report.current.totals
    assert (totals.members, totals.visits, totals.revenue_cents, totals.peak) == (0, 0, 0, 0)
    assert totals.capacity_use is None and report.previous.totals.visits == 0
    assert session.query(Member).count() == 0
