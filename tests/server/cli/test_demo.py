"""The demo Cantine: believable content, real taps, deterministic, and a curl that works."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from presence.cli import main
from server.cli.demo import API_URL, MEMBER_COUNT, PRESENT_NOW, DemoError, build_demo
from server.domain.presence import head_count
from server.runtime import Runtime
from server.store.models import (
    BadgeKind,
    Kiosk,
    KioskMode,
    Member,
    Site,
    Tap,
    Visibility,
    Visit,
    VisitEnd,
)
from tests.conftest import PARIS, FrozenClock, at
from tests.factories import make_site


def demo(session: Session, runtime: Runtime, clock: FrozenClock, seed: int = 2026) -> list[str]:
    return build_demo(session, clock(), runtime.rules, seed=seed)


def local_day(moment: Any) -> Any:
    return moment.astimezone(PARIS).date()


def test_demo_builds_a_believable_cantine(session, runtime, clock: FrozenClock) -> None:
    lines = demo(session, runtime, clock)

    [site] = session.scalars(select(Site)).all()
    assert (site.slug, site.name, site.timezone, site.capacity) == (
        "cantine",
        "La Cantine",
        "Europe/Paris",
        40,
    )
    assert site.opening_hours["mon"] == [["09:00", "19:00"]]
    assert site.opening_hours["sat"] == [["10:00", "13:00"]]
    assert site.opening_hours["sun"] == []
    [event] = site.exceptions
    assert event.hours == [["09:00", "23:00"]]
    assert local_day(clock()) - timedelta(days=7) <= event.day < local_day(clock())

    members = session.scalars(select(Member).order_by(Member.id)).all()
    assert len(members) == MEMBER_COUNT
    for member in members:
        [badge] = member.badges
        assert badge.kind is BadgeKind.NFC and badge.revoked_at is None
        assert len(badge.value_hash) == 64 and len(badge.value_hint) == 4  # no raw UID kept
        assert badge.value_hint == badge.value_hint.upper() and int(badge.value_hint, 16) >= 0
        assert member.email is not None and member.email.endswith("@example.org")
        assert member.skills and member.working_on
    assert len({b.value_hash for member in members for b in member.badges}) == MEMBER_COUNT
    visibility = {level: sum(m.visibility is level for m in members) for level in Visibility}
    assert 12 <= visibility[Visibility.PROFILE] <= 18
    assert visibility[Visibility.FIRST_NAME] > 0 and visibility[Visibility.HIDDEN] > 0
    assert len({member.plans[0].plan for member in members}) == 4

    kiosks = {kiosk.name: kiosk for kiosk in session.scalars(select(Kiosk))}
    assert set(kiosks) == {"porte-entree", "porte-sortie"}
    assert kiosks["porte-entree"].mode is KioskMode.TOGGLE
    assert kiosks["porte-sortie"].mode is KioskMode.OUT
    assert all(kiosk.created_at < clock() - timedelta(days=14) for kiosk in kiosks.values())

    visits = session.scalars(select(Visit)).all()
    today = local_day(clock())
    past = [visit for visit in visits if local_day(visit.checked_in_at) < today]
    assert len({local_day(visit.checked_in_at) for visit in past}) >= 4
    assert all(today - timedelta(days=7) <= local_day(v.checked_in_at) for v in past)
    assert all(visit.checked_out_at is not None for visit in past)
    ended = {end: sum(visit.ended_by is end for visit in past) for end in VisitEnd}
    assert ended[VisitEnd.AUTO] >= 1 and ended[VisitEnd.TAP] > ended[VisitEnd.AUTO]
    # Everything came from real badge taps through the kiosks.
    assert session.scalar(select(func.count()).select_from(Tap).where(Tap.kiosk_id.is_(None))) == 0

    assert head_count(session, site.id, clock()) == PRESENT_NOW
    assert f"present now: {PRESENT_NOW}" in "\n".join(lines)
    assert any(line.lstrip().startswith("curl ") for line in lines)


def test_nobody_is_present_on_a_sunday(session, runtime, clock: FrozenClock) -> None:
    clock.set(at(15, day=29))  # Sunday 29 November 2026, 15:00 in Paris

    lines = demo(session, runtime, clock)

    site = session.scalars(select(Site)).one()
    assert head_count(session, site.id, clock()) == 0
    assert any("closed now" in line for line in lines)
    assert not any("present now" in line for line in lines)
    assert session.scalar(select(func.count()).select_from(Visit)) > 0


def test_the_demo_refuses_a_database_with_data(session, runtime, clock: FrozenClock) -> None:
    demo(session, runtime, clock)
    session.commit()

    with pytest.raises(DemoError) as error:
        demo(session, runtime, clock)
    assert "\n" not in str(error.value) and "already holds" in str(error.value)
    assert session.scalar(select(func.count()).select_from(Site)) == 1


def test_a_lone_site_is_enough_to_refuse(session, runtime, clock: FrozenClock) -> None:
    make_site(session)

    with pytest.raises(DemoError):
        demo(session, runtime, clock)
    assert session.scalar(select(func.count()).select_from(Member)) == 0


def snapshot(session: Session) -> dict[str, Any]:
    members = [
        (
            m.given_name,
            m.family_name,
            m.email,
            m.plans[0].plan,
            m.skills,
            m.working_on,
            m.visibility,
            [b.value_hash for b in m.badges],
        )
        for m in session.scalars(select(Member).order_by(Member.email))
    ]
    visits = [
        (v.member.email, v.checked_in_at, v.checked_out_at, v.ended_by)
        for v in session.scalars(select(Visit))
    ]
    taps = sorted(str(tap_id) for tap_id in session.scalars(select(Tap.tap_id)))
    return {"members": members, "visits": sorted(visits, key=str), "taps": taps}


def test_the_same_seed_gives_the_same_demo(session, runtime, clock: FrozenClock) -> None:
    demo(session, runtime, clock, seed=7)
    first = snapshot(session)
    session.rollback()

    demo(session, runtime, clock, seed=7)
    assert snapshot(session) == first
    session.rollback()

    demo(session, runtime, clock, seed=8)
    other = snapshot(session)
    assert other["members"] != first["members"] and other["taps"] != first["taps"]


def run_curl_line(line: str) -> list[str]:
    """Run the printed command in bash with `curl` replaced by a function that shows its args."""
    show_args = shlex.quote("import json, sys; print(json.dumps(sys.argv[1:]))")
    fake = f'curl() {{ {shlex.quote(sys.executable)} -c {show_args} "$@"; }}'
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "-c", f"{fake}\n{line}"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PATH": path},
        timeout=30,
    )
    args: list[str] = json.loads(done.stdout)
    return args


def test_the_printed_curl_command_taps_a_demo_badge(
    session, runtime, clock: FrozenClock, client: FlaskClient
) -> None:
    lines = demo(session, runtime, clock)
    session.commit()
    [line] = [line.strip() for line in lines if line.lstrip().startswith("curl ")]

    args = run_curl_line(line)
    assert API_URL in args and API_URL == "http://127.0.0.1:5000/api/v1/taps"
    headers = dict(args[index + 1].split(": ", 1) for index, arg in enumerate(args) if arg == "-H")
    body = json.loads(args[args.index("-d") + 1])
    assert headers["Authorization"].startswith("Bearer pk_")

    clock.advance(minutes=2)
    response = client.post("/api/v1/taps", json=body, headers=headers)

    assert response.status_code == 200, response.json
    [result] = response.json["results"]
    assert result["outcome"] in ("checked_in", "checked_out")
    assert result["name"]


def test_presence_demo_from_the_command_line(config_file: Path, database_url: str) -> None:
    config = config_file
    runner = CliRunner()
    if not database_url.startswith("sqlite"):
        upgrade = runner.invoke(main, ["--config", str(config), "db", "upgrade"])
        assert upgrade.exit_code == 0, upgrade.output

    result = runner.invoke(main, ["--config", str(config), "demo"])
    assert result.exit_code == 0, result.output
    assert "30 members" in result.output and "porte-entree: pk_" in result.output
    assert "curl -sS http://127.0.0.1:5000/api/v1/taps" in result.output

    again = runner.invoke(main, ["--config", str(config), "demo", "--seed", "3"])
    assert again.exit_code == 1
    assert "already holds 30 member(s)" in again.output


def test_the_printed_staff_account_logs_in(session, runtime, clock: FrozenClock, client) -> None:
    from tests.factories import submit

    lines = demo(session, runtime, clock)
    session.commit()
    (account,) = [line for line in lines if "/staff/" in line]
    _url, email, _slash, password = account.split()
    response = submit(client, "/staff/login", {"email": email, "password": password})
    assert response.status_code == 302 and response.headers["Location"] == "/staff/"
