"""Billing: what each member owes for a month, from their visits and their plans.

The rules (the `[billing]` settings; prices in cents, VAT included):

- A member's presence is summed per calendar day in the site's time zone; a visit
  belongs to the day it started, and visits at several sites the same day add up.
- A visit shorter than `min_visit_minutes` counts for nothing.
- A visit nobody tapped out of (ended at closing time) adds no hours, but makes its day
  at least a half day (a full day with `auto_checkout_day = "full"`).
- A day with at most `half_day_hours` of presence is a half day; more is a full day.
- The plan in force on a day prices it: `payg` at the half-day or full-day price;
  `pack` uses half-day credits (a full day two, a full day with one credit left uses it
  and pays the other half at the `payg` half-day price, no credit left pays `payg`);
  `monthly` is a fixed price for the month, prorated by its days on the plan; `free`
  costs nothing. Packs are bought at the front desk; their credits carry over months.
- Staff close a month: its statements are stored and never change afterwards, whatever
  tap arrives late; the next month's pack balance starts from them.

Nothing here knows about HTTP: the staff pages, the member's page and the command line
all read statements through `statement()` and `month_statements()`.
"""

from __future__ import annotations

import calendar
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session

from server.domain.refusals import N_, Refusal
from server.domain.spreadsheets import cell, csv_text
from server.settings import BillingSection
from server.store.db import driver_rows
from server.store.models import (
    MINUTE,
    BillingClosure,
    GuestDay,
    Member,
    MemberPlan,
    PackPurchase,
    Plan,
    Statement,
    Visit,
    VisitEnd,
    epoch_microseconds,
    microseconds,
)

HALF, FULL = "half", "full"


class BillingError(Refusal):
    """A billing action that cannot be done as asked."""

    MESSAGES = {
        "not_over": N_("Ce mois n'est pas encore fini : il se clôt une fois passé."),
        "already_closed": N_("Ce mois est déjà clos."),
        "closed": N_("Ce mois est clos : ses relevés sont définitifs."),
        # Invoices (server/domain/invoices.py).
        "no_identity": N_(
            "Impossible d'émettre des factures : l'identité légale de l'espace est "
            "incomplète dans la configuration (manque %(missing)s). Rien n'a été clos."
        ),
        "vat_mismatch": N_(
            "Impossible d'émettre des factures : l'espace est exonéré de TVA "
            "([invoicing] vat_exempt) mais [billing] vat_percent n'est pas 0. Rien n'a été clos."
        ),
        "buyer_address": N_(
            "Impossible d'émettre les factures : ces membres facturés comme "
            "professionnels n'ont pas d'adresse complète : %(members)s. Rien n'a été clos."
        ),
        "bad_siren": N_(
            "« %(value)s » n'est ni un SIREN (9 chiffres) ni un SIRET (14 chiffres) valide."
        ),
        "credit_on_credit_note": N_("Un avoir se fait sur une facture, pas sur un avoir."),
        "no_reason": N_("Un avoir demande un motif."),
        "credit_amount": N_(
            "Le montant d'un avoir doit être positif et au plus ce qui reste de la "
            "facture (%(left)s €)."
        ),
        "other_entity": N_(
            "Cette facture a été émise par une autre entité légale que celle configurée."
        ),
        "payment_on_credit_note": N_(
            "Un avoir ne se paie pas : enregistrez le paiement sur la facture."
        ),
        "bad_method": N_("Mode de paiement inconnu : %(method)s."),
        "already_paid": N_("Cette facture est déjà réglée."),
        "payment_amount": N_(
            "Le montant d'un paiement doit être positif et au plus ce qui reste dû (%(left)s €)."
        ),
        "payment_in_future": N_("La date d'un paiement ne peut pas être dans le futur."),
    }


@dataclass(frozen=True)
class Stay:
    """One visit as billing sees it: its local day, and its minutes (None: ended at
    closing time, nobody tapped out)."""

    day: date
    minutes: int | None


