"""Visits as whoever audits the figures reads them: the staff export (CSV) and the read API.

Every figure (occupancy, statements, the funders' summary) is built on visits. Here each
visit comes with how it ended, its length, the minutes it adds to its day for billing,
and its day as billing counts it (half, full, or none: every visit of the day shorter
than `min_visit_minutes`, a day as a guest...). That day is read from the member's
statement of the month (`billing.statements`), closed or provisional, and the minutes
from billing's own rules (`billing.stay_of`, `billing.counted_minutes`): the export
cannot disagree with the statements, and a rule changes in one place only.

A day is the member's, at every site together (visits at several sites the same day add
up), so an export of one site shows the day as billing counts it, other sites included.
Times are in each visit's site's time zone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from server.domain.billing import (
    counted_minutes,
    ended_at_closing,
    first_of,
    statements,
    stay_of,
)
from server.domain.spreadsheets import cell, csv_text
from server.settings import BillingSection
from server.store.models import Member, Site, Visit, epoch_microseconds, microseconds

#: How a visit ended.
TAP, AUTO, STAFF, OPEN = "tap", "auto", "staff", "open"
#: A day as billing counts it; NONE: the day bills nothing.
HALF, FULL, NONE = "half", "full", "none"
#: What the export says of an erased member (a tombstone).
ANONYMOUS = "anonyme"

CSV_COLUMNS = (
    "member_id",
    "member",
    "site",
    "start",
    "end",
    "ended_by",
    "hours",
    "counted_hours",
    "day_kind",
)
#: The Excel variant's headers and words, for a French spreadsheet.
FRENCH_COLUMNS = (
    "n° membre",
    "membre",
    "lieu",
    "début",
    "fin",
    "fin par",
    "heures",
    "heures comptées",
    "journée",
)
FRENCH_ENDINGS = {TAP: "badge", AUTO: "fermeture", STAFF: "équipe", OPEN: "en cours"}
FRENCH_KINDS = {HALF: "demi-journée", FULL: "journée", NONE: "aucune"}


@dataclass(frozen=True)
class VisitFilter:
    """Which visits: those that began from `start` to `end` (local days, inclusive), at
    the sites `site_ids` (None: every site), of one member if `member_id` is given."""

    start: date
    end: date
    site_ids: tuple[int, ...] | None = None
    member_id: int | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found = [Visit.local_day >= self.start, Visit.local_day <= self.end]
        if self.site_ids is not None:
            found.append(Visit.site_id.in_(self.site_ids))
        if self.member_id is not None:
            found.append(Visit.member_id == self.member_id)
        return found


@dataclass(frozen=True)
class VisitRecord:
    """One visit, for an auditor: local times, how it ended, its minutes and its day."""

    id: int
    member_id: int
    member_name: str | None  # None: the member was erased (a tombstone)
    site_slug: str
    site_name: str
    day: date  # the local day it began, which billing counts it in
    started_at: datetime  # in the site's time zone
    ended_at: datetime | None  # None while under way
    ended_by: str  # TAP, AUTO (closing time), STAFF (a correction), OPEN
    minutes: int  # its length: until closing time, or until now while under way
    counted_minutes: int  # what it adds to its day for billing
    day_kind: str  # HALF, FULL or NONE, as the member's statement counts the day

    @property
    def hours(self) -> Decimal:
        return _hours(self.minutes)

    @property
    def counted_hours(self) -> Decimal:
        return _hours(self.counted_minutes)


def _hours(minutes: int) -> Decimal:
    return (Decimal(minutes) / 60).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def count_visits(session: Session, which: VisitFilter) -> int:
    return session.scalar(select(func.count(Visit.id)).where(*which.conditions())) or 0


def visit_records(
    session: Session,
    which: VisitFilter,
    now: datetime,
    rules: BillingSection,
    offset: int = 0,
    limit: int | None = None,
) -> list[VisitRecord]:
    """The visits `which` selects, in the order they began, from `offset` on."""
    query = (
        select(
            Visit.id,
            Visit.member_id,
            Visit.local_day,
            Visit.checked_in_at,
            Visit.checked_out_at,
            Visit.closes_at,
            Visit.ended_by,
            Visit.minutes,
            epoch_microseconds(Visit.checked_in_at).label("began"),
            ended_at_closing(now).label("at_closing"),
            Member.display_name,
            Member.given_name,
            Member.family_name,
            Member.erased_at,
            Site.slug,
            Site.name,
            Site.timezone,
        )
        .join(Member, Member.id == Visit.member_id)
        .join(Site, Site.id == Visit.site_id)
        .where(*which.conditions())
        .order_by(Visit.checked_in_at, Visit.id)
        .offset(offset)
        .limit(limit)
    )
    rows = session.execute(query).all()
    kinds = day_kinds(session, {(row.member_id, row.local_day) for row in rows}, now, rules)
    until = microseconds(now)
    zones: dict[str, ZoneInfo] = {}
    return [_record(row, kinds, zones, now, until, rules) for row in rows]


def _record(
    row: Any,  # a row of visit_records' query
    kinds: dict[tuple[int, date], str],
    zones: dict[str, ZoneInfo],
    now: datetime,
    until: int,
    rules: BillingSection,
) -> VisitRecord:
    zone = zones.get(row.timezone) or zones.setdefault(row.timezone, ZoneInfo(row.timezone))
    closing = bool(row.at_closing)
    ended = row.checked_out_at or (row.closes_at if closing else None)
    if closing:
        ended_by = AUTO
    elif ended is None:
        ended_by = OPEN
    else:
        ended_by = row.ended_by.value if row.ended_by is not None else STAFF
    minutes = row.minutes
    if minutes is None:  # under way, or left open past closing time: as billing measures
        minutes = max(((ended or now) - row.checked_in_at) // timedelta(minutes=1), 0)
    if row.erased_at is not None:
        name = None
    else:
        name = row.display_name or f"{row.given_name} {row.family_name}".strip()
    return VisitRecord(
        id=row.id,
        member_id=row.member_id,
        member_name=name,
        site_slug=row.slug,
        site_name=row.name,
        day=row.local_day,
        started_at=row.checked_in_at.astimezone(zone),
        ended_at=None if ended is None else ended.astimezone(zone),
        ended_by=ended_by,
        minutes=minutes,
        counted_minutes=counted_minutes(
            stay_of(row.local_day, row.minutes, row.began, closing, until), rules
        ),
        day_kind=kinds.get((row.member_id, row.local_day), NONE),
    )


def day_kinds(
    session: Session, days: Iterable[tuple[int, date]], now: datetime, rules: BillingSection
) -> dict[tuple[int, date], str]:
    """(member, day) -> HALF or FULL as the member's statement of that month bills the
    day (closed, or provisional as of `now`); a day missing from the answer bills nothing.
    A few queries per month, whatever the number of members."""
    by_month: dict[date, set[int]] = defaultdict(set)
    for member_id, day in days:
        by_month[first_of(day)].add(member_id)
    found: dict[tuple[int, date], str] = {}
    for month, ids in sorted(by_month.items()):
        members = session.execute(
            select(Member.id, Member.given_name, Member.family_name).where(Member.id.in_(ids))
        ).all()
        for one in statements(session, members, month, now, rules):
            for billed in one.days:
                found[(one.member_id, billed.day)] = billed.kind
    return found


def visits_csv(records: Sequence[VisitRecord], excel: bool = False) -> str:
    """One line per visit. `excel`: what a French Excel opens cleanly (`;`, decimal comma,
    a BOM so it reads UTF-8, French headers and words)."""
    endings = FRENCH_ENDINGS if excel else {}
    kinds = FRENCH_KINDS if excel else {}
    rows = (
        [
            record.member_id,
            cell(record.member_name or ANONYMOUS),
            cell(record.site_name),
            f"{record.started_at:%Y-%m-%d %H:%M}",
            "" if record.ended_at is None else f"{record.ended_at:%Y-%m-%d %H:%M}",
            endings.get(record.ended_by, record.ended_by),
            str(record.hours).replace(".", ",") if excel else str(record.hours),
            str(record.counted_hours).replace(".", ",") if excel else str(record.counted_hours),
            kinds.get(record.day_kind, record.day_kind),
        ]
        for record in records
    )
    return csv_text(FRENCH_COLUMNS if excel else CSV_COLUMNS, rows, excel)
