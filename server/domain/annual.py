"""The annual activity report ("rapport d'activité"): a year month by month, beside the
year before, for one site or the whole network.

Every figure comes from the monthly functions the other reports use, so the annual
report can never tell a different story than the month's page:

- occupancy (`reports.occupancy`, one call per site and month): visits, person-hours,
  the peak head-count, capacity use; the people who came and the regulars are counted
  from each member's days there, so a member who came to two sites, or in two months,
  counts once in the network's month, once in the year;
- regulars: members present on at least `[reports] regular_days` distinct days of a
  month (the reports' own definition; across the network, days at any site count); a
  year's regulars are the members who were regulars in at least one of its months;
- average presence: person-hours over opening hours (the average head-count while
  open); the network's is the sum of its sites' (how many people the network holds at
  a time); its peak is the highest head-count reached at one of its sites;
- events (`meetups.events_of_month`): each event of the site(s), its attendance and
  who brought it;
- new members, sponsorships and guests who joined, and revenue: these belong to the
  network, not to a site (members and statements have no site), so a one-site report
  shows the network's, and says so;
- revenue by plan, from the month's statements: the stored ones of a closed month, else
  computed now (provisional): `payg` days, `pack` purchases and the `payg` top-ups of
  pack days, `monthly` fees, `free`, and guests' days billed to their hosts.

Months after today have no figures. Nothing here names a member: erased and anonymous
members count like everyone, and the report shows counts only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.domain.billing import (
    MonthStatement,
    is_closed,
    month_statements,
    next_month,
)
from server.domain.meetups import BROUGHT_BY, events_of_month
from server.domain.reports import occupancy
from server.domain.sites import home_zone
from server.settings import BillingSection
from server.store.models import Member, Site, Statement

#: The revenue's columns: each plan, then guests' days billed to their hosts.
REVENUE_KINDS = ("payg", "pack", "monthly", "free", "guests")
FIRST_YEAR = 2000


@dataclass
class Figures:
    """A month's figures, or a year's totals (the same names, so both compare alike)."""

    members: int = 0  # people who came (distinct)
    regulars: int = 0
    new_members: int = 0
    visits: int = 0
    person_minutes: int = 0
    average_present: float = 0.0  # head-count while open, on average
    peak: int = 0
    capacity_use: float | None = None  # None: no capacity or no opening hours known
    events: int = 0
    attendance: int = 0
    by_whom: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BROUGHT_BY, 0))
    sponsored: int = 0  # new members who named a sponsor
    guests_joined: int = 0  # guests who became members
    revenue: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REVENUE_KINDS, 0))
    provisional: bool = False  # some revenue from statements not closed yet

    @property
    def person_hours(self) -> float:
        return self.person_minutes / 60

    @property
    def revenue_cents(self) -> int:
        return sum(self.revenue.values())


@dataclass
class MonthRow(Figures):
    month: date = date.min
    begun: bool = True  # False: a month after today, no figures


@dataclass
class EventLine:
    day: date  # local
    title: str
    site: str
    brought_by: str
    attendance: int


@dataclass
class YearFigures:
    year: int
    months: list[MonthRow]
    totals: Figures
    events: list[EventLine]


@dataclass
class AnnualReport:
    year: int
    site: Site | None  # None: the whole network
    sites: list[Site]  # the sites counted
    regular_days: int
    current: YearFigures
    previous: YearFigures


def revenue_by_plan(statement: MonthStatement) -> dict[str, int]:
    """A statement's total, split by what was paid for (VAT included)."""
    split = dict.fromkeys(REVENUE_KINDS, 0)
    for day in statement.days:
        split[day.plan if day.plan in split else "payg"] += day.price_cents
    split["pack"] += sum(purchase.price_cents for purchase in statement.purchases)
    split["monthly"] += statement.monthly_cents
    split["guests"] += sum(charge.price_cents for charge in statement.guests)
    # A stored total is the reference: whatever its detail does not explain (none is
    # known) stays counted rather than lost.
    split["payg"] += statement.total_cents - sum(split.values())
    return split


def month_revenue(
    session: Session, month: date, now: datetime, rules: BillingSection
) -> tuple[dict[str, int], bool]:
    """The month's revenue by plan, and whether it is provisional (the month not closed)."""
    if is_closed(session, month):
        stored = session.scalars(select(Statement).where(Statement.month == month))
        found, provisional = [MonthStatement.of(one) for one in stored], False
    else:
        found, provisional = month_statements(session, month, now, rules), True
    total: Counter[str] = Counter(dict.fromkeys(REVENUE_KINDS, 0))
    for one in found:
        total.update(revenue_by_plan(one))
    return dict(total), provisional


def _joined(session: Session, zone: ZoneInfo, year: int) -> list[tuple[date, bool, bool]]:
    """Members who joined in `year` (local months): (month, named a sponsor, was a guest).

    A member joins when their row is made, a guest when they become a member; guests
    who have not joined are not members."""
    found = []
    rows = session.execute(
        select(Member.created_at, Member.became_member_at, Member.sponsor_id).where(
            Member.is_guest.is_(False)
        )
    )
    for created, became, sponsor in rows:
        local = (became or created).astimezone(zone).date()
        if local.year == year:
            found.append((local.replace(day=1), sponsor is not None, became is not None))
    return found