@dataclass(frozen=True)
class Plans:
    """A member's plans over time: each plan holds from its first day to the next one's."""

    changes: tuple[tuple[date, Plan], ...]  # (first day, plan), in order

    @classmethod
    def of(cls, rows: Iterable[Any]) -> Plans:
        """From rows with `starts_on` and `plan` (`MemberPlan`s or plain rows)."""
        return cls(tuple(sorted(((row.starts_on, row.plan) for row in rows), key=_first_day)))

    @classmethod
    def always(cls, plan: Plan) -> Plans:
        return cls(((date.min, plan),))

    def on(self, day: date) -> Plan | None:
        index = bisect_right(self.changes, day, key=_first_day)
        return self.changes[index - 1][1] if index else None

    def days_on(self, plan: Plan, first: date, last: date) -> int:
        """How many days from `first` to `last` (inclusive) are on `plan`."""
        days = 0
        for n, (starts, held) in enumerate(self.changes):
            if held is plan:
                ends = (
                    self.changes[n + 1][0] - timedelta(days=1)
                    if n + 1 < len(self.changes)
                    else last
                )
                days += max((min(ends, last) - max(starts, first)).days + 1, 0)
        return days


def _first_day(change: tuple[date, Plan]) -> date:
    return change[0]


@dataclass(frozen=True)
class Day:
    """A day of presence, priced."""

    day: date
    minutes: int  # the minutes that count
    auto: bool  # a visit of the day ended at closing time
    kind: str  # HALF or FULL
    plan: str
    credits: int = 0  # pack credits used
    price_cents: int = 0
    how: str = ""  # "payg", "pack", "pack+payg", "monthly", "free"


@dataclass(frozen=True)
class GuestCharge:
    """A guest's day billed to their host (`[billing] guest_days = "host"`)."""

    day: date
    guest: str
    minutes: int
    kind: str  # HALF or FULL
    price_cents: int


@dataclass(frozen=True)
class Purchase:
    bought_on: date
    credits: int
    price_cents: int


@dataclass
class MonthStatement:
    """A member's month: each billed day, packs bought, the monthly fee, the totals."""

    member_id: int
    month: date
    member_name: str
    days: list[Day] = field(default_factory=list)
    purchases: list[Purchase] = field(default_factory=list)
    guests: list[GuestCharge] = field(default_factory=list)
    monthly_days: int = 0
    monthly_cents: int = 0
    credits_in: int = 0
    credits_used: int = 0
    credits_left: int = 0
    total_cents: int = 0
    vat_cents: int = 0
    closed_at: datetime | None = None

    @property
    def excl_vat_cents(self) -> int:
        return self.total_cents - self.vat_cents

    @property
    def half_days(self) -> int:
        return sum(1 for day in self.days if day.kind == HALF)

    @property
    def full_days(self) -> int:
        return sum(1 for day in self.days if day.kind == FULL)

    @property
    def is_empty(self) -> bool:
        return not (
            self.days or self.purchases or self.guests or self.monthly_days or self.credits_left
        )

    def detail(self) -> dict[str, object]:
        """What a closed statement keeps (JSON)."""
        purchases = [{**asdict(p), "bought_on": p.bought_on.isoformat()} for p in self.purchases]
        return {
            "days": [{**asdict(d), "day": d.day.isoformat()} for d in self.days],
            "purchases": purchases,
            "guests": [{**asdict(g), "day": g.day.isoformat()} for g in self.guests],
            "monthly_days": self.monthly_days,
            "monthly_cents": self.monthly_cents,
            "credits_in": self.credits_in,
            "credits_used": self.credits_used,
        }

    @classmethod
    def of(cls, stored: Statement) -> MonthStatement:
        detail: dict[str, object] = stored.detail
        days = [Day(**{**d, "day": date.fromisoformat(d["day"])}) for d in detail["days"]]  # type: ignore[attr-defined]
        purchases = [
            Purchase(**{**p, "bought_on": date.fromisoformat(p["bought_on"])})
            for p in detail["purchases"]  # type: ignore[attr-defined]
        ]
        guests = [
            GuestCharge(**{**g, "day": date.fromisoformat(g["day"])})
            for g in detail.get("guests", [])  # type: ignore[attr-defined]
        ]
        return cls(
            member_id=stored.member_id,
            month=stored.month,
            member_name=stored.member_name,
            days=days,
            purchases=purchases,
            guests=guests,
            monthly_days=int(detail["monthly_days"]),  # type: ignore[call-overload]
            monthly_cents=int(detail["monthly_cents"]),  # type: ignore[call-overload]
            credits_in=int(detail["credits_in"]),  # type: ignore[call-overload]
            credits_used=int(detail["credits_used"]),  # type: ignore[call-overload]
            credits_left=stored.credits_left,
            total_cents=stored.total_cents,
            vat_cents=stored.vat_cents,
            closed_at=stored.closed_at,
        )


