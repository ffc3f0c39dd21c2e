"""Scheduled jobs: visits end at closing time and boards hear of it, old badge values
are erased, each run happens once however many processes schedule it, and what was
missed while the server was down runs when it comes back."""

from __future__ import annotations

import time as clock_time
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from server import create_app
from server.jobs import scheduler as jobs
from server.runtime import Runtime
from server.settings import ServerSection, Settings
from server.store.models import (
    Delivery,
    JobRun,
    Site,
    Tap,
    TapKind,
    Ticket,
    Visibility,
    Visit,
    VisitEnd,
)
from tests.conftest import at
from tests.factories import (
    badge_tap,
    make_badge,
    make_kiosk,
    make_member,
    make_site,
    staff_entry,
)
from tests.servers import ServerProcess, free_port, presence, write_config

PARIS = ZoneInfo("Europe/Paris")


def test_the_sweep_ends_overdue_visits_at_closing_time_once_and_tells_the_boards(
    runtime: Runtime, session: Session, clock: Any
) -> None:
    site = make_site(session)  # weekdays 9:00-19:00, 30 minutes' grace
    kiosk, _token = make_kiosk(session, site)
    stayed = make_member(session, visibility=Visibility.FIRST_NAME)
    left = make_member(session)
    badges = [make_badge(session, member) for member in (stayed, left)]
    for badge in badges:
        badge_tap(session, kiosk, badge, at(10))
    badge_tap(session, kiosk, badges[1], at(12))
    session.commit()
    sent: list[Any] = []
    runtime.board.publish = sent.extend

    clock.set(at(19, 29))
    assert jobs.sweep(runtime) == 0  # not yet: closing plus grace is 19:30
    clock.set(at(19, 31))
    assert jobs.sweep(runtime) == 1
    assert jobs.sweep(runtime) is None  # the same minute, claimed: nothing runs again
    clock.set(at(19, 32))
    assert jobs.sweep(runtime) == 0

    session.expire_all()
    ended = session.scalars(select(Visit).where(Visit.member_id == stayed.id)).one()
    assert ended.ended_by is VisitEnd.AUTO and ended.checked_out_at == at(19, 30)
    drops = [m.body for m in sent if m.body.get("drop")]
    assert len(drops) == 1 and drops[0]["head_count"] == 0


def test_old_badge_values_are_erased_and_outcomes_stay(
    runtime: Runtime, session: Session, clock: Any
) -> None:
    site = make_site(session, opening_hours={})
    kiosk, _token = make_kiosk(session, site)
    badge = make_badge(session, make_member(session))
    badge_tap(session, kiosk, badge, at(10) - timedelta(days=100))
    badge_tap(session, kiosk, badge, at(10) - timedelta(days=10))
    long_ago = at(10) - timedelta(days=100)
    for delivered in (long_ago, None, at(9)):  # sent long ago, still trying, sent today
        session.add(
            Delivery(
                channel="webhook",
                target="http://127.0.0.1:9/",
                event="check_in",
                created_at=delivered or long_ago,
                delivered_at=delivered,
                next_attempt_at=at(10),
            )
        )
    session.commit()
    assert jobs.retention(runtime) == 1
    kept = session.scalars(select(Delivery.delivered_at).order_by(Delivery.id)).all()
    assert kept == [None, at(9)]  # the old log went; nothing unsent is dropped
    session.expire_all()
    old, recent = session.scalars(select(Tap).order_by(Tap.occurred_at)).all()
    assert old.badge_value is None and old.outcome.value == "checked_in"
    assert recent.badge_value == badge.value
    assert session.scalar(select(func.count()).select_from(Visit)) == 2
    session.rollback()  # let go of the database: the job writes
    assert jobs.retention(runtime) is None  # once a day


def test_attendees_of_events_long_past_are_forgotten_and_attendance_stays(
    runtime: Runtime, session: Session
) -> None:
    from server.domain.meetups import FORGOTTEN, add_event, attendance, register

    site = make_site(session)
    old_start, recent_start = at(18) - timedelta(days=100), at(18) - timedelta(days=10)
    events = [
        add_event(session, site, title, start, start + timedelta(hours=2), "cantine", True,
                  "", None, "staff", start - timedelta(days=1))
        for title, start in (("Atelier", old_start), ("Apéro", recent_start))
    ]  # fmt: skip
    for event in events:
        start = event.starts_at
        ticket = register(
            session, event, "Zoé Martin", "zoe@example.org", start, runtime.badge_private_key
        )
        ticket.checked_in_at = start
    session.commit()
    jobs.retention(runtime)
    session.expire_all()
    old, recent = session.scalars(select(Ticket).order_by(Ticket.event_id)).all()
    assert (old.name, old.email) == (FORGOTTEN, None)
    assert (recent.name, recent.email) == ("Zoé Martin", "zoe@example.org")
    assert attendance(session, [event.id for event in events]) == {events[0].id: 1, events[1].id: 1}


