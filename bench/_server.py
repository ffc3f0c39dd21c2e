"""Benchmark server: the real app in gunicorn, plus a bare Flask route to compare against.

Started by bench/bench_taps.py as `python bench/_server.py --data-dir DIR --port PORT ...`.
It builds the app with `create_app`, adds `POST /bench/bare`, creates the schema, puts
a site, members with NFC badges and `--kiosks` toggle kiosks in the database, prints one
line `BENCH_READY {json}` (the kiosk tokens and what was arranged) and serves with
`server.cli.serving.run` until it receives SIGTERM. With `--serve-only` it arranges nothing:
a further worker on a database (PostgreSQL) that the first one arranged. `POST
/bench/bare-emit` sends its body to the site's boards with a bare Socket.IO emit (for
bench/bench_board.py and bench/bench_load.py). With `--staff` it also adds a staff
account and puts its e-mail and password in the BENCH_READY line (for the dashboards of
bench/bench_capacity.py). Not for production use.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask, jsonify, request  # noqa: E402
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, select  # noqa: E402

from server import create_app  # noqa: E402
from server.cli.serving import run  # noqa: E402
from server.domain.board import room  # noqa: E402
from server.domain.kiosks import add_kiosk  # noqa: E402
from server.domain.sites import issue_display_token  # noqa: E402
from server.domain.staff import add_staff  # noqa: E402
from server.runtime import Runtime  # noqa: E402
from server.settings import ServerSection, Settings  # noqa: E402
from server.store.models import (  # noqa: E402
    Badge,
    BadgeKind,
    Base,
    KioskMode,
    Member,
    Site,
    StaffRole,
    Visibility,
)
from server.web.live import NAMESPACE  # noqa: E402

READY = "BENCH_READY"
STAFF_EMAIL = "staff@bench.invalid"
STAFF_PASSWORD = "bench staff password"
EVERY_DAY = {day: [["00:00", "23:59"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def badge_value(index: int) -> str:
    """The normalised UID of member `index`'s badge (7 bytes, like a MIFARE tag)."""
    return f"04{index:012X}"


def felica_value(index: int) -> str:
    """The IDm of member `index`'s second badge, a FeliCa card (8 bytes): what nfcpy's
    simulated reader can present quickly (bench_kiosk.py's NFC case)."""
    return f"02FE{index:012X}"


#: The bare route's table: what a kiosk sends, and nothing the rules need.
BARE_TAPS = Table(
    "bench_bare_taps",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("tap_id", String(36)),
    Column("badge", String(512)),
    Column("read_at", String(40)),
)


def add_bare_route(app: Flask, engine: Engine) -> None:
    """A route with no auth, validation or rules: the upload's taps stored with one INSERT
    (executemany) in one transaction, through the app's own engine (same pool, same
    SQLite pragmas: WAL, synchronous=FULL, BEGIN IMMEDIATE). What storing costs alone."""
    BARE_TAPS.create(engine, checkfirst=True)

    @app.post("/bench/bare")
    def bare() -> Any:
        body = request.get_json()
        if not isinstance(body, dict) or not isinstance(body.get("taps"), list):
            return jsonify({"status": "error"}), 400
        rows = [
            {"tap_id": tap.get("id"), "badge": tap.get("badge"), "read_at": tap.get("read_at")}
            for tap in body["taps"]
        ]
        with engine.begin() as connection:
            connection.execute(BARE_TAPS.insert(), rows)
        return jsonify({"status": "ok"})

    # Like the kiosk API, which authenticates by token: no CSRF token to send.
    app.extensions["csrf"].exempt(bare)


def add_bare_emit_route(app: Flask, site_id: int, engine: Engine) -> None:
    """Routes that hand their body to the site's boards: Socket.IO's own cost alone
    (`/bench/bare-emit`), and after storing it durably as the bare route does
    (`/bench/bare-insert-emit`: a board must never show a tap the log does not hold)."""
    socketio = app.extensions["socketio"]

    @app.post("/bench/bare-emit")
    def bare_emit() -> Any:
        socketio.emit("change", request.get_json(), to=room(site_id), namespace=NAMESPACE)
        return jsonify({"status": "ok"})

    @app.post("/bench/bare-insert-emit")
    def bare_insert_emit() -> Any:
        body = request.get_json()
        with engine.begin() as connection:
            connection.execute(BARE_TAPS.insert(), [{"tap_id": "", "badge": str(body)[:512]}])
        socketio.emit("change", body, to=room(site_id), namespace=NAMESPACE)
        return jsonify({"status": "ok"})

    app.extensions["csrf"].exempt(bare_emit)
    app.extensions["csrf"].exempt(bare_insert_emit)


