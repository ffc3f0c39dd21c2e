"""Occupancy of a site over a period, in the site's time zone.

A visit counts from its check-in to its check-out; a visit nobody tapped out of counts
until its site's closing time (plus the grace), and one under way until now. A visit
belongs to the day it began (`Visit.local_day`, kept when the visit is written, so that
no report converts time zones row by row). Figures:

- per day: visits, members (unique), person-hours, the peak head-count and when it was
  first reached (people still there from the evening before count from midnight);
- over the period: visits, unique members (and per ISO week and per month), person-hours,
  the average stay, capacity use (person-hours over capacity times opening hours);
- a weekday x hour heatmap of the average head-count (person-minutes in that hour of
  that weekday, divided by 60 times the number of such weekdays in the period);
- the regulars: members present on at least `[reports] regular_days` distinct days of a
  month.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import String, case, func, literal, select, type_coerce
from sqlalchemy.orm import Session

from server.billing import is_closed, month_statements, next_month, previous_month
from server.models import Member, Site, Statement, UTCDateTime, Visit
from server.presence import opening_hours
from server.settings import BillingSection


class Stay(NamedTuple):
    """A visit as reports see it (a tuple: a year of a busy site is 125,000 of them)."""

    member_id: int
    day: date  # local day it began
    start: datetime
    end: datetime


@dataclass
class DayFigures:
    day: date
    visits: int = 0
    members: int = 0
    person_minutes: int = 0
    peak: int = 0
    peak_at: datetime | None = None  # local time


@dataclass
class Occupancy:
    site: Site
    start: date
    end: date  # inclusive
    days: list[DayFigures] = field(default_factory=list)
    heatmap: list[list[float]] = field(default_factory=list)  # [weekday][hour]
    visits: int = 0
    members: int = 0
    members_by_week: dict[str, int] = field(default_factory=dict)  # "2026-W48"
    members_by_month: dict[str, int] = field(default_factory=dict)  # "2026-11"
    person_minutes: int = 0
    opening_minutes: int = 0
    regulars: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # month -> names

    @property
    def person_hours(self) -> float:
        return self.person_minutes / 60

    @property
    def average_stay_minutes(self) -> float:
        return self.person_minutes / self.visits if self.visits else 0.0

    @property
    def capacity_use(self) -> float | None:
        """Person-hours over capacity x opening hours (None without either)."""
        if not self.site.capacity or not self.opening_minutes:
            return None
        return self.person_minutes / (self.site.capacity * self.opening_minutes)


def stays(session: Session, site: Site, start: date, end: date, now: datetime) -> list[Stay]:
    """The site's visits that began from the day before `start` to `end` (the evening
    before matters to the first day's head-count).

    Read on the session's connection with the times left as the database gives them
    (text on SQLite), then parsed with `fromisoformat`: a year of a busy site is 125,000
    rows, and the ORM's handling of them was half of a year report's time."""
    until = func.coalesce(Visit.checked_out_at, case(
        (Visit.closes_at < literal(now, UTCDateTime()), Visit.closes_at),
        else_=literal(now, UTCDateTime()),
    ))  # fmt: skip
    rows = session.connection().execute(
        select(
            Visit.member_id,
            type_coerce(Visit.local_day, String),
            type_coerce(Visit.checked_in_at, String),
            type_coerce(until, String),
        ).where(
            Visit.site_id == site.id,
            Visit.local_day >= start - timedelta(days=1),
            Visit.local_day <= end,
        )
    )
    found = []
    for member_id, day, began_at, ended_at in rows:
        began, ended = _aware(began_at), _aware(ended_at)
        if ended > began:
            found.append(Stay(member_id, _day(day), began, ended))
    return found


def _aware(moment: datetime | str) -> datetime:
    """A stored time, as text (SQLite) or a naive UTC datetime (PostgreSQL): aware."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _day(day: date | str) -> date:
    return date.fromisoformat(day) if isinstance(day, str) else day


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _peaks(found: list[Stay], days: dict[date, DayFigures], zone: ZoneInfo) -> None:
    """Sweep the arrivals and departures in time order; each midnight carries the count.

    Each day's bounds are worked out once as instants, so no event is converted."""
    events = sorted([(s.start, 1) for s in found] + [(s.end, -1) for s in found])
    count, index = 0, 0
    for day in sorted(days):
        begins = datetime.combine(day, time(0), zone).astimezone(UTC)
        ends = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
        while index < len(events) and events[index][0] < begins:  # the evening before
            count += events[index][1]
            index += 1
        figures = days[day]
        if count > figures.peak:  # people still there at midnight
            figures.peak, figures.peak_at = count, begins.astimezone(zone)
        while index < len(events) and events[index][0] < ends:
            moment, change = events[index]
            count += change
            if count > figures.peak:
                figures.peak, figures.peak_at = count, moment.astimezone(zone)
            index += 1