def year_figures(
    session: Session,
    sites: list[Site],
    year: int,
    today: date,
    now: datetime,
    regular_days: int,
    rules: BillingSection,
) -> YearFigures:
    """The year's months and totals over `sites`, up to `today`."""
    zone = home_zone(session)
    joined = _joined(session, zone, year)
    months: list[MonthRow] = []
    events: list[EventLine] = []
    year_days: dict[int, set[int]] = {}  # member -> days there in the year
    year_regulars: set[int] = set()
    per_site = {site.id: [0, 0] for site in sites}  # person-minutes, opening minutes
    first = date(year, 1, 1)
    for number in range(12):
        start = first.replace(month=number + 1)
        row = MonthRow(month=start, begun=start <= today)
        months.append(row)
        if not row.begun:
            continue
        end = min(next_month(start) - timedelta(days=1), today)
        days_of: dict[int, set[int]] = {}
        usable_minutes = capacity_minutes = 0
        for site in sites:
            found = occupancy(session, site, start, end, now, regular_days)
            row.visits += found.visits
            row.person_minutes += found.person_minutes
            row.peak = max([row.peak, *(day.peak for day in found.days)])
            if found.opening_minutes:
                row.average_present += found.person_minutes / found.opening_minutes
            if found.capacity_use is not None and site.capacity:
                usable_minutes += found.person_minutes
                capacity_minutes += site.capacity * found.opening_minutes
            per_site[site.id][0] += found.person_minutes
            per_site[site.id][1] += found.opening_minutes
            for member, days in found.days_of.items():
                days_of.setdefault(member, set()).update(days)
            held = events_of_month(session, site, start)
            row.events += len(held.events)
            row.attendance += held.attendance
            for who, count in held.by_whom.items():
                row.by_whom[who] = row.by_whom.get(who, 0) + count
            local = ZoneInfo(site.timezone)
            events.extend(
                EventLine(
                    event.starts_at.astimezone(local).date(),
                    event.title,
                    site.name,
                    event.brought_by,
                    came,
                )
                for event, came in held.events
            )
        row.members = len(days_of)
        regulars = {member for member, days in days_of.items() if len(days) >= regular_days}
        row.regulars = len(regulars)
        year_regulars |= regulars
        for member, days in days_of.items():
            year_days.setdefault(member, set()).update(days)
        row.capacity_use = usable_minutes / capacity_minutes if capacity_minutes else None
        for month, sponsored, was_guest in joined:
            if month == start:
                row.new_members += 1
                row.sponsored += sponsored
                row.guests_joined += was_guest
        row.revenue, row.provisional = month_revenue(session, start, now, rules)
    totals = _totals(months, sites, per_site)
    totals.members, totals.regulars = len(year_days), len(year_regulars)
    events.sort(key=lambda line: (line.day, line.site, line.title))
    return YearFigures(year, months, totals, events)


def _totals(months: list[MonthRow], sites: list[Site], per_site: dict[int, list[int]]) -> Figures:
    """What adds up over the months (people are counted by the caller: once a year)."""
    totals = Figures()
    for row in months:
        for name in (
            "new_members",
            "visits",
            "person_minutes",
            "events",
            "attendance",
            "sponsored",
            "guests_joined",
        ):
            setattr(totals, name, getattr(totals, name) + getattr(row, name))
        totals.peak = max(totals.peak, row.peak)
        for who, count in row.by_whom.items():
            totals.by_whom[who] = totals.by_whom.get(who, 0) + count
        for kind, cents in row.revenue.items():
            totals.revenue[kind] = totals.revenue.get(kind, 0) + cents
        totals.provisional = totals.provisional or row.provisional
    totals.average_present = sum(
        person / opening for person, opening in per_site.values() if opening
    )
    with_capacity = [s for s in sites if s.capacity and per_site[s.id][1]]
    room = sum((s.capacity or 0) * per_site[s.id][1] for s in with_capacity)
    used = sum(per_site[s.id][0] for s in with_capacity)
    totals.capacity_use = used / room if room else None
    return totals


def annual_report(
    session: Session,
    year: int,
    site: Site | None,
    today: date,
    now: datetime,
    regular_days: int,
    rules: BillingSection,
) -> AnnualReport:
    """The year and the year before, for `site` or, without one, every site."""
    sites = [site] if site is not None else list(session.scalars(select(Site).order_by(Site.id)))
    return AnnualReport(
        year,
        site,
        sites,
        regular_days,
        year_figures(session, sites, year, today, now, regular_days, rules),
        year_figures(session, sites, year - 1, today, now, regular_days, rules),
    )


def change(now: float, before: float) -> float | None:
    """The change from `before` to `now`, as a fraction (None: nothing before)."""
    return (now - before) / before if before else None