def test_a_visit_that_closed_while_the_server_was_down_ends_when_it_starts(
    runtime: Runtime, session: Session, clock: Any
) -> None:
    site = make_site(session)
    kiosk, _token = make_kiosk(session, site)
    badge_tap(session, kiosk, make_badge(session, make_member(session)), at(10))
    session.commit()
    clock.set(at(9, day=25))  # the next morning: the server was down all night
    scheduler = jobs.start_scheduler(runtime)
    try:
        deadline = clock_time.monotonic() + 20
        ended = None
        while clock_time.monotonic() < deadline and ended is None:
            session.expire_all()
            visit = session.scalars(select(Visit)).one()
            ended = (visit.checked_out_at, visit.ended_by) if visit.checked_out_at else None
            session.rollback()  # let go of the database: the jobs write
            clock_time.sleep(0.2)
    finally:
        scheduler.shutdown(wait=True)
    assert ended == (at(19, 30), VisitEnd.AUTO)


@pytest.mark.slow
def test_two_servers_with_the_scheduler_end_a_missed_visit_once(
    tmp_path: Path, database_url: str
) -> None:
    """A visit left open since yesterday (the servers were down at closing time), then two
    `presence serve` processes on one database, both sweeping every second: the visit
    ends at yesterday's closing time, once, claimed by one of them."""
    database = database_url
    every_second = "[jobs]\nsweep_seconds = 1\n"
    ports = [free_port(), free_port()]
    configs = [write_config(tmp_path, database, port=port, extra=every_second) for port in ports]
    presence(configs[0], "db", "upgrade")
    presence(
        configs[0],
        "sites",
        "add",
        "La Cantine",
        "--slug",
        "cantine",
        "--hours",
        "mon-sun 09:00-19:00",
    )
    engine = create_engine(database)
    yesterday = (datetime.now(PARIS) - timedelta(days=1)).date()
    with Session(engine) as session:
        site = session.scalars(select(Site)).one()
        staff_entry(
            session,
            make_member(session),
            site,
            TapKind.STAFF_IN,
            datetime.combine(yesterday, time(10), PARIS),
        )
        session.commit()
    servers = [ServerProcess(config, port) for config, port in zip(configs, ports, strict=True)]
    try:
        for server in servers:
            server.start()
        deadline = clock_time.monotonic() + 60
        ended = None
        while clock_time.monotonic() < deadline and ended is None:
            clock_time.sleep(0.5)
            with engine.connect() as connection:
                ended = connection.execute(text("SELECT checked_out_at FROM visits")).scalar()
        assert ended is not None, "the visit was never ended"
        clock_time.sleep(3)  # both keep sweeping meanwhile
        with Session(engine) as session:
            visit = session.scalars(select(Visit)).one()
            runs = session.scalars(select(JobRun).where(JobRun.job == jobs.SWEEP)).all()
            closing = datetime.combine(yesterday, time(19, 30), PARIS)  # 30 minutes' grace
            assert (visit.ended_by, visit.checked_out_at) == (VisitEnd.AUTO, closing)
            # Each minute's sweep was claimed by one process (the other found the claim),
            # and the visit was ended once.
            assert sum(run.changed for run in runs) == 1 and len(runs) <= 2
    finally:
        for server in servers:
            server.stop()
        engine.dispose()


def test_a_job_while_the_database_is_unreachable_waits_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A PostgreSQL restart under a running server: the job says so and tries next time,
    # with no traceback in the log (tests/system/test_service_faults.py restarts a real one).
    nowhere = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/presence"
    settings = Settings(
        server=ServerSection(data_dir=str(tmp_path), database_url=nowhere, secret_key="s")
    )
    runtime: Runtime = create_app(settings).extensions["presence"]
    with caplog.at_level("WARNING", logger="server.jobs.scheduler"):
        assert jobs.sweep(runtime) is None
    (record,) = caplog.records
    assert "waits for the database" in record.getMessage() and record.exc_info is None