def arrange(
    runtime: Runtime, members: int, visibility: Visibility, kiosks: int = 1, felica: int = 0
) -> dict[str, Any]:
    """A site open every day, `members` members with one NFC badge each (the first
    `felica` a FeliCa card too), toggle kiosks."""
    now = datetime.now(UTC)
    with runtime.transaction() as session:
        site = Site(
            slug="bench",
            name="Bench",
            timezone="Europe/Paris",
            capacity=None,
            opening_hours=EVERY_DAY,
        )
        session.add(site)
        session.flush()
        people = [
            Member(
                given_name=f"Member{i}",
                family_name="Bench",
                email=f"m{i}@bench.invalid",
                visibility=visibility,
            )
            for i in range(members)
        ]
        session.add_all(people)
        session.flush()
        key = runtime.badge_lookup_key

        def badge(person: Member, value: str, label: str) -> Badge:
            made = Badge(member_id=person.id, label=label, issued_at=now - timedelta(days=30))
            made.set_value(key, BadgeKind.NFC, value)
            return made

        session.add_all(
            badge(person, badge_value(i), f"bench {i}") for i, person in enumerate(people)
        )
        session.add_all(
            badge(person, felica_value(i), f"bench felica {i}")
            for i, person in enumerate(people[:felica])
        )
        # Created a day ago: taps may then carry read_at values up to two days back.
        doors = [
            add_kiosk(session, f"bench-door-{n}", site, KioskMode.TOGGLE, now - timedelta(days=1))
            for n in range(kiosks)
        ]
        session.flush()
        kiosk_id = doors[0][0].id
        display_token = issue_display_token(site)
        site_id = site.id
    tokens = [token for _kiosk, token in doors]
    return {
        "token": tokens[0],
        "tokens": tokens,
        "kiosk_id": kiosk_id,
        "members": members,
        "site": "bench",
        "site_id": site_id,
        "display_token": display_token,
    }


def add_bench_staff(runtime: Runtime) -> dict[str, str]:
    """A staff account (role staff) to log in with, for the dashboards."""
    with runtime.transaction() as session:
        add_staff(
            session, STAFF_EMAIL, "Bench Staff", StaffRole.STAFF, STAFF_PASSWORD, runtime.now()
        )
    return {"staff_email": STAFF_EMAIL, "staff_password": STAFF_PASSWORD}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument(
        "--connections", type=int, default=2000, help="gunicorn gevent worker_connections"
    )
    parser.add_argument("--kiosks", type=int, default=1)
    parser.add_argument("--felica", type=int, default=0, help="members with a FeliCa card too")
    parser.add_argument("--database-url", default="", help="default: SQLite in --data-dir")
    parser.add_argument("--redis-url", default="", help="the boards' message queue")
    parser.add_argument(
        "--serve-only", action="store_true", help="arrange nothing: another worker did"
    )
    parser.add_argument(
        "--visibility", choices=[level.value for level in Visibility], default="hidden"
    )
    parser.add_argument(
        "--staff", action="store_true", help="also add a staff account (in BENCH_READY)"
    )
    args = parser.parse_args()

    data = Path(args.data_dir)
    sqlite_path = (data / "presence.db").resolve()
    settings = Settings(
        server=ServerSection(
            data_dir=str(data),
            database_url=args.database_url or f"sqlite:///{sqlite_path}",
            secret_key="bench-secret",
            redis_url=args.redis_url,
        )
    )
    started = time.perf_counter()
    app = create_app(settings)
    runtime: Runtime = app.extensions["presence"]
    if args.serve_only:
        with runtime.session() as session:
            site_id = session.scalars(select(Site.id).where(Site.slug == "bench")).one()
        info: dict[str, Any] = {"site_id": site_id}
    else:
        Base.metadata.create_all(runtime.engine)
        info = arrange(runtime, args.members, Visibility(args.visibility), args.kiosks, args.felica)
        if args.staff:
            info.update(add_bench_staff(runtime))
    # No pooled connection may cross gunicorn's fork into the worker, whose app is built
    # anew there, after gevent has patched (as `presence serve` does).
    runtime.engine.dispose()
    info["arrange_seconds"] = round(time.perf_counter() - started, 2)
    info["database"] = str(sqlite_path)
    info["database_url"] = settings.server.database_url
    print(f"{READY} {json.dumps(info)}", flush=True)

    def serving_app() -> Flask:
        served = create_app(settings, async_mode="gevent")
        add_bare_route(served, served.extensions["presence"].engine)
        add_bare_emit_route(served, info["site_id"], served.extensions["presence"].engine)
        return served

    run(serving_app, args.host, args.port, connections=args.connections)


if __name__ == "__main__":
    main()
