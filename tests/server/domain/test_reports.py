"""Occupancy reports: a small hand-computed case, midnight, and a generated month checked
against an independent minute-by-minute count."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import literal, select
from sqlalchemy.orm import Session

from server.domain.reports import days_csv, headcount_curve, heatmap_csv, occupancy
from server.store.models import UTCDateTime, epoch_microseconds, microseconds, moment_of
from tests.factories import badge_tap, make_badge, make_kiosk, make_member, make_site

PARIS = ZoneInfo("Europe/Paris")


def paris(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=PARIS)


def test_two_days_by_hand(session: Session) -> None:
    site = make_site(session, capacity=10)  # weekdays 9:00-19:00, 30 minutes' grace
    kiosk, _token = make_kiosk(session, site)
    alice, bruno, chloe = (make_member(session, given_name=n) for n in ("Alice", "Bruno", "Chloé"))
    badges = {m.given_name: make_badge(session, m) for m in (alice, bruno, chloe)}
    for name, start, end in [
        ("Alice", paris(23, 9), paris(23, 12)),
        ("Bruno", paris(23, 10), paris(23, 11, 30)),
        ("Chloé", paris(23, 11), None),  # never tapped out: until 19:30
        ("Alice", paris(24, 14), paris(24, 15)),
    ]:
        badge_tap(session, kiosk, badges[name], start)
        if end is not None:
            badge_tap(session, kiosk, badges[name], end)

    report = occupancy(session, site, date(2026, 11, 23), date(2026, 11, 24), paris(25, 12), 2)
    monday, tuesday = report.days
    assert (monday.visits, monday.members, monday.person_minutes) == (3, 3, 180 + 90 + 510)
    assert (monday.peak, monday.peak_at) == (3, paris(23, 11))
    assert (tuesday.visits, tuesday.members, tuesday.person_minutes, tuesday.peak) == (1, 1, 60, 1)
    assert (report.visits, report.members, report.person_hours) == (4, 3, 14.0)
    assert report.average_stay_minutes == 210
    assert report.capacity_use == pytest.approx(840 / (10 * 1200))  # two 10-hour days
    assert report.heatmap[0][8:21] == [0, 1.0, 2.0, 2.5, 1, 1, 1, 1, 1, 1, 1, 0.5, 0]
    assert report.heatmap[1][14] == 1.0 and sum(report.heatmap[1]) == 1.0
    assert report.members_by_week == {"2026-W48": 3} and report.members_by_month == {"2026-11": 3}
    assert report.regulars == {"2026-11": [(f"Alice {alice.family_name}", 2)]}
    assert "2026-11-23,3,3,13.00,3,11:00" in days_csv(report)
    curve = dict(headcount_curve(session, site, date(2026, 11, 23), paris(25, 12)))
    expected = {
        "08:45": 0,
        "09:00": 1,
        "10:00": 2,
        "11:00": 3,
        "11:30": 2,
        "12:00": 1,
        "19:15": 1,
        "19:30": 0,
    }
    assert {time: curve[time] for time in expected} == expected
    today = headcount_curve(session, site, date(2026, 11, 23), paris(23, 10, 20))
    assert today[-1] == ("10:15", 2)  # it stops at the present
    assert heatmap_csv(report).splitlines()[1].startswith("0,0.00,")


def test_people_there_at_midnight_count_on_the_next_day(session: Session) -> None:
    late = {d: [["08:00", "05:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    site = make_site(session, opening_hours=late)
    kiosk, _token = make_kiosk(session, site)
    badge = make_badge(session, make_member(session))
    badge_tap(session, kiosk, badge, paris(22, 22))
    badge_tap(session, kiosk, badge, paris(23, 2))
    report = occupancy(session, site, date(2026, 11, 23), date(2026, 11, 23), paris(25, 12))
    (monday,) = report.days
    # The visit belongs to Sunday; Monday still had one person from midnight to 2:00.
    assert (monday.visits, monday.peak, monday.peak_at) == (0, 1, paris(23, 0))
    assert report.heatmap[0][0:3] == [1.0, 1.0, 0.0]


def test_a_generated_month_agrees_with_a_minute_by_minute_count(session: Session) -> None:
    chance = random.Random(5)
    hours = {d: [["08:00", "20:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat")}
    site = make_site(session, opening_hours=hours, capacity=12)
    kiosk, _token = make_kiosk(session, site)
    intervals: dict[date, list[tuple[int, datetime, datetime]]] = {}
    for _ in range(10):
        member = make_member(session)
        badge = make_badge(session, member)
        for day in range(1, 31):
            if date(2026, 11, day).weekday() == 6 or chance.random() < 0.35:
                continue
            start = paris(day, 8) + timedelta(minutes=chance.randint(0, 600))
            forgot = chance.random() < 0.15
            end = (
                paris(day, 20, 30) if forgot else start + timedelta(minutes=chance.randint(20, 240))
            )
            end = min(end, paris(day, 20, 30))
            badge_tap(session, kiosk, badge, start)
            if not forgot:
                badge_tap(session, kiosk, badge, end)
            intervals.setdefault(date(2026, 11, day), []).append((member.id, start, end))
    report = occupancy(session, site, date(2026, 11, 1), date(2026, 11, 30), paris(30, 23))
    person_minutes: Counter[tuple[int, int]] = Counter()  # (weekday, hour) -> minutes
    for figures in report.days:
        todays = intervals.get(figures.day, [])
        minute_counts = [
            sum(1 for _m, start, end in todays if start <= moment < end)
            for moment in (paris(figures.day.day, 0) + timedelta(minutes=n) for n in range(1440))
        ]
        for minute, count in enumerate(minute_counts):
            person_minutes[(figures.day.weekday(), minute // 60)] += count
        expected = (
            len(todays),
            len({m for m, _s, _e in todays}),
            sum(int((end - start).total_seconds() // 60) for _m, start, end in todays),
            max(minute_counts),
        )
        assert (figures.visits, figures.members, figures.person_minutes, figures.peak) == expected
    assert report.visits == sum(len(v) for v in intervals.values()) > 100
    # November 2026 has five Sundays and Mondays, four of every other weekday.
    weekdays = Counter(date(2026, 11, n).weekday() for n in range(1, 31))
    assert report.heatmap == [
        [round(person_minutes[(w, h)] / 60 / weekdays[w], 2) for h in range(24)] for w in range(7)
    ]
    assert max(max(row) for row in report.heatmap) > 1


def test_the_database_gives_stored_times_to_the_microsecond(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reports read times as integers the database works out (no time zones on SQLite):
    they must be the very instants stored, fractions of a second included."""
    moments = [
        datetime(2026, 3, 29, 0, 59, 59, 999_999, UTC),  # a second before the clocks change
        datetime(2026, 11, 30, 9, 0, 0, 1, UTC),
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
    ]
    dialect = session.get_bind().dialect
    # SQLite before 3.38 (Ubuntu 22.04's) has no unixepoch(): the SQL differs, not the answer.
    versions = [dialect.server_version_info, (3, 37, 2)] if dialect.name == "sqlite" else [None]
    connection = session.connection().execution_options(compiled_cache=None)
    for version in versions:
        if version is not None:
            monkeypatch.setattr(dialect, "server_version_info", version)
        for moment in moments:
            stored = literal(moment, UTCDateTime())
            assert connection.scalar(select(epoch_microseconds(stored))) == microseconds(moment)
            assert moment_of(microseconds(moment), PARIS) == moment


def test_nothing_in_the_period_gives_zeros_not_errors(session: Session, clock: Any) -> None:
    site = make_site(session, capacity=None)
    report = occupancy(session, site, date(2026, 11, 1), date(2026, 11, 30), clock())
    assert (report.visits, report.members, report.average_stay_minutes) == (0, 0, 0.0)
    assert report.capacity_use is None and len(report.days) == 30
