"""0018 turns each badge's raw value into its keyed hash and hint, hashes the taps, and
scrubs the values from the audit trail; it needs the lookup key, and cannot be undone."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Connection, Engine, inspect, select, text

from server.domain.checkin import record_tap
from server.domain.presence import IncomingTap, Rules, TapContext
from server.store import migrate
from server.store.db import make_engine, make_session_factory
from server.store.models import AuditEntry, Badge, BadgeKind, Kiosk, Outcome, Tap

KEY = bytes(range(32))
UID = "04A224B2C35A80"
TOKEN = "P1-NOT-A-REAL-TOKEN-ABCD"
WHEN = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    created = make_engine(database_url)
    yield created
    created.dispose()


def _insert(db: Connection, table: str, **values: object) -> None:
    names = ", ".join(values)
    db.execute(text(f"INSERT INTO {table} ({names}) VALUES (:{', :'.join(values)})"), values)


def _at_0017_with_badges(engine: Engine) -> None:
    migrate.upgrade(engine, "0017")
    now = datetime(2026, 11, 1)
    with engine.begin() as db:
        _insert(
            db,
            "sites",
            id=1,
            slug="la-cantine",
            name="La Cantine",
            timezone="Europe/Paris",
            opening_hours="{}",
            created_at=now,
        )
        _insert(
            db,
            "kiosks",
            id=1,
            name="porte",
            site_id=1,
            mode="toggle",
            token_hash="x",
            token_issued_at=now,
            created_at=now,
        )
        _insert(
            db,
            "members",
            id=1,
            given_name="Zoé",
            family_name="Z",
            display_name="",
            language="fr",
            skills="[]",
            working_on="",
            open_to_chat_about="",
            visibility="hidden",
            created_at=now,
        )
        for badge_id, kind, value in ((1, "nfc", UID), (2, "qr", TOKEN), (3, "nfc", "erased-3")):
            _insert(
                db,
                "badges",
                id=badge_id,
                member_id=1,
                kind=kind,
                value=value,
                label="",
                issued_at=now,
            )
        _insert(
            db,
            "taps",
            tap_id=str(uuid.uuid4()),
            kind="badge",
            reason="",
            occurred_at=now,
            clock="server",
            received_at=now,
            outcome="checked_in",
            response="{}",
            badge_kind="nfc",
            badge_value=UID,
            member_id=1,
            badge_id=1,
        )
        _insert(
            db,
            "audit_log",
            at=now,
            actor="staff",
            action="badge.assign",
            target="member:1",
            reason="",
            details=f'{{"badge": 1, "value": "{UID}"}}',
        )
    # fmt: skip


def _hash(kind: str, value: str) -> str:
    return hmac.new(KEY, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def test_0018_keeps_hashes_and_hints_and_an_old_badge_still_opens(engine: Engine) -> None:
    _at_0017_with_badges(engine)

    migrate.upgrade(engine, lookup_key=KEY)

    assert "value" not in {column["name"] for column in inspect(engine).get_columns("badges")}
    sessions = make_session_factory(engine, KEY)
    with sessions() as session:
        badges = {b.id: (b.value_hash, b.value_hint) for b in session.scalars(select(Badge))}
        assert badges == {
            1: (_hash("nfc", UID), "5A80"),
            2: (_hash("qr", TOKEN), "ABCD"),
            3: ("erased-3", ""),
        }
        assert session.scalar(select(Tap.badge_hash)) == _hash("nfc", UID)
        assert session.scalar(select(AuditEntry.details)) == {"badge": 1, "hint": "5A80"}
        kiosk = session.get(Kiosk, 1)
        assert kiosk is not None
        tap = IncomingTap(uuid.uuid4(), "04:a2:24:b2:c3:5a:80", BadgeKind.NFC, WHEN)
        result = record_tap(session, tap, TapContext(kiosk, None, WHEN, Rules()))
        assert (result.outcome, result.name) == (Outcome.CHECKED_IN, "Zoé")  # recognised
        entry = session.scalar(select(Tap).where(Tap.tap_id == tap.tap_id))
        assert entry is not None and (entry.badge_id, entry.member_id) == (1, 1)
        session.rollback()


def test_0018_refuses_to_run_without_the_key_and_to_go_back(engine: Engine) -> None:
    _at_0017_with_badges(engine)
    with pytest.raises(RuntimeError, match="presence db upgrade"):
        migrate.upgrade(engine)
    assert migrate.current_revision(engine) == "0017"  # all of it rolled back

    migrate.upgrade(engine, lookup_key=KEY)
    head = migrate.current_revision(engine)  # later revisions come down first, then 0018 refuses
    config = migrate.alembic_config(engine.url.render_as_string(hide_password=False))
    with pytest.raises(RuntimeError, match="cannot come back"), engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0017")
    assert migrate.current_revision(engine) == head
