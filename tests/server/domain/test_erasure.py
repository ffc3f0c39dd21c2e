"""Erasure erases: nothing stored names the person afterwards, not in the rows (messages,
answers, audit trail, tickets...) and not in the bytes of SQLite's files."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session

from server.domain import audit
from server.domain.members import erase_member
from server.runtime import Runtime
from server.store.models import (
    Announcement,
    ArrivalWatch,
    Delivery,
    Erasure,
    Event,
    Member,
    Tap,
    Ticket,
    Visibility,
    Visit,
    Webhook,
)
from tests.conftest import FrozenClock
from tests.factories import make_badge, make_kiosk, make_member, make_site, tap_json

NAME, FAMILY, EMAIL, UID = "Zoé", "Quintard", "zoe.quintard@example.org", "04C0FFEE123456"
WORK = "le projet Ornithorynque"
ALERTS = "https://alerts.example.org/zoe-private-hook"


#: "Zoé" as JSON stores it ("Zo\\u00e9"), its backslash doubled in PostgreSQL's row text.
ESCAPED = re.compile(r"Zo\\+u00e9")


def traces(found: str | bytes) -> set[str]:
    """What of the person a text or a file's bytes hold."""
    data = found.encode() if isinstance(found, str) else found
    held = {w for w in (NAME, FAMILY, EMAIL, UID, WORK, ALERTS) if w.encode() in data}
    return held | ({NAME} if ESCAPED.search(data.decode("utf-8", "replace")) else set())


def file_traces(path: Path) -> set[str]:
    return traces(path.read_bytes()) if path.exists() else set()


def rows_holding(session: Session, runtime: Runtime) -> dict[str, set[str]]:
    """Which traces of the person each table's rows hold, read as text."""
    found: dict[str, set[str]] = {}
    for table in inspect(session.connection()).get_table_names():
        if runtime.engine.dialect.name == "postgresql":
            rows = [str(row) for row in session.scalars(text(f'SELECT t::text FROM "{table}" t'))]
        else:
            rows = [
                " ".join(map(str, row)) for row in session.execute(text(f'SELECT * FROM "{table}"'))
            ]
        held = set().union(*(traces(row) for row in rows))
        if held:
            found[table] = held
    return found


def a_person_with_a_past(
    client: FlaskClient, session: Session, clock: FrozenClock
) -> tuple[Member, Member, dict[str, str]]:
    """Zoé, known everywhere: taps (one before her badge was hers), webhook messages
    sent and waiting, alerts to and from her, an announcement, a ticket, an audit trail."""
    site = make_site(session)
    zoe = make_member(
        session,
        given_name=NAME,
        family_name=FAMILY,
        display_name=NAME,
        email=EMAIL,
        working_on=WORK,
        visibility=Visibility.PROFILE,
        alert_webhook_url=ALERTS,
        arrival_alerts_at=clock(),
    )
    bob = make_member(
        session,
        given_name="Bob",
        display_name="Bob",
        visibility=Visibility.PROFILE,
        alert_webhook_url="https://alerts.example.org/bob",
        arrival_alerts_at=clock(),
    )
    session.add_all(
        [
            ArrivalWatch(watcher_id=bob.id, watched_id=zoe.id),
            ArrivalWatch(watcher_id=zoe.id, watched_id=bob.id),
            Webhook(
                url="https://chat.example.org/hook",
                events=["check_in", "check_out", "unknown_badge"],
                format="slack",
                secret="s",
            ),
            Announcement(
                text=f"{NAME} présente {WORK} jeudi",
                expires_at=clock() + timedelta(days=3),
                status="proposed",
                proposed_by_id=zoe.id,
            ),
        ]
    )
    bob_badge = make_badge(session, bob)
    _kiosk, token = make_kiosk(session, site)
    session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    # Her card, read once before staff gave it to her: an unknown badge.
    client.post("/api/v1/taps", json={"taps": [tap_json(UID, clock())]}, headers=headers)
    make_badge(session, zoe, value=UID)
    audit.record(
        session,
        clock(),
        "staff@example.org",
        "badge.assign",
        f"member:{zoe.id}",
        f"carte donnée à {NAME} {FAMILY} ({EMAIL})",
        value=UID,
    )
    session.commit()
    for _ in range(2):  # in, then out
        clock.advance(minutes=5)
        client.post("/api/v1/taps", json={"taps": [tap_json(UID, clock())]}, headers=headers)
    clock.advance(minutes=1)
    client.post(
        "/api/v1/taps", json={"taps": [tap_json(bob_badge.value, clock())]}, headers=headers
    )
    # What was sent went; what waits is still waiting when she is erased.
    first = session.scalars(select(Delivery).order_by(Delivery.id)).first()
    assert first is not None
    first.delivered_at = clock()
    evening = Event(
        site_id=site.id,
        title="Apéro",
        starts_at=clock(),
        ends_at=clock() + timedelta(hours=2),
        brought_by="community",
    )
    session.add(evening)
    session.flush()
    session.add(Ticket(event_id=evening.id, name=f"{NAME} {FAMILY}", email=EMAIL, token="t"))
    return zoe, bob, headers


