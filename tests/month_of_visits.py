"""A month of visits (October 2026) with every case billing tells apart, and what the
statements say of it: for the tests that check the visits export and the read API agree
with the statements."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from server.domain.billing import statement
from server.domain.members import erase_member
from server.domain.staff import add_staff
from server.settings import BillingSection
from server.store.models import Member, MemberPlan, Plan, StaffRole
from tests.factories import PASSWORD, badge_tap, make_badge, make_kiosk, make_member, make_site

PARIS = ZoneInfo("Europe/Paris")
OCTOBER = date(2026, 10, 1)
#: A name a spreadsheet would run as a formula.
FORMULA = '=HYPERLINK("http://evil.example")'


def paris(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 10, day, hour, minute, tzinfo=PARIS)


@dataclass(frozen=True)
class Month:
    ana: int
    bob: int
    zoe: int  # erased after the month
    formula: int  # named like a spreadsheet formula
    main: str  # the sites' slugs
    annex: str


def arrange_month(session: Session, clock: Any) -> Month:
    """October 2026 at two sites open weekdays 9:00-19:00:

    - Ana (payg): the 5th 9:00-12:00 (half), the 6th 9:00-17:30 (full), the 7th
      9:00-9:10 (too short: nothing), the 8th 9:00-11:00 here and 14:00-17:00 at the
      annex (full, the two sites together), the 9th in at 9:00 and never out (ended at
      closing: half, no hours);
    - Bob (pack, no pack bought): the 5th 9:00-13:00 (half: 4 h is not more than 4), the
      12th 9:00-9:05 and 14:00-18:00 (half, the 5 minutes not counted);
    - Zoé: the 6th 9:00-15:00 (full), then erased (in November);
    - a member named like a formula: the 13th 10:00-10:30 (half).
    """
    main = make_site(session, slug="main", name="La Cantine")
    annex = make_site(session, slug="annex", name="L'Annexe")
    door, _ = make_kiosk(session, main)
    other_door, _ = make_kiosk(session, annex)
    ana = make_member(session, given_name="Ana", display_name="Ana L.")
    bob = make_member(session, given_name="Bob")
    bob.plans.append(MemberPlan(plan=Plan.PACK, starts_on=date(2026, 10, 1)))
    zoe = make_member(session, given_name="Zoé", family_name="Secret", email="zoe@example.org")
    formula = make_member(session, given_name=FORMULA, display_name=FORMULA)
    badges = {m.id: make_badge(session, m) for m in (ana, bob, zoe, formula)}

    def visit(member: Member, *times: datetime, kiosk: Any = door) -> None:
        for when in times:
            badge_tap(session, kiosk, badges[member.id], when.astimezone(PARIS))

    visit(ana, paris(5, 9), paris(5, 12))
    visit(ana, paris(6, 9), paris(6, 17, 30))
    visit(ana, paris(7, 9), paris(7, 9, 10))
    visit(ana, paris(8, 9), paris(8, 11))
    visit(ana, paris(8, 14), paris(8, 17), kiosk=other_door)
    visit(ana, paris(9, 9))
    visit(bob, paris(5, 9), paris(5, 13))
    visit(bob, paris(12, 9), paris(12, 9, 5), paris(12, 14), paris(12, 18))
    visit(zoe, paris(6, 9), paris(6, 15))
    visit(formula, paris(13, 10), paris(13, 10, 30))
    erase_member(session, zoe, clock())
    add_staff(session, "nadine@example.org", "Nadine", StaffRole.ADMIN, PASSWORD, clock())
    add_staff(session, "desk@example.org", "Desk", StaffRole.STAFF, PASSWORD, clock())
    session.commit()
    return Month(ana.id, bob.id, zoe.id, formula.id, main.slug, annex.slug)


def statement_days(
    session: Session, month: Month, now: datetime, rules: BillingSection
) -> dict[tuple[int, date], tuple[str, int]]:
    """(member, day) -> (kind, minutes that count) as each member's October statement says."""
    found = {}
    for member_id in (month.ana, month.bob, month.zoe, month.formula):
        member = session.get(Member, member_id)
        assert member is not None
        for day in statement(session, member, OCTOBER, now, rules).days:
            found[(member_id, day.day)] = (day.kind, day.minutes)
    return found


def days_of(lines: list[tuple[int, date, str, Decimal]]) -> dict[tuple[int, date], tuple[str, int]]:
    """(member, day) -> (kind, minutes that count) from visits given as (member, day, day
    kind, counted hours), leaving out the days that bill nothing ("none")."""
    kinds: dict[tuple[int, date], set[str]] = defaultdict(set)
    hours: dict[tuple[int, date], Decimal] = defaultdict(Decimal)
    for member_id, day, kind, counted in lines:
        kinds[(member_id, day)].add(kind)
        hours[(member_id, day)] += counted
    found = {}
    for key, seen in kinds.items():
        assert len(seen) == 1, f"visits of the same day disagree on its kind: {key} {seen}"
        (kind,) = seen
        if kind != "none":
            found[key] = (kind, int(hours[key] * 60))
    return found
