"""Reports at scale: a generated year of visits, each report timed beside the hand-written
SQL aggregate that computes its core figures, in the same run.

    .venv/bin/python bench/bench_reports.py                      # 1,000,000 visits, SQLite
    .venv/bin/python bench/bench_reports.py --visits 200000      # quicker
    .venv/bin/python bench/bench_reports.py --database postgresql+psycopg://127.0.0.1/bench

The data: a network of `--sites` spaces (Europe/Paris, weekdays 8:00-20:00 and Saturday
mornings), `--members` members each with a home site and a plan (payg, pack with packs
bought, monthly, free), and visits over the twelve months before `--until`: arrivals
spread over the opening hours, stays of 20 minutes to 9 hours, one in twenty never
tapped out of (ended at closing time, as the scheduled sweep leaves them). Each visit
has its check-in tap, as the tap log would. Rows go in with SQLAlchemy Core in batches.

Then, as a space runs, every month but the last is closed (its statements stored, so a
pack's balance is carried from the month before), and the time each close took is shown.
Each timing is the median of `--repeat` runs. The SQL baselines compute only the core
figures (counts, distinct members, summed minutes per day; billing's half and full days
per member at the payg prices); the reports do more (peaks, heatmap, plans, packs), so
the ratio shows what the rest costs. The funders' summary's baseline is the per-day
query over its two months plus the statements' query. The target is every report under
one second on SQLite at a million visits.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from server.domain.billing import (  # noqa: E402
    close_month,
    month_statements,
    next_month,
    previous_month,
)
from server.domain.reports import funders_summary, occupancy  # noqa: E402
from server.settings import BillingSection  # noqa: E402
from server.store.db import make_engine, make_session_factory  # noqa: E402
from server.store.models import (  # noqa: E402
    Base,
    ClockStatus,
    Member,
    MemberPlan,
    Outcome,
    PackPurchase,
    Plan,
    Site,
    Tap,
    TapKind,
    Visit,
    VisitEnd,
)

PARIS = ZoneInfo("Europe/Paris")
HOURS = {d: [["08:00", "20:00"]] for d in ("mon", "tue", "wed", "thu", "fri")} | {
    "sat": [["09:00", "13:00"]]
}
BATCH = 20_000


def generate(session: Session, args: argparse.Namespace) -> int:
    """Sites, members with plans, and a year of visits; the number of visits written."""
    chance = random.Random(args.seed)
    sites = [
        Site(
            slug=f"site-{n}",
            name=f"Cantine {n}",
            timezone="Europe/Paris",
            capacity=60,
            opening_hours=HOURS,
        )
        for n in range(args.sites)
    ]
    session.add_all(sites)
    session.flush()
    start = args.until - timedelta(days=365)
    members: list[tuple[int, int]] = []  # (member id, home site id)
    plans = [Plan.PAYG] * 5 + [Plan.PACK] * 3 + [Plan.MONTHLY] * 2 + [Plan.FREE]
    for n in range(args.members):
        plan = chance.choice(plans)
        member = Member(given_name=f"M{n}", family_name="Bench", display_name=f"M{n}")
        member.plans.append(MemberPlan(plan=plan, starts_on=start))
        session.add(member)
        session.flush()
        if plan is Plan.PACK:
            for month in range(0, 12, 2):
                bought = start + timedelta(days=30 * month)
                session.add(
                    PackPurchase(
                        member_id=member.id,
                        bought_on=bought,
                        credits=10,
                        price_cents=9000,
                        recorded_by="bench",
                    )
                )
        members.append((member.id, sites[n % len(sites)].id))
    session.commit()

    open_days = [
        start + timedelta(days=n) for n in range(365) if (start + timedelta(days=n)).weekday() < 6
    ]
    per_day = args.visits / len(open_days)
    taps: list[dict[str, Any]] = []
    visits: list[dict[str, Any]] = []
    written = 0
    next_tap = 1
    for day in open_days:
        saturday = day.weekday() == 5
        count = int(per_day * (0.4 if saturday else 1.12) * chance.uniform(0.8, 1.2))
        opens, closes = (9, 13) if saturday else (8, 20)
        for _ in range(count):
            member_id, site_id = chance.choice(members)
            minute = chance.randint(0, (closes - opens) * 60 - 20)
            arrive = datetime(day.year, day.month, day.day, opens, tzinfo=PARIS) + timedelta(
                minutes=minute
            )
            closing = datetime(day.year, day.month, day.day, closes, tzinfo=PARIS) + timedelta(
                minutes=30
            )
            forgot = chance.random() < 0.05
            stay = min(int(chance.lognormvariate(5.0, 0.6)), 9 * 60)
            leave = closing if forgot else min(arrive + timedelta(minutes=max(stay, 20)), closing)
            arrive_utc, leave_utc = arrive.astimezone(UTC), leave.astimezone(UTC)
            taps.append(
                {
                    "id": next_tap,
                    "tap_id": uuid.uuid4(),
                    "kind": TapKind.BADGE,
                    "site_id": site_id,
                    "member_id": member_id,
                    "occurred_at": arrive_utc,
                    "received_at": arrive_utc,
                    "clock": ClockStatus.SERVER,
                    "outcome": Outcome.CHECKED_IN,
                    "reason": "",
                    "response": {},
                }
            )
            visits.append(
                {
                    "member_id": member_id,
                    "site_id": site_id,
                    "checked_in_at": arrive_utc,
                    "checked_out_at": leave_utc,
                    "closes_at": closing.astimezone(UTC),
                    "ended_by": VisitEnd.AUTO if forgot else VisitEnd.TAP,
                    "in_tap_id": next_tap,
                    "local_day": day,
                    "minutes": int((leave - arrive).total_seconds() // 60),
                }
            )
            next_tap += 1
            if len(visits) >= BATCH:
                written += _flush(session, taps, visits)
        if written + len(visits) >= args.visits:
            break
    written += _flush(session, taps, visits)
    return written


def _flush(session: Session, taps: list[dict[str, Any]], visits: list[dict[str, Any]]) -> int:
    count = len(visits)
    if count:
        session.execute(insert(Tap), taps)
        session.execute(insert(Visit), visits)
        session.commit()
    taps.clear()
    visits.clear()
    return count


def timed(work: Callable[[], object], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        work()
        runs.append(time.perf_counter() - began)
    return statistics.median(runs)


DAYS_SQL = text(
    "SELECT local_day, COUNT(*), COUNT(DISTINCT member_id), SUM(minutes) FROM visits "
    "WHERE site_id = :site AND local_day BETWEEN :start AND :end GROUP BY local_day"
)
BILLING_SQL = text(
    "SELECT member_id, SUM(CASE WHEN minutes > 240 THEN :full ELSE :half END) FROM ("
    " SELECT member_id, local_day, SUM(CASE WHEN ended_by = 'auto' THEN 0"
    "   WHEN minutes < 15 THEN 0 ELSE minutes END) AS minutes FROM visits"
    " WHERE local_day BETWEEN :start AND :end GROUP BY member_id, local_day"
    ") AS days GROUP BY member_id"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visits", type=int, default=1_000_000)
    parser.add_argument("--sites", type=int, default=8)
    parser.add_argument("--members", type=int, default=4000)
    parser.add_argument("--until", type=date.fromisoformat, default=date(2026, 12, 1))
    parser.add_argument("--database", help="a database URL (default: a new SQLite file)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="presence-bench-"))
    url = args.database or f"sqlite:///{folder / 'presence.db'}"
    engine = make_engine(url)
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    sessions = make_session_factory(engine)
    began = time.perf_counter()
    with sessions() as session:
        written = generate(session, args)
    took = time.perf_counter() - began
    backend = engine.url.get_backend_name()
    print(
        f"{written:,} visits generated in {took:.0f} s on {backend}, "
        f"{args.sites} sites, {args.members} members"
    )

    now = datetime.combine(args.until, datetime.min.time(), PARIS)
    month = (args.until - timedelta(days=1)).replace(day=1)
    # As a space runs: each month closed at the start of the next (so a pack's balance
    # is carried from the month before), all but the last.
    began = time.perf_counter()
    closing = (args.until - timedelta(days=365)).replace(day=1)
    closed = []
    while closing < month:
        with sessions() as session, session.begin():
            started = time.perf_counter()
            close_month(session, closing, args.until, now, "bench", BillingSection())
            closed.append(time.perf_counter() - started)
        closing = next_month(closing)
    print(f"{len(closed)} months closed, median {statistics.median(closed) * 1000:.0f} ms each")
    month_end = args.until - timedelta(days=1)
    year_start = args.until - timedelta(days=365)
    rules = BillingSection()
    rows: list[tuple[str, float, float]] = []
    with sessions() as session:
        site = session.scalars(select(Site).order_by(Site.id)).first()
        assert site is not None

        def ours_for(start: date, end: date) -> Callable[[], object]:
            return lambda: occupancy(session, site, start, end, now)

        def sql_for(start: date, end: date) -> Callable[[], object]:
            values = {"site": site.id, "start": start, "end": end}
            return lambda: session.execute(DAYS_SQL, values).all()

        periods = {"a month": (month, month_end), "a year": (year_start, month_end)}
        for period, (start, end) in periods.items():
            ours = timed(ours_for(start, end), args.repeat)
            rows.append(
                (f"occupancy, one site, {period}", ours, timed(sql_for(start, end), args.repeat))
            )
        bills = timed(lambda: month_statements(session, month, now, rules), args.repeat)
        prices = {
            "start": month,
            "end": month_end,
            "full": rules.payg_full_day,
            "half": rules.payg_half_day,
        }
        sql = timed(lambda: session.execute(BILLING_SQL, prices).all(), args.repeat)
        rows.append(("statements, every member, a month", bills, sql))
        previous = previous_month(month)
        summary = timed(lambda: funders_summary(session, site, month, now, 8, rules), args.repeat)
        rows.append(
            (
                "funders' summary, one site, a month",
                summary,
                timed(sql_for(previous, month_end), args.repeat) + sql,
            )
        )

    width = max(len(name) for name, _o, _s in rows)
    print(f"\n{'report':<{width}}  {'ours':>9}  {'SQL':>9}  {'ratio':>6}  under 1 s")
    for name, ours, sql in rows:
        print(
            f"{name:<{width}}  {ours * 1000:7.0f} ms  {sql * 1000:7.0f} ms  {ours / sql:5.1f}x  "
            f"{'yes' if ours < 1 else 'NO'}"
        )
    engine.dispose()
    return 0 if all(ours < 1 for _n, ours, _s in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
