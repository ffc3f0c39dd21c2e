"""The staff pages at 100,000 members: the members list (its first page, a search, a
late page) and the dashboard, each timed and weighed.

    .venv/bin/python bench/bench_members.py                       # 100,000 members, SQLite
    .venv/bin/python bench/bench_members.py --members 20000       # quicker
    PRESENCE_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1/test \\
        .venv/bin/python bench/bench_members.py                   # then PostgreSQL too

The app is built with `server.create_app` on a new temporary folder (SQLite file there;
with a PostgreSQL URL, a fresh database of that server, created and dropped) and asked
through Flask's test client, in this process: what is measured is the server's work (the
queries and the page), not a network. The members go in as ORM objects, 5,000 a flush,
so the model fills their search column as on any write (the CSV import takes the same
path one member at a time: about 200 a second on a small machine, too slow to bench
with); `--present` of them are checked in at the desk. A staff account logs in, then each
page is asked `--repeat` times after one warm-up; the median time and the size are
printed. The targets: every page under 300 ms and 200 KB; the exit status is 0 only when
all are met (with `--figures-only`, once every page answered). On PostgreSQL the members
are analysed (`ANALYZE`) before the pages are asked, as autovacuum does soon after a
large import.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

from bench._stack import fresh_database  # noqa: E402
from server import create_app  # noqa: E402
from server.domain.desk import toggle_at_desk  # noqa: E402
from server.domain.staff import add_staff  # noqa: E402
from server.runtime import Runtime  # noqa: E402
from server.settings import ServerSection, Settings  # noqa: E402
from server.store.models import Base, Member, MemberPlan, Plan, Site, StaffRole  # noqa: E402

EMAIL, PASSWORD = "desk@bench.invalid", "bench staff password"
EVERY_DAY = {day: [["00:00", "23:59"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
GIVEN = (
    "Hugo Héloïse Anaïs Léa Chloé Zoé Noé Jérôme Éloïse Maël Inès Gaëlle Loïc Cécile Adèle "
    "Thaïs Agnès Benoît Clément Hélène Joël Mathéo Raphaël Sébastien Valérie Amélie Céline "
    "Jules Louise Arthur Emma Gabriel Alice Lucas Camille Nathan Manon Paul Sarah Tom"
).split()
FAMILY = (
    "Fournier Lefèvre Girard Bonnet Dupré Mercier Lambert Fontaine Rousseau Vincent Müller "
    "Faure André Gauthier Garçon Perrin Lemaître Brunet Blanchard Guérin Boyer Chevalier "
    "François Legrand Gaillard Barbier Arnaud Martínez Rolland Noël Caron Hébert Aubert"
).split()
TARGET_MS, TARGET_KB = 300, 200
BATCH = 5000


def new_members(first: int, count: int, chance: random.Random, today: date) -> list[Member]:
    made = []
    for n in range(first, first + count):
        given, family = chance.choice(GIVEN), chance.choice(FAMILY)
        plan = chance.choice((Plan.PAYG, Plan.PAYG, Plan.PACK, Plan.MONTHLY))
        member = Member(
            given_name=given, family_name=family, display_name=given, email=f"m{n}@bench.invalid"
        )
        member.plans.append(MemberPlan(plan=plan, starts_on=today))
        made.append(member)
    return made


def arrange(runtime: Runtime, members: int, present: int, seed: int) -> float:
    """The site, the staff account, the members, some of them checked in; the seconds
    adding the members took."""
    chance = random.Random(seed)
    now = runtime.now()
    with runtime.transaction() as session:
        session.add(Site(slug="bench", name="La Cantine", timezone="Europe/Paris"))
        session.flush()
        session.get(Site, 1).opening_hours = EVERY_DAY  # type: ignore[union-attr]
        add_staff(session, EMAIL, "Accueil", StaffRole.STAFF, PASSWORD, now)
    started = time.perf_counter()
    for first in range(0, members, BATCH):
        with runtime.transaction() as session:
            session.add_all(new_members(first, min(BATCH, members - first), chance, now.date()))
    imported = time.perf_counter() - started
    with runtime.transaction() as session:
        site = session.scalars(select(Site)).one()
        ids = chance.sample(range(1, members + 1), min(present, members))
        for member_id in ids:
            member = session.get(Member, member_id)
            assert member is not None
            toggle_at_desk(session, member, site, EMAIL, now, runtime.rules)
        assert session.scalar(select(func.count()).select_from(Member)) == members
    if runtime.engine.dialect.name == "postgresql":
        # What autovacuum does within a minute of such an import: without statistics the
        # planner takes 100,000 rows for one, and sorts them all for a page.
        with runtime.engine.connect() as db:
            db.execute(text("ANALYZE members"))
            db.commit()
    return imported


def measure(app: Flask, repeat: int, members: int) -> list[tuple[str, float, int]]:
    """(page, median milliseconds, bytes) for each page."""
    client = app.test_client()
    page = client.get("/staff/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
    assert token, "no CSRF token on the log-in page"
    logged = client.post(
        "/staff/login", data={"csrf_token": token[1], "email": EMAIL, "password": PASSWORD}
    )
    assert logged.status_code == 302, logged.status_code
    pages = [
        ("/staff/members", "members, first page"),
        ("/staff/members?q=héloïse+fournier", "members, search 'héloïse fournier'"),
        ("/staff/members?q=hel&part=results", "members, typed 'hel' (fragment)"),
        (f"/staff/members?page={members // 50 - 10}", "members, a late page"),
        ("/staff/members?presence=present", "members, present filter"),
        ("/staff/members?plan=pack&q=fournier", "members, plan filter and a search"),
        ("/staff/", "dashboard"),
        ("/staff/desk?find=jer+gu", "dashboard, desk search 'jer gu'"),
        ("/staff/audit?page=2", "audit trail, page 2"),
    ]
    found = []
    for url, name in pages:
        assert client.get(url).status_code == 200, url  # warm-up
        times, size = [], 0
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get(url)
            body = response.get_data()
            times.append((time.perf_counter() - started) * 1000)
            size = len(body)
        found.append((name, statistics.median(times), size))
    return found


def run(database_url: str, folder: Path, args: argparse.Namespace) -> bool:
    settings = Settings(
        server=ServerSection(
            data_dir=str(folder), database_url=database_url, secret_key="bench-secret"
        )
    )
    app = create_app(settings)
    runtime: Runtime = app.extensions["presence"]
    Base.metadata.create_all(runtime.engine)
    kind = database_url.split(":", 1)[0].split("+", 1)[0]
    print(f"\n{kind}: adding {args.members:,} members...", flush=True)
    imported = arrange(runtime, args.members, args.present, args.seed)
    print(f"  added in {imported:.1f} s ({args.members / imported:,.0f} members/s)")
    ok = True
    print(f"  {'page':42} {'median ms':>10} {'KB':>8}")
    for name, ms, size in measure(app, args.repeat, args.members):
        met = ms < TARGET_MS and size < TARGET_KB * 1024
        ok &= met
        print(f"  {name:42} {ms:10.1f} {size / 1024:8.1f}{'' if met else '  (over target)'}")
    runtime.engine.dispose()
    return ok


@contextmanager
def sqlite_url() -> Iterator[tuple[str, Path]]:
    with tempfile.TemporaryDirectory(prefix="bench-members-") as folder:
        yield f"sqlite:///{Path(folder) / 'presence.db'}", Path(folder)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--present", type=int, default=150, help="members checked in")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("PRESENCE_TEST_POSTGRES_URL", ""),
        help="a PostgreSQL server (a fresh database is made there); "
        "default: $PRESENCE_TEST_POSTGRES_URL",
    )
    parser.add_argument(
        "--figures-only",
        action="store_true",
        help="exit 0 once every page answered, over the targets or not (for the test suite)",
    )
    args = parser.parse_args()
    if args.members < 1000:
        parser.error("--members: at least 1,000 (a late page is 10 pages from the end)")
    ok = True
    with sqlite_url() as (url, folder):
        ok &= run(url, folder, args)
    if args.postgres_url:
        with fresh_database(args.postgres_url) as url, tempfile.TemporaryDirectory() as folder:
            ok &= run(url, Path(folder), args)
    print("\nall pages within the targets" if ok else "\nsome pages over the targets")
    return 0 if ok or args.figures_only else 1


if __name__ == "__main__":
    sys.exit(main())
