"""Badge values at rest: a badge is kept as its keyed hash and a hint, a tap's raw value
only for `[jobs] retention_days`; every lookup goes through the hash."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from badges.lookup import value_hash
from server.cli.commands import _badge
from server.domain import audit
from server.domain.members import assign_badge
from server.jobs.scheduler import erase_old_badge_values
from server.runtime import Runtime
from server.store.models import AuditEntry, Badge, BadgeKind, Tap
from tests.conftest import FrozenClock
from tests.factories import make_kiosk, make_member, make_site, tap_json

UID = "04A224B2C35A80"
KEEP_DAYS = 30


def stored(session: Session, runtime: Runtime) -> set[str]:
    """The tables whose rows hold the raw UID, read as text, and "file" if the SQLite
    file or its log does (it keeps a page's old versions until a checkpoint)."""
    holding = set()
    tables = ("badges", "taps", "audit_log", "deliveries", "members")
    for table in tables:
        if runtime.engine.dialect.name == "postgresql":
            rows = session.scalars(text(f'SELECT t::text FROM "{table}" t')).all()
        else:
            rows = [
                " ".join(map(str, row)) for row in session.execute(text(f"SELECT * FROM {table}"))
            ]
        if any(UID in row for row in rows):
            holding.add(table)
    if runtime.engine.dialect.name == "sqlite":
        database = Path(str(runtime.engine.url.database))
        for path in (database, database.with_name(database.name + "-wal")):
            if path.exists() and UID.encode() in path.read_bytes():
                holding.add("file")
    return holding


def test_a_badge_is_kept_as_its_hash_and_found_by_it(
    client: FlaskClient, session: Session, runtime: Runtime, clock: FrozenClock
) -> None:
    site = make_site(session)
    _kiosk, token = make_kiosk(session, site)
    zoe = make_member(session, given_name="Zoé")
    badge = assign_badge(session, zoe, BadgeKind.NFC, "04:a2:24:b2:c3:5a:80", "", clock())
    audit.record(session, clock(), "staff", "badge.assign", f"member:{zoe.id}", badge=badge.id)
    session.commit()

    assert badge.value_hash == value_hash(runtime.badge_lookup_key, "nfc", UID)
    assert badge.value_hint == "5A80"
    assert stored(session, runtime) == set()  # no raw value anywhere, not even in the file
    session.rollback()

    response = client.post(
        "/api/v1/taps",
        json={"taps": [tap_json("04a224b2c35a80", clock())]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert response.json["results"][0]["name"] == "Zoé"  # recognised through the hash
    tap = session.scalar(select(Tap))
    assert tap is not None and (tap.badge_value, tap.badge_id) == (UID, badge.id)
    assert tap.badge_hash == badge.value_hash
    assert _badge(session, "04:A2:24:B2:C3:5A:80").id == badge.id  # revoke by UID finds it
    session.rollback()


def test_retention_blanks_every_raw_value_older_than_the_window(
    client: FlaskClient, session: Session, runtime: Runtime, clock: FrozenClock
) -> None:
    site = make_site(session)
    _kiosk, token = make_kiosk(session, site)
    zoe = make_member(session, given_name="Zoé")
    assign_badge(session, zoe, BadgeKind.NFC, UID, "", clock())
    # an audit entry written before 0018 held the value itself
    audit.record(session, clock(), "staff", "badge.assign", f"member:{zoe.id}", value=UID)
    session.commit()
    client.post(
        "/api/v1/taps",
        json={"taps": [tap_json(UID, clock())]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert stored(session, runtime) >= {"taps", "audit_log"}
    session.rollback()

    assert erase_old_badge_values(session, clock() + timedelta(days=KEEP_DAYS - 1), KEEP_DAYS) == 0
    session.commit()
    assert "taps" in stored(session, runtime)  # within the window: enrolment needs it
    session.rollback()

    erase_old_badge_values(session, clock() + timedelta(days=KEEP_DAYS + 1), KEEP_DAYS)
    session.commit()
    assert stored(session, runtime) - {"file"} == set()
    tap = session.scalar(select(Tap))
    badge = session.scalar(select(Badge))
    assert tap is not None and badge is not None
    assert tap.badge_value is None and tap.badge_hash == badge.value_hash  # erasure finds it
    entry = session.scalar(select(AuditEntry))
    assert entry is not None and "value" not in entry.details
    session.rollback()
