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

from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.domain.billing import is_closed, month_statements, next_month, previous_month
from server.domain.meetups import EventsOfMonth, events_of_month
from server.domain.presence import opening_hours
from server.domain.refusals import N_, Refusal
from server.domain.spreadsheets import csv_text, number
from server.settings import BillingSection
from server.store.db import driver_rows
from server.store.models import (
    MINUTE,
    Member,
    Site,
    Statement,
    Visit,
    epoch_microseconds,
    microseconds,
    moment_of,
)

#: The longest period a report or an export covers, in days.
MAX_DAYS = 366


class BadPeriod(Refusal):
    """A period asked for (a report, an export) that cannot be reported on."""

    MESSAGES = {
        "bad_date": N_("Les dates s'écrivent AAAA-MM-JJ."),
        "end_before_start": N_("La fin de la période est avant son début."),
        "too_long": N_("Une période d'un an au plus."),
    }


def check_period(start: date, end: date) -> None:
    """Refuse a period that ends before it starts, or is longer than MAX_DAYS."""
    if end < start:
        raise BadPeriod("end_before_start")
    if (end - start).days >= MAX_DAYS:
        raise BadPeriod("too_long")


@dataclass
class Stays:
    """Visits as reports see them, column by column: a year of a busy site is 125,000
    visits, and four lists of plain values cost far less to build and to sweep than as
    many objects. Times are whole microseconds since 1970 (UTC) (`epoch_microseconds`):
    exact, and compared and subtracted without building datetimes."""

    members: list[int]
    days: list[int]  # the local day each began, as `date.toordinal()`
    starts: list[int]
    ends: list[int]


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
    # member -> the local days they came (`date.toordinal()`): what the annual report
    # unions across months and sites to count people once.
    days_of: dict[int, set[int]] = field(default_factory=dict)

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


def stays(session: Session, site: Site, start: date, end: date, now: datetime) -> Stays:
    """The site's visits that began from the day before `start` to `end` (the evening
    before matters to the first day's head-count)."""
    rows = driver_rows(
        session.connection(),
        select(
            Visit.member_id,
            Visit.local_day,  # text on SQLite
            epoch_microseconds(Visit.checked_in_at),
            epoch_microseconds(Visit.checked_out_at),
            epoch_microseconds(Visit.closes_at),
        ).where(
            Visit.site_id == site.id,
            Visit.local_day >= start - timedelta(days=1),
            Visit.local_day <= end,
        ),
    )
    if not rows:
        return Stays([], [], [], [])
    members, days, starts, checked_out, closes = (
        list(column) for column in zip(*rows, strict=True)
    )
    until = microseconds(now)
    # Nobody tapped out: closing time ended it, or it goes on.
    ends = [
        out if out is not None else min(shut, until)
        for out, shut in zip(checked_out, closes, strict=True)
    ]
    parsed = {day: date.fromisoformat(str(day)).toordinal() for day in set(days)}
    found = Stays(members, [parsed[day] for day in days], starts, ends)
    if all(began < ended for began, ended in zip(starts, ends, strict=True)):
        return found
    kept = [n for n, (began, ended) in enumerate(zip(starts, ends, strict=True)) if began < ended]
    return Stays(*([column[n] for n in kept] for column in vars(found).values()))


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _peaks(found: Stays, days: list[DayFigures], zone: ZoneInfo) -> None:
    """Sweep the arrivals and departures in time order (a departure first when both
    happen at once); each midnight carries the count over."""
    arrivals, departures = sorted(found.starts), sorted(found.ends)
    arrived = left = 0  # how many of each the sweep has passed
    for figures in days:
        begins = microseconds(datetime.combine(figures.day, time(0), zone))
        ends = microseconds(datetime.combine(figures.day + timedelta(days=1), time(0), zone))
        arrived = bisect_left(arrivals, begins, lo=arrived)  # the evening before
        left = bisect_left(departures, begins, lo=left)
        peak, peak_at = arrived - left, begins  # people still there at midnight
        last = bisect_left(arrivals, ends, lo=arrived)
        while arrived < last:
            moment = arrivals[arrived]
            arrived += 1
            left = bisect_right(departures, moment, lo=left)
            if arrived - left > peak:
                peak, peak_at = arrived - left, moment
        if peak:
            figures.peak, figures.peak_at = peak, moment_of(peak_at, zone)