def test_nothing_stored_names_an_erased_person_and_counts_stay(
    client: FlaskClient, session: Session, runtime: Runtime, clock: FrozenClock
) -> None:
    zoe, bob, _headers = a_person_with_a_past(client, session, clock)
    session.flush()
    assert rows_holding(session, runtime)  # she is all over the database before
    deliveries = session.scalar(select(func.count()).select_from(Delivery))
    assert deliveries and session.scalar(select(func.count()).select_from(Tap)) == 4

    database = Path(str(runtime.engine.url.database))
    wal = database.with_name(database.name + "-wal")
    if runtime.engine.dialect.name == "sqlite":
        assert file_traces(database) | file_traces(wal) >= {NAME, EMAIL, UID}

    erase_member(session, zoe, clock())
    session.commit()

    assert rows_holding(session, runtime) == {}
    # Counts stay: every tap, her visit; Bob keeps his own messages and his visit.
    assert session.scalar(select(func.count()).select_from(Tap)) == 4
    assert session.scalar(select(func.count()).select_from(Visit)) == 2
    left = session.scalars(select(Delivery)).all()
    assert any("Bob" in str(d.payload) for d in left)  # his arrival, told to the chat
    assert {d.target for d in left} == {"https://chat.example.org/hook"}
    assert session.scalars(select(ArrivalWatch)).all() == []
    (logged,) = session.scalars(select(Erasure)).all()
    assert (logged.member_id, logged.member_created_at) == (zoe.id, zoe.created_at)
    assert session.get(Member, bob.id).given_name == "Bob"  # type: ignore[union-attr]

    if runtime.engine.dialect.name == "sqlite":
        assert file_traces(database) == set() and file_traces(wal) == set()


def test_a_shared_first_name_loses_only_the_messages_of_the_person_erased(
    client: FlaskClient, session: Session, runtime: Runtime, clock: FrozenClock
) -> None:
    zoe, _bob, _headers = a_person_with_a_past(client, session, clock)
    other = make_member(session, given_name=NAME, display_name=NAME, family_name="Autre")
    session.add(
        Delivery(
            channel="webhook",
            target="https://chat.example.org/hook",
            event="check_in",
            payload={"text": f"{NAME} vient d'arriver à La Cantine"},
            created_at=clock() + timedelta(hours=3),
            next_attempt_at=clock() + timedelta(hours=3),
        )
    )
    session.commit()

    erase_member(session, zoe, clock())
    session.commit()

    kept: list[Any] = [d.payload for d in session.scalars(select(Delivery))]
    assert {"text": f"{NAME} vient d'arriver à La Cantine"} in kept
    assert not any(FAMILY in str(p) or WORK in str(p) for p in kept)
    assert other.erased_at is None
