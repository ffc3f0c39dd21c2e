"""Billing rules, each with a hand-computed expectation (the default `[billing]`
settings: half day 10.00, full day 18.00, packs of 10 credits for 90.00, monthly 150.00,
20 % VAT included, half day up to 4 h, visits under 15 min bill nothing)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session

from server.domain.billing import (
    FULL,
    HALF,
    BillingError,
    Plans,
    Purchase,
    Stay,
    close_month,
    month_statements,
    price_month,
    record_pack,
    statement,
    statements_csv,
    vat_of,
)
from server.domain.members import erase_member
from server.settings import BillingSection
from server.store.models import MemberPlan, Plan
from tests.factories import badge_tap, make_badge, make_kiosk, make_member, make_site

RULES = BillingSection()
PARIS = ZoneInfo("Europe/Paris")
NOV = date(2026, 11, 1)


def day(n: int) -> date:
    return date(2026, 11, n)


PAYG = Plans.always(Plan.PAYG)


def priced(stays: list[Stay], plans: Plans = PAYG, credits_in: int = 0, **rules: Any) -> Any:
    settings = RULES.model_copy(update=rules)
    return price_month(1, "Alice", NOV, stays, plans, [], credits_in, settings)


# -- one rule at a time, on plain values ---------------------------------------------------


def test_exactly_four_hours_is_a_half_day_and_a_minute_more_a_full_day() -> None:
    month = priced([Stay(day(2), 240), Stay(day(3), 241)])
    assert [(d.kind, d.price_cents) for d in month.days] == [(HALF, 1000), (FULL, 1800)]
    assert month.total_cents == 2800


def test_two_short_visits_add_up_to_a_full_day_and_a_very_short_one_bills_nothing() -> None:
    month = priced(
        [
            Stay(day(2), 150),
            Stay(day(2), 120),
            Stay(day(3), 10),
            Stay(day(4), 10),
            Stay(day(4), 180),
        ]
    )
    # 2 h 30 + 2 h = 4 h 30: full. 10 min alone: nothing. 10 min + 3 h: 3 h, a half day.
    assert [(d.day, d.minutes, d.kind) for d in month.days] == [
        (day(2), 270, FULL),
        (day(4), 180, HALF),
    ]
    assert month.total_cents == 1800 + 1000


def test_a_forgotten_check_out_adds_no_hours_but_makes_at_least_a_half_day() -> None:
    forgot = [Stay(day(2), None), Stay(day(3), None), Stay(day(3), 300)]
    month = priced(forgot)
    assert [(d.minutes, d.auto, d.kind) for d in month.days] == [(0, True, HALF), (300, True, FULL)]
    assert priced(forgot, auto_checkout_day="full").days[0].kind == FULL


def test_a_pack_running_out_mid_month_bills_the_rest_at_the_payg_prices() -> None:
    pack = Plans.always(Plan.PACK)
    month = priced([Stay(day(2), 300), Stay(day(3), 300), Stay(day(4), 60)], pack, credits_in=3)
    # Full day: 2 credits. Full day with 1 credit left: 1 credit + a payg half day (10.00).
    # Half day, no credit: payg half day (10.00).
    assert [(d.credits, d.price_cents, d.how) for d in month.days] == [
        (2, 0, "pack"),
        (1, 1000, "pack+payg"),
        (0, 1000, "payg"),
    ]
    assert (month.credits_used, month.credits_left, month.total_cents) == (3, 0, 2000)


def test_a_pack_bought_mid_month_counts_from_its_day_and_is_on_the_statement() -> None:
    pack = Plans.always(Plan.PACK)
    bought = [Purchase(day(10), 10, 9000)]
    month = price_month(1, "A", NOV, [Stay(day(9), 60), Stay(day(12), 300)], pack, bought, 0, RULES)
    assert [(d.credits, d.price_cents) for d in month.days] == [(0, 1000), (2, 0)]
    assert (month.credits_left, month.total_cents) == (8, 1000 + 9000)


def test_a_plan_change_applies_from_its_date_and_monthly_is_prorated() -> None:
    plans = Plans(((date(2026, 1, 1), Plan.PAYG), (day(16), Plan.MONTHLY)))
    month = priced([Stay(day(10), 300), Stay(day(20), 300)], plans)
    assert [(d.plan, d.price_cents) for d in month.days] == [("payg", 1800), ("monthly", 0)]
    # 15 of November's 30 days on the monthly plan: half of 150.00.
    assert (month.monthly_days, month.monthly_cents, month.total_cents) == (15, 7500, 9300)


def test_a_plan_holds_from_its_first_day_to_the_next_ones() -> None:
    plans = Plans.of(
        [
            MemberPlan(starts_on=day(20), plan=Plan.PAYG),  # given in any order
            MemberPlan(starts_on=day(5), plan=Plan.MONTHLY),
            MemberPlan(starts_on=date(2026, 12, 10), plan=Plan.MONTHLY),
        ]
    )
    assert [plans.on(d) for d in (day(4), day(5), day(19), day(20))] == [
        None,
        Plan.MONTHLY,
        Plan.MONTHLY,
        Plan.PAYG,
    ]
    assert plans.days_on(Plan.MONTHLY, NOV, day(30)) == 15  # the 5th to the 19th
    assert plans.days_on(Plan.MONTHLY, date(2026, 12, 1), date(2026, 12, 31)) == 22
    assert plans.days_on(Plan.PACK, NOV, day(30)) == 0


def test_free_members_owe_nothing_and_vat_is_inside_the_price() -> None:
    assert priced([Stay(day(2), 300)], Plans.always(Plan.FREE)).total_cents == 0
    assert vat_of(1800, 20.0) == 300  # 15.00 + 3.00
    assert vat_of(1000, 20.0) == 167  # 8.33 + 1.67
    assert vat_of(1000, 5.5) == 52  # 9.48 + 0.52


# -- from visits in the database -----------------------------------------------------------


def paris(month_day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(month_day.year, month_day.month, month_day.day, hour, minute, tzinfo=PARIS)


@pytest.fixture
def place(session: Session) -> Any:
    """A site open from 8 until 5 the next morning, a kiosk, Alice with a badge."""
    every_day = {d: [["08:00", "05:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    site = make_site(session, opening_hours=every_day)
    kiosk, _token = make_kiosk(session, site)
    alice = make_member(session, given_name="Alice")
    badge = make_badge(session, alice)
    return site, kiosk, alice, badge


def visit(session: Session, kiosk: Any, badge: Any, start: datetime, end: datetime | None) -> None:
    badge_tap(session, kiosk, badge, start.astimezone(UTC))
    if end is not None:
        badge_tap(session, kiosk, badge, end.astimezone(UTC))


def test_a_visit_crossing_midnight_belongs_to_the_day_it_started(
    session: Session, place: Any
) -> None:
    _site, kiosk, alice, badge = place
    visit(session, kiosk, badge, paris(day(3), 22), paris(day(4), 2, 30))
    month = statement(session, alice, NOV, paris(day(30), 12), RULES)
    assert [(d.day, d.minutes, d.kind) for d in month.days] == [(day(3), 270, FULL)]


def test_daylight_saving_days_count_real_hours(session: Session, place: Any) -> None:
    _site, kiosk, alice, badge = place
    spring, autumn = date(2026, 3, 29), date(2026, 10, 25)
    # 00:30 to 05:00 on the night clocks go forward is 3 h 30 of presence: a half day.
    visit(session, kiosk, badge, paris(spring, 0, 30), paris(spring, 5))
    # 00:30 to 04:30 on the night they go back is 5 h: a full day.
    visit(session, kiosk, badge, paris(autumn, 0, 30), paris(autumn, 4, 30))
    later = paris(day(30), 12)
    march = statement(session, alice, date(2026, 3, 1), later, RULES)
    october = statement(session, alice, date(2026, 10, 1), later, RULES)
    assert [(d.minutes, d.kind) for d in march.days] == [(210, HALF)]
    assert [(d.minutes, d.kind) for d in october.days] == [(300, FULL)]


def test_presence_at_two_sites_the_same_day_adds_up(session: Session, place: Any) -> None:
    _site, kiosk, alice, badge = place
    other = make_site(session, opening_hours=place[0].opening_hours)
    second, _token = make_kiosk(session, other)
    visit(session, kiosk, badge, paris(day(5), 9), paris(day(5), 11))
    visit(session, second, badge, paris(day(5), 14), paris(day(5), 16, 30))
    month = statement(session, alice, NOV, paris(day(30), 12), RULES)
    assert [(d.minutes, d.kind, d.price_cents) for d in month.days] == [(270, FULL, 1800)]


def test_an_automatic_check_out_in_the_database_bills_a_half_day(
    session: Session, place: Any
) -> None:
    _site, kiosk, alice, badge = place
    visit(session, kiosk, badge, paris(day(6), 9), None)  # nobody tapped out
    month = statement(session, alice, NOV, paris(day(30), 12), RULES)
    assert [(d.auto, d.kind, d.price_cents) for d in month.days] == [(True, HALF, 1000)]


def test_a_member_leaving_after_closing_is_billed_the_hours_they_stayed(
    session: Session,
) -> None:
    """09:30 to 19:45 at a site closing at 19:00, tapped out on leaving: a full day of
    10 h 15 (not the half day of a visit nobody tapped out of, nor a second visit)."""
    weekdays = {d: [["09:00", "19:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
    site = make_site(session, opening_hours=weekdays)
    kiosk, _token = make_kiosk(session, site)
    alice = make_member(session, given_name="Alice")
    visit(session, kiosk, make_badge(session, alice), paris(day(10), 9, 30), paris(day(10), 19, 45))

    month = statement(session, alice, NOV, paris(day(30), 12), RULES)

    assert [(d.day, d.minutes, d.auto, d.kind) for d in month.days] == [(day(10), 615, False, FULL)]


def test_a_closed_month_never_changes_and_carries_the_pack_balance(
    session: Session, place: Any
) -> None:
    _site, kiosk, alice, badge = place
    alice.plans.append(MemberPlan(plan=Plan.PACK, starts_on=day(1)))
    record_pack(session, alice, day(2), "accueil@example.org", RULES)
    visit(session, kiosk, badge, paris(day(3), 9), paris(day(3), 15))  # full: 2 credits
    with pytest.raises(BillingError) as not_over:
        close_month(session, NOV, day(30), paris(day(30), 20), "nadine", RULES)
    assert not_over.value.code == "not_over"

    december = paris(date(2026, 12, 1), 10)
    (closed,) = close_month(session, NOV, december.date(), december, "nadine", RULES)
    assert (closed.total_cents, closed.credits_left, closed.vat_cents) == (9000, 8, 1500)
    with pytest.raises(BillingError) as twice:
        close_month(session, NOV, december.date(), december, "nadine", RULES)
    assert twice.value.code == "already_closed"

    # A kiosk that was offline sends a November tap after the close: November stays.
    visit(session, kiosk, badge, paris(day(20), 9), paris(day(20), 10))
    again = statement(session, alice, NOV, december, RULES)
    assert (again.total_cents, again.credits_left, len(again.days)) == (9000, 8, 1)
    with pytest.raises(BillingError) as final:
        record_pack(session, alice, day(25), "accueil@example.org", RULES)
    assert final.value.code == "closed"

    # December starts from November's closed balance.
    visit(session, kiosk, badge, paris(date(2026, 12, 2), 9), paris(date(2026, 12, 2), 11))
    dec = statement(session, alice, date(2026, 12, 1), paris(date(2026, 12, 3), 9), RULES)
    assert (dec.credits_in, dec.credits_used, dec.credits_left, dec.total_cents) == (8, 1, 7, 0)

    # The closed statement outlives the person (kept for the accounting period).
    name = f"Alice {alice.family_name}"
    erase_member(session, alice, december + timedelta(days=1))
    kept = statement(session, alice, NOV, december, RULES)
    assert (alice.given_name, kept.member_name, kept.total_cents) == ("", name, 9000)


def test_the_month_export_opens_in_a_french_excel(session: Session, place: Any) -> None:
    _site, kiosk, alice, badge = place
    alice.given_name = "=Hélène"  # a name that looks like a formula stays text
    visit(session, kiosk, badge, paris(day(3), 9), paris(day(3), 11))
    found = month_statements(session, NOV, paris(day(30), 12), RULES)
    plain = statements_csv(found)
    assert plain.splitlines()[0] == (  # columns only grow: a change here is deliberate
        "month,member_id,member,half_days,full_days,credits_used,credits_left,"
        "total_excl_vat,vat,total_incl_vat,status,guest_days"
    )
    assert ",'=Hélène " in plain and ",8.33,1.67,10.00,provisional" in plain
    excel = statements_csv(found, excel=True)
    assert excel.splitlines()[0] == (
        "\ufeffmois;n° membre;membre;demi-journées;journées;crédits utilisés;"
        "crédits restants;total HT;TVA;total TTC;statut;journées d'invités"
    )
    assert ";'=Hélène " in excel and ";8,33;1,67;10,00;provisoire;" in excel


def test_a_closed_months_excel_export_says_clos(session: Session, place: Any) -> None:
    _site, kiosk, _alice, badge = place
    visit(session, kiosk, badge, paris(day(3), 9), paris(day(3), 11))
    december = paris(date(2026, 12, 1), 10)
    close_month(session, NOV, december.date(), december, "nadine", RULES)
    found = month_statements(session, NOV, december, RULES)
    assert ",closed," in statements_csv(found)
    assert ";clos;" in statements_csv(found, excel=True)


# -- an independent reference on a generated month ---------------------------------------


def reference_total(
    schedule: list[tuple[date, int | None]],
    plans: dict[date, Plan],
    packs: dict[date, int],
    rules: BillingSection,
) -> tuple[int, int]:
    """A month's total and pack balance, computed again from the schedule itself, plainly:
    day by day, with no code shared with server.domain.billing."""
    total, balance = 0, 0
    half, full = rules.payg_half_day, rules.payg_full_day
    on_monthly = 0
    for n in range(1, 31):
        today = date(2026, 11, n)
        balance += packs.get(today, 0)
        total += rules.pack_price * packs.get(today, 0) // rules.pack_credits
        plan = plans[today]
        on_monthly += plan is Plan.MONTHLY
        minutes = sum(m for d, m in schedule if d == today and m is not None and m >= 15)
        forgot = any(d == today and m is None for d, m in schedule)
        if minutes == 0 and not forgot:
            continue
        units = 2 if minutes > 240 else 1
        if plan is Plan.PAYG:
            total += full if units == 2 else half
        elif plan is Plan.PACK:
            if balance >= units:
                balance -= units
            elif balance == 1:
                balance, total = 0, total + half
            else:
                total += full if units == 2 else half
    total += int(Decimal(rules.monthly_price * on_monthly) / 30 + Decimal("0.5"))
    return total, balance


@pytest.mark.parametrize("seed", [11, 29])
def test_statements_agree_with_an_independent_reference_to_the_cent(
    session: Session, seed: int
) -> None:
    chance = random.Random(seed)
    weekdays = {d: [["08:00", "20:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat")}
    sites = [make_site(session, opening_hours=weekdays) for _ in range(2)]
    kiosks = [make_kiosk(session, site)[0] for site in sites]
    expected: dict[int, tuple[int, int]] = {}
    for _ in range(12):
        member = make_member(session)
        member.plans.clear()
        first, second = chance.choice(list(Plan)), chance.choice(list(Plan))
        change = date(2026, 11, chance.randint(2, 28))
        member.plans.extend(
            [
                MemberPlan(plan=first, starts_on=date(2026, 10, 1)),
                MemberPlan(plan=second, starts_on=change),
            ]
        )
        plans = {
            date(2026, 11, n): first if date(2026, 11, n) < change else second for n in range(1, 31)
        }
        packs: dict[date, int] = {}
        if Plan.PACK in (first, second):
            for bought in {date(2026, 11, 1), date(2026, 11, chance.randint(5, 25))}:
                record_pack(session, member, bought, "accueil", RULES)
                packs[bought] = packs.get(bought, 0) + RULES.pack_credits
        badge = make_badge(session, member)
        schedule: list[tuple[date, int | None]] = []
        for n in range(1, 31):
            today = date(2026, 11, n)
            if today.weekday() == 6 or chance.random() < 0.4:
                continue
            kiosk = chance.choice(kiosks)
            morning = paris(today, 8) + timedelta(minutes=chance.randint(0, 120))
            length = chance.choice([5, 14, 15, 90, 180, 240, 241])
            visit(session, kiosk, badge, morning, morning + timedelta(minutes=length))
            schedule.append((today, length))
            if chance.random() < 0.5:
                afternoon = paris(today, 14) + timedelta(minutes=chance.randint(0, 60))
                forgot = chance.random() < 0.2
                length = chance.choice([30, 60, 125, 200])
                visit(
                    session,
                    chance.choice(kiosks),
                    badge,
                    afternoon,
                    None if forgot else afternoon + timedelta(minutes=length),
                )
                schedule.append((today, None if forgot else length))
        expected[member.id] = reference_total(schedule, plans, packs, RULES)
    found = month_statements(session, NOV, paris(date(2026, 12, 1), 9), RULES)
    got = {one.member_id: (one.total_cents, one.credits_left) for one in found}
    assert {key: got.get(key, (0, 0)) for key in expected} == expected
    assert sum(total for total, _left in expected.values()) > 0