# -- the rules, on plain values -----------------------------------------------------------


def round_cents(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def vat_of(total_cents: int, vat_percent: float) -> int:
    """The VAT inside a price that includes it."""
    rate = Decimal(str(vat_percent))
    return total_cents - round_cents(Decimal(total_cents) * 100 / (100 + rate))


def counted_minutes(stay: Stay, rules: BillingSection) -> int:
    """The minutes a stay adds to its day: none when it ended at closing time (nobody
    tapped out) or is shorter than `min_visit_minutes`."""
    if stay.minutes is None or stay.minutes < rules.min_visit_minutes:
        return 0
    return stay.minutes


def presence_days(
    stays: Iterable[Stay], rules: BillingSection
) -> list[tuple[date, int, bool, str]]:
    """Each day with billable presence: (day, minutes counted, ended at closing, kind)."""
    minutes: dict[date, int] = defaultdict(int)
    auto: dict[date, bool] = defaultdict(bool)
    for stay in stays:
        if stay.minutes is None:
            auto[stay.day] = True
        else:
            minutes[stay.day] += counted_minutes(stay, rules)
    days = []
    for day in sorted(minutes.keys() | auto.keys()):
        counted, closed = minutes[day], auto[day]
        if counted == 0 and not closed:
            continue
        full = counted > rules.half_day_hours * 60 or (closed and rules.auto_checkout_day == FULL)
        days.append((day, counted, closed, FULL if full else HALF))
    return days


@cache
def month_days(month: date) -> tuple[date, ...]:
    last = calendar.monthrange(month.year, month.month)[1]
    return tuple(month.replace(day=n) for n in range(1, last + 1))


def price_month(
    member_id: int,
    member_name: str,
    month: date,
    stays: Iterable[Stay],
    plans: Plans,
    purchases: Sequence[Purchase],
    credits_in: int,
    rules: BillingSection,
) -> MonthStatement:
    """Price a member's month: the days, the packs bought, the monthly fee, the totals."""
    statement = MonthStatement(member_id, month, member_name, credits_in=credits_in)
    statement.purchases = sorted(purchases, key=lambda p: p.bought_on)
    balance = credits_in
    bought = iter(statement.purchases)
    upcoming = next(bought, None)
    for day, minutes, auto, kind in presence_days(stays, rules):
        while upcoming is not None and upcoming.bought_on <= day:
            balance += upcoming.credits
            upcoming = next(bought, None)
        plan = plans.on(day) or Plan.PAYG
        needed = 2 if kind == FULL else 1
        payg = rules.payg_full_day if kind == FULL else rules.payg_half_day
        credits, price, how = 0, 0, plan.value
        if plan is Plan.PAYG:
            price = payg
        elif plan is Plan.PACK:
            credits = min(needed, balance)
            balance -= credits
            if credits == needed:
                how = "pack"
            elif credits:
                price, how = rules.payg_half_day, "pack+payg"
            else:
                price, how = payg, "payg"
        statement.days.append(Day(day, minutes, auto, kind, plan.value, credits, price, how))
    for rest in [upcoming, *bought]:
        if rest is not None:
            balance += rest.credits
    statement.monthly_days = plans.days_on(Plan.MONTHLY, month, month_days(month)[-1])
    statement.monthly_cents = round_cents(
        Decimal(rules.monthly_price) * statement.monthly_days / len(month_days(month))
    )
    statement.credits_used = sum(day.credits for day in statement.days)
    statement.credits_left = balance
    statement.total_cents = (
        sum(day.price_cents for day in statement.days)
        + sum(p.price_cents for p in statement.purchases)
        + statement.monthly_cents
    )
    statement.vat_cents = vat_of(statement.total_cents, rules.vat_percent)
    return statement


# -- from the database ---------------------------------------------------------------------


def first_of(day: date) -> date:
    return day.replace(day=1)


def previous_month(month: date) -> date:
    return (month.replace(day=1) - timedelta(days=1)).replace(day=1)


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def _stays(
    session: Session, member_ids: Collection[int] | None, first: date, last: date, now: datetime
) -> dict[tuple[int, date], list[Stay]]:
    """Stays by (member, month) for visits from the month `first` to the month `last`,
    in one query (`Visit.local_day` is the day in the site's time zone), read as the
    driver gives the rows: a month of a network is 80,000 visits."""
    query = select(
        Visit.member_id,
        Visit.local_day,
        Visit.minutes,
        epoch_microseconds(Visit.checked_in_at),
        ended_at_closing(now),
    ).where(Visit.local_day >= first, Visit.local_day < next_month(last))
    if member_ids is not None:
        query = query.where(Visit.member_id.in_(member_ids))
    until = microseconds(now)
    days: dict[Any, tuple[date, date]] = {}  # as the driver gives it -> (day, its month)
    found: dict[tuple[int, date], list[Stay]] = defaultdict(list)
    for member_id, stored_day, minutes, began, at_closing in driver_rows(
        session.connection(), query
    ):
        day, month = days.get(stored_day) or days.setdefault(stored_day, _day_and_month(stored_day))
        found[(member_id, month)].append(stay_of(day, minutes, began, at_closing, until))
    return found


def ended_at_closing(now: datetime) -> ColumnElement[bool]:
    """Whether a visit was ended by closing time, nobody tapping out: ended so, or left
    open past its closing time (the scheduled job has not written it down yet)."""
    overdue = Visit.checked_out_at.is_(None) & (Visit.closes_at <= now)
    return (Visit.ended_by == VisitEnd.AUTO) | overdue


def stay_of(day: date, minutes: int | None, began: int, at_closing: bool, until: int) -> Stay:
    """A visit as billing sees it, from its stored length (`Visit.minutes`), its start
    and the end of `ended_at_closing`, times in microseconds (`epoch_microseconds`):
    no minutes when closing time ended it, until `until` (now) while under way."""
    if at_closing:
        return Stay(day, None)  # nobody tapped out: closing time ended it
    if minutes is None:
        return Stay(day, (until - began) // MINUTE)  # under way: until now
    return Stay(day, minutes)


def _day_and_month(stored: date | str) -> tuple[date, date]:
    day = date.fromisoformat(stored) if isinstance(stored, str) else stored
    return day, first_of(day)


def _by_member(rows: Iterable[Any]) -> dict[int, list[Any]]:
    grouped: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[row.member_id].append(row)
    return grouped


def _among(column: Any, ids: Collection[int] | None) -> ColumnElement[bool]:
    """`column IN ids`, or no condition at all."""
    return column.in_(ids) if ids is not None else true()


def is_closed(session: Session, month: date) -> bool:
    return session.get(BillingClosure, first_of(month)) is not None


def statements(
    session: Session, members: Sequence[Billed], month: date, now: datetime, rules: BillingSection
) -> list[MonthStatement]:
    """The members' statements for a month: the stored ones once the month is closed,
    else computed now (provisional), each pack balance carried from the member's last
    closed statement. A few queries whatever the number of members."""
    month = first_of(month)
    ids = [member.id for member in members]
    only = ids if len(ids) <= 500 else None  # past that, reading everyone's rows is cheaper
    stored = {
        s.member_id: s
        for s in session.scalars(
            select(Statement).where(Statement.month == month, _among(Statement.member_id, only))
        )
    }
    closures = {c.month: c for c in session.scalars(select(BillingClosure))}
    latest = (
        select(Statement.member_id, func.max(Statement.month).label("month"))
        .where(Statement.month < month, _among(Statement.member_id, only))
        .group_by(Statement.member_id)
        .subquery()
    )
    # Plain rows, not objects: a statement's detail or a whole plan is not needed here.
    last = {
        row.member_id: row
        for row in session.execute(
            select(Statement.member_id, Statement.month, Statement.credits_left).join(
                latest,
                (Statement.member_id == latest.c.member_id) & (Statement.month == latest.c.month),
            )
        )
    }
    purchases = _by_member(
        session.execute(
            select(
                PackPurchase.member_id,
                PackPurchase.bought_on,
                PackPurchase.credits,
                PackPurchase.price_cents,
            )
            .where(_among(PackPurchase.member_id, only))
            .order_by(PackPurchase.bought_on, PackPurchase.id)
        )
    )
    plans = _by_member(
        session.execute(
            select(MemberPlan.member_id, MemberPlan.starts_on, MemberPlan.plan).where(
                _among(MemberPlan.member_id, only)
            )
        )
    )
    starts: dict[int, date] = {}
    for member_id in ids:
        previous = last.get(member_id)
        start = next_month(previous.month) if previous is not None else month
        if previous is None and purchases.get(member_id):
            start = min(start, first_of(purchases[member_id][0].bought_on))
        starts[member_id] = start
    stays = _stays(session, only, month, month, now)
    earlier = [m for m, start in starts.items() if start < month and m not in stored]
    if earlier:  # pack balances carried through months no statement closed
        first = min(starts[m] for m in earlier)
        stays.update(_stays(session, earlier, first, month - timedelta(days=1), now))
    # A member who came as a guest before joining: those days were guest days.
    as_guest = select(GuestDay.guest_id, GuestDay.day).where(_among(GuestDay.guest_id, only))
    for guest_id, day in session.execute(as_guest):
        key = (guest_id, first_of(day))
        if key in stays:
            stays[key] = [stay for stay in stays[key] if stay.day != day]
    charges = _guest_charges(session, only, month, now, rules)
    found = []
    for member in members:
        if member.id in stored:
            found.append(MonthStatement.of(stored[member.id]))
            continue
        previous = last.get(member.id)
        credits = previous.credits_left if previous is not None else 0
        history = Plans.of(plans.get(member.id, []))
        bought = purchases.get(member.id, [])
        result = _chain(
            member, month, starts[member.id], credits, bought, history, stays, closures, rules
        )
        if result.closed_at is None and charges.get(member.id):
            result.guests = charges[member.id]
            result.total_cents += sum(charge.price_cents for charge in result.guests)
            result.vat_cents = vat_of(result.total_cents, rules.vat_percent)
        found.append(result)
    return found


def _guest_charges(
    session: Session,
    host_ids: Collection[int] | None,
    month: date,
    now: datetime,
    rules: BillingSection,
) -> dict[int, list[GuestCharge]]:
    """Host -> their guests' days in the month, priced at the `payg` prices by each
    guest's own presence that day (nothing when guest days are free)."""
    if rules.guest_days != "host":
        return {}
    invited = session.execute(
        select(GuestDay.host_id, GuestDay.guest_id, GuestDay.day, Member.given_name)
        .join(Member, Member.id == GuestDay.guest_id)
        .where(
            _among(GuestDay.host_id, host_ids),
            GuestDay.host_id.is_not(None),
            GuestDay.day >= month,
            GuestDay.day < next_month(month),
        )
        .order_by(GuestDay.day, GuestDay.id)
    ).all()
    if not invited:
        return {}
    stays = _stays(session, {row.guest_id for row in invited}, month, month, now)
    present: dict[tuple[int, date], tuple[int, str]] = {}
    for (guest_id, _month), theirs in stays.items():
        for day, minutes, _auto, kind in presence_days(theirs, rules):
            present[(guest_id, day)] = (minutes, kind)
    charges: dict[int, list[GuestCharge]] = defaultdict(list)
    for host_id, guest_id, day, name in invited:
        if host_id is not None and (guest_id, day) in present:
            minutes, kind = present[(guest_id, day)]
            price = rules.payg_full_day if kind == FULL else rules.payg_half_day
            charges[host_id].append(GuestCharge(day, name, minutes, kind, price))
    return charges


def _chain(
    member: Billed,
    month: date,
    start: date,
    credits: int,
    purchases: Sequence[Any],
    plans: Plans,
    stays: dict[tuple[int, date], list[Stay]],
    closures: dict[date, BillingClosure],
    rules: BillingSection,
) -> MonthStatement:
    """Price the months from `start` to `month`, carrying the pack balance."""
    name = f"{member.given_name} {member.family_name}".strip()
    current = start
    while True:
        closed = current in closures
        bought = [
            Purchase(p.bought_on, p.credits, p.price_cents)
            for p in purchases
            if first_of(p.bought_on) == current
        ]
        # A closed month without a statement had nothing to bill when it was closed, and
        # stays so: a late tap does not reopen it.
        these = [] if closed else stays.get((member.id, current), [])
        result = price_month(member.id, name, current, these, plans, bought, credits, rules)
        if current >= month:
            if closed:
                return MonthStatement(
                    member.id,
                    month,
                    name,
                    credits_in=credits,
                    credits_left=credits,
                    closed_at=closures[current].closed_at,
                )
            return result
        credits = credits if closed else result.credits_left
        current = next_month(current)


def statement(
    session: Session, member: Member, month: date, now: datetime, rules: BillingSection
) -> MonthStatement:
    """A member's statement for a month (see `statements`)."""
    return statements(session, [member], month, now, rules)[0]


class Billed(Protocol):
    """What a statement needs of a member: a `Member`, or a plain row of these columns."""

    id: int
    given_name: str
    family_name: str


def billed_members(session: Session, month: date) -> list[Billed]:
    """Members who may owe something for `month`: not erased before it (plain rows)."""
    start = datetime.combine(month, time(0), ZoneInfo("UTC"))
    return list(
        session.execute(
            select(Member.id, Member.given_name, Member.family_name)
            .where(Member.is_guest.is_(False))
            .where(Member.erased_at.is_(None) | (Member.erased_at >= start))
            .order_by(Member.family_name, Member.given_name, Member.id)
        )
    )


def month_statements(
    session: Session, month: date, now: datetime, rules: BillingSection
) -> list[MonthStatement]:
    """Every member's statement for a month that has something on it."""
    found = statements(session, billed_members(session, month), first_of(month), now, rules)
    return [one for one in found if not one.is_empty]


def close_month(
    session: Session, month: date, today: date, now: datetime, actor: str, rules: BillingSection
) -> list[MonthStatement]:
    """Close a month that is over: store each member's statement, final from now on."""
    month = first_of(month)
    if next_month(month) > today:
        raise BillingError("not_over")
    if is_closed(session, month):
        raise BillingError("already_closed")
    statements = month_statements(session, month, now, rules)
    for one in statements:
        session.add(
            Statement(
                member_id=one.member_id,
                month=month,
                member_name=one.member_name,
                total_cents=one.total_cents,
                vat_cents=one.vat_cents,
                credits_left=one.credits_left,
                detail=one.detail(),
                closed_at=now,
                closed_by=actor,
            )
        )
        one.closed_at = now
    session.add(BillingClosure(month=month, closed_at=now, closed_by=actor))
    session.flush()
    return statements


def record_pack(
    session: Session, member: Member, day: date, actor: str, rules: BillingSection
) -> PackPurchase:
    """A pack bought at the front desk today, at today's configured size and price."""
    if is_closed(session, day):
        raise BillingError("closed")
    purchase = PackPurchase(
        member_id=member.id,
        bought_on=day,
        credits=rules.pack_credits,
        price_cents=rules.pack_price,
        recorded_by=actor,
    )
    session.add(purchase)
    session.flush()
    return purchase


# -- exports ------------------------------------------------------------------------------

CSV_COLUMNS = (
    "month",
    "member_id",
    "member",
    "half_days",
    "full_days",
    "credits_used",
    "credits_left",
    "total_excl_vat",
    "vat",
    "total_incl_vat",
    "status",
    "guest_days",  # guests' days billed to this member (added last: columns only grow)
)


def money(cents: int, decimal_mark: str = ".") -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}{decimal_mark}{abs(cents) % 100:02d}"


#: The statements CSV's Excel headers, in the order of CSV_COLUMNS.
CSV_COLUMNS_FR = (
    "mois",
    "n° membre",
    "membre",
    "demi-journées",
    "journées",
    "crédits utilisés",
    "crédits restants",
    "total HT",
    "TVA",
    "total TTC",
    "statut",
    "journées d'invités",
)
#: A statement's status: plain (a code), and in French for Excel.
STATUS_FR = {"closed": "clos", "provisional": "provisoire"}


def statements_csv(statements: Iterable[MonthStatement], excel: bool = False) -> str:
    """One line per member and month, for a program or (`excel`) a French spreadsheet."""
    mark = "," if excel else "."
    rows = []
    for one in statements:
        status = "closed" if one.closed_at else "provisional"
        rows.append(
            [
                f"{one.month:%Y-%m}",
                one.member_id,
                cell(one.member_name),
                one.half_days,
                one.full_days,
                one.credits_used,
                one.credits_left,
                money(one.excl_vat_cents, mark),
                money(one.vat_cents, mark),
                money(one.total_cents, mark),
                STATUS_FR[status] if excel else status,
                len(one.guests),
            ]
        )
    return csv_text(CSV_COLUMNS_FR if excel else CSV_COLUMNS, rows, excel)