def _heatmap(found: Stays, start: date, end: date, zone: ZoneInfo) -> list[list[float]]:
    """Person-minutes per weekday and hour, as an average head-count.

    The stays' times are moved to local time by their day's UTC offset and cut in whole
    minutes (on the two nights a year the clocks change, an hour may be off by one: the
    spaces are closed then); a head-count per minute of the period, summed per hour."""
    days = (end - start).days + 1
    span = days * 24 * 60
    changes = [0] * (span + 1)  # +1 where a stay begins, -1 where it ends
    # Minutes since the period's local midnight: UTC minutes plus the day's UTC offset,
    # one offset per local day rather than a time-zone conversion per stay.
    origin = microseconds(datetime.combine(start, time(0), UTC)) // MINUTE
    offsets: dict[int, int] = {}
    for day, began, ended in zip(found.days, found.starts, found.ends, strict=True):
        offset = offsets.get(day)
        if offset is None:
            noon = datetime.combine(date.fromordinal(day), time(12), zone).utcoffset()
            offset = offsets[day] = int(noon.total_seconds() // 60 if noon else 0) - origin
        begins = max(began // MINUTE + offset, 0)
        ends = min(ended // MINUTE + offset, span)
        if begins < ends:
            changes[begins] += 1
            changes[ends] -= 1
    present = list(accumulate(changes))
    totals = [[0] * 24 for _ in range(7)]
    weekdays = [0] * 7
    for day_index in range(days):
        weekday = (start.weekday() + day_index) % 7
        weekdays[weekday] += 1
        row, first = totals[weekday], day_index * 1440
        for hour in range(24):
            row[hour] += sum(present[first + hour * 60 : first + hour * 60 + 60])
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
    report = Occupancy(site, start, end, days=[DayFigures(day) for day in _days(start, end)])
    first = start.toordinal()
    days_of: dict[int, set[int]] = defaultdict(set)  # member -> days there (ordinals)
    for member, day, began, ended in zip(
        found.members, found.days, found.starts, found.ends, strict=True
    ):
        if day >= first:  # not the evening before: it counts only in the head-count
            figures = report.days[day - first]
            figures.visits += 1
            figures.person_minutes += (ended - began) // MINUTE
            days_of[member].add(day)
    _peaks(found, report.days, zone)
    week_of = {f.day.toordinal(): "{}-W{:02d}".format(*f.day.isocalendar()) for f in report.days}
    month_of = {f.day.toordinal(): f"{f.day:%Y-%m}" for f in report.days}
    members_by_day: Counter[int] = Counter()
    weeks: Counter[str] = Counter()
    days_in_month: dict[str, dict[int, int]] = defaultdict(dict)  # month -> member -> days
    for member, days in days_of.items():
        members_by_day.update(days)
        weeks.update({week_of[day] for day in days})
        for month, count in Counter(month_of[day] for day in days).items():
            days_in_month[month][member] = count
    for figures in report.days:
        figures.members = members_by_day[figures.day.toordinal()]
        for opens, closes in hours.periods_on(figures.day):
            report.opening_minutes += int((closes - opens).total_seconds() // 60)
    report.visits = sum(f.visits for f in report.days)
    report.person_minutes = sum(f.person_minutes for f in report.days)
    report.members = len(days_of)
    report.members_by_week = dict(sorted(weeks.items()))
    report.members_by_month = {month: len(days_in_month[month]) for month in sorted(days_in_month)}
    report.heatmap = _heatmap(found, start, end, zone)
    report.regulars = _regulars(session, days_in_month, regular_days)
    report.days_of = dict(days_of)
    return report


def _regulars(
    session: Session, days_in_month: dict[str, dict[int, int]], regular_days: int
) -> dict[str, list[tuple[str, int]]]:
    """Month -> the regulars' names and days there, most days first."""
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


#: The per-day CSV's columns: plain (English, stable: columns only grow) and for Excel.
DAYS_COLUMNS = ("day", "visits", "members", "person_hours", "peak", "peak_at")
DAYS_COLUMNS_FR = ("jour", "visites", "membres", "heures de présence", "pic", "heure du pic")
#: The heatmap CSV's first column; the others are the hours, "00h" to "23h".
HEATMAP_FIRST, HEATMAP_FIRST_FR = "weekday", "jour"
#: Weekdays in the heatmap's Excel variant (the plain one says 0 for Monday to 6).
WEEKDAYS_FR = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


def days_csv(report: Occupancy, excel: bool = False) -> str:
    """The per-day figures, for a program or (`excel`) a French spreadsheet."""
    rows = (
        [
            figures.day.isoformat(),
            figures.visits,
            figures.members,
            number(figures.person_minutes / 60, 2, excel),
            figures.peak,
            figures.peak_at.strftime("%H:%M") if figures.peak_at else "",
        ]
        for figures in report.days
    )
    return csv_text(DAYS_COLUMNS_FR if excel else DAYS_COLUMNS, rows, excel)


def heatmap_csv(report: Occupancy, excel: bool = False) -> str:
    """The weekday x hour average head-count, one line per weekday (0 is Monday; the
    Excel variant names the day)."""
    hours = [f"{hour:02d}h" for hour in range(24)]
    rows = (
        [WEEKDAYS_FR[weekday] if excel else weekday, *(number(v, 2, excel) for v in row)]
        for weekday, row in enumerate(report.heatmap)
    )
    return csv_text([HEATMAP_FIRST_FR if excel else HEATMAP_FIRST, *hours], rows, excel)


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
        at = microseconds(moment)
        count = sum(
            1 for began, ended in zip(found.starts, found.ends, strict=True) if began <= at < ended
        )
        curve.append((f"{n // 60:02d}:{n % 60:02d}", count))
    return curve


@dataclass
class MonthFigures:
    """A month of one site, as the funders' summary shows it."""

    month: date
    occupancy: Occupancy
    revenue_cents: int  # every member's statements, VAT included
    events: EventsOfMonth

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
        months.append(
            MonthFigures(
                first,
                figures,
                revenue(session, first, now, rules),
                events_of_month(session, site, first),
            )
        )
    return months[0], months[1]