def _heatmap(found: list[Stay], start: date, end: date, zone: ZoneInfo) -> list[list[float]]:
    """Person-minutes per weekday and hour, as an average head-count.

    Each stay is converted to local time once, then cut at the hours of the wall clock in
    whole minutes (on the two nights a year the clocks change, an hour may be off by one:
    the spaces are closed then)."""
    days = (end - start).days + 1
    span = days * 24 * 60
    per_hour = [0.0] * (days * 24)
    # Minutes since the period's local midnight: UTC minutes plus the day's UTC offset,
    # one offset per local day rather than a time-zone conversion per stay.
    origin = datetime.combine(start, time(0), UTC).timestamp() / 60
    offsets: dict[date, float] = {}
    for stay in found:
        offset = offsets.get(stay.day)
        if offset is None:
            noon = datetime.combine(stay.day, time(12), zone).utcoffset()
            offset = offsets[stay.day] = (noon.total_seconds() if noon else 0) / 60
        begins = int(stay.start.timestamp() // 60 + offset - origin)
        ends = int(stay.end.timestamp() // 60 + offset - origin)
        begins, ends = max(begins, 0), min(ends, span)
        hour = begins // 60
        while begins < ends:
            step = min(ends, (hour + 1) * 60)
            per_hour[hour] += step - begins
            begins, hour = step, hour + 1
    totals = [[0.0] * 24 for _ in range(7)]
    weekdays = [0] * 7
    for day_index in range(len(per_hour) // 24):
        weekday = (start.weekday() + day_index) % 7
        weekdays[weekday] += 1
        for hour in range(24):
            totals[weekday][hour] += per_hour[day_index * 24 + hour]
    return [
        [round(totals[w][h] / 60 / weekdays[w], 2) if weekdays[w] else 0.0 for h in range(24)]
        for w in range(7)
    ]


def occupancy(
    session: Session, site: Site, start: date, end: date, now: datetime, regular_days: int = 8
) -> Occupancy:
    """The occupancy figures of `site` from `start` to `end` (local days, inclusive)."""
    hours = opening_hours(site)
    zone = hours.zone
    found = stays(session, site, start, end, now)
    report = Occupancy(site, start, end)
    by_day = {day: DayFigures(day) for day in _days(start, end)}
    members_of_day: dict[date, set[int]] = defaultdict(set)
    for stay in found:
        figures = by_day.get(stay.day)
        if figures is None:
            continue  # the evening before: only for the head-count
        figures.visits += 1
        figures.person_minutes += int((stay.end - stay.start).total_seconds() // 60)
        members_of_day[stay.day].add(stay.member_id)
    _peaks(found, by_day, zone)
    weeks: dict[str, set[int]] = defaultdict(set)
    months: dict[str, set[int]] = defaultdict(set)
    days_in_month: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for day, figures in by_day.items():
        people = members_of_day[day]
        figures.members = len(people)
        year, week, _weekday = day.isocalendar()
        weeks[f"{year}-W{week:02d}"] |= people
        months[f"{day:%Y-%m}"] |= people
        for member_id in people:
            days_in_month[f"{day:%Y-%m}"][member_id] += 1
        for opens, closes in hours.periods_on(day):
            report.opening_minutes += int((closes - opens).total_seconds() // 60)
    report.days = list(by_day.values())
    report.visits = sum(f.visits for f in report.days)
    report.person_minutes = sum(f.person_minutes for f in report.days)
    report.members = len(set().union(*members_of_day.values())) if members_of_day else 0
    report.members_by_week = {key: len(value) for key, value in sorted(weeks.items())}
    report.members_by_month = {key: len(value) for key, value in sorted(months.items())}
    report.heatmap = _heatmap(found, start, end, zone)
    report.regulars = _regulars(session, days_in_month, regular_days)
    return report


def _regulars(
    session: Session, days_in_month: dict[str, dict[int, int]], regular_days: int
) -> dict[str, list[tuple[str, int]]]:
    wanted = {
        m for counts in days_in_month.values() for m, n in counts.items() if n >= regular_days
    }
    names = {
        member.id: f"{member.given_name} {member.family_name}".strip()
        for member in session.scalars(select(Member).where(Member.id.in_(wanted)))
    }
    return {
        month: sorted(
            ((names.get(m, ""), n) for m, n in counts.items() if n >= regular_days),
            key=lambda pair: (-pair[1], pair[0]),
        )
        for month, counts in sorted(days_in_month.items())
    }


def days_csv(report: Occupancy) -> str:
    """The per-day figures, for a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["day", "visits", "members", "person_hours", "peak", "peak_at"])
    for figures in report.days:
        writer.writerow([
            figures.day.isoformat(), figures.visits, figures.members,
            f"{figures.person_minutes / 60:.2f}", figures.peak,
            figures.peak_at.strftime("%H:%M") if figures.peak_at else "",
        ])  # fmt: skip
    return out.getvalue()


def heatmap_csv(report: Occupancy) -> str:
    """The weekday x hour average head-count, one line per weekday (0 is Monday)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["weekday", *(f"{hour:02d}h" for hour in range(24))])
    for weekday, row in enumerate(report.heatmap):
        writer.writerow([weekday, *(f"{value:.2f}" for value in row)])
    return out.getvalue()


def headcount_curve(
    session: Session, site: Site, day: date, now: datetime, step_minutes: int = 15
) -> list[tuple[str, int]]:
    """How many people were there through a day, every `step_minutes` (local times), up
    to now."""
    zone = opening_hours(site).zone
    found = stays(session, site, day, day, now)
    start = datetime.combine(day, time(0), zone)
    curve = []
    for n in range(0, 24 * 60, step_minutes):
        moment = start + timedelta(minutes=n)
        if moment > now:
            break  # today's curve stops at the present
        count = sum(1 for stay in found if stay.start <= moment < stay.end)
        curve.append((f"{n // 60:02d}:{n % 60:02d}", count))
    return curve


@dataclass
class MonthFigures:
    """A month of one site, as the funders' summary shows it."""

    month: date
    occupancy: Occupancy
    revenue_cents: int  # every member's statements, VAT included

    @property
    def regulars(self) -> int:
        return len(self.occupancy.regulars.get(f"{self.month:%Y-%m}", []))


def revenue(session: Session, month: date, now: datetime, rules: BillingSection) -> int:
    """A month's coworking revenue: the stored totals once it is closed, else computed."""
    if is_closed(session, month):
        total = select(func.coalesce(func.sum(Statement.total_cents), 0))
        return int(session.scalar(total.where(Statement.month == month)) or 0)
    return sum(one.total_cents for one in month_statements(session, month, now, rules))


def funders_summary(
    session: Session,
    site: Site,
    month: date,
    now: datetime,
    regular_days: int,
    rules: BillingSection,
) -> tuple[MonthFigures, MonthFigures]:
    """The month before and the month: what a Cantine sends its funders."""
    months = []
    for first in (previous_month(month), month):
        last = next_month(first) - timedelta(days=1)
        figures = occupancy(session, site, first, last, now, regular_days)
        months.append(MonthFigures(first, figures, revenue(session, first, now, rules)))
    return months[0], months[1]
