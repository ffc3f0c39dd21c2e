"""A member's days on the staff member page: visits and taps day by day, and the forms
that fix them (a departure moved, a wrong tap removed), each with its reason, in the
audit trail in words."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.domain.staff import add_staff
from server.store.models import AuditEntry, StaffRole, Tap, Visit, VisitEnd
from tests.conftest import at
from tests.factories import (
    PASSWORD,
    badge_tap,
    csrf,
    log_in,
    make_badge,
    make_kiosk,
    make_member,
    make_site,
)


def text(page: Any) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.get_data(as_text=True))).split())


@pytest.fixture
def anais(session: Session, clock: Any) -> Any:
    """Anaïs came at 09:10 and a colleague's tap checked her out by mistake at 15:16."""
    add_staff(session, "marie@example.org", "Marie", StaffRole.STAFF, PASSWORD, clock())
    site = make_site(session)
    kiosk, _token = make_kiosk(session, site, name="Entrée")
    member = make_member(session, given_name="Anaïs", family_name="Martin")
    badge = make_badge(session, member)
    badge_tap(session, kiosk, badge, at(9, 10))
    wrong = badge_tap(session, kiosk, badge, at(15, 16))
    member_id = member.id  # read before the commit expires it (a read would lock SQLite)
    session.commit()
    clock.set(at(17))
    return member_id, uuid.UUID(wrong.tap_id)


def visits(session: Session) -> list[tuple[Any, ...]]:
    session.expire_all()
    return [
        (visit.checked_in_at, visit.checked_out_at, visit.ended_by)
        for visit in session.scalars(select(Visit).order_by(Visit.checked_in_at))
    ]


def test_the_member_page_shows_the_day_with_its_visits_and_taps(
    client: FlaskClient, session: Session, anais: Any
) -> None:
    member_id, _wrong = anais
    log_in(client, "marie@example.org")

    page = text(client.get(f"/staff/members/{member_id}"))

    assert "mardi 24 novembre 2026" in page
    assert "9h10 15h16 (badge)" in page  # the visit, ended by a tap
    assert "9h10 Badge · Entrée entrée" in page
    assert "15h16 Badge · Entrée sortie" in page


def test_removing_a_wrong_check_out_from_the_page(
    client: FlaskClient, session: Session, anais: Any
) -> None:
    member_id, wrong_id = anais
    log_in(client, "marie@example.org")
    wrong = session.scalar(select(Tap.id).where(Tap.tap_id == wrong_id))
    session.rollback()  # the test's reading transaction would hold SQLite's write lock

    answer = client.post(
        f"/staff/members/{member_id}/taps/{wrong}/remove",
        data={"csrf_token": csrf(client), "reason": "badge d'une collègue"},
    )

    assert answer.status_code == 302
    assert answer.headers["Location"].endswith(f"/staff/members/{member_id}#day-2026-11-24")
    assert visits(session) == [(at(9, 10), None, None)]
    page = text(client.get(f"/staff/members/{member_id}"))
    assert "retiré par marie@example.org : badge d'une collègue" in page
    trail = text(client.get("/staff/audit"))
    assert "a retiré le passage de 15h16 d'Anaïs Martin" in trail


def test_moving_a_departure_from_the_page(
    client: FlaskClient, session: Session, anais: Any
) -> None:
    member_id, _wrong = anais
    log_in(client, "marie@example.org")
    [visit] = session.scalars(select(Visit.id)).all()
    session.rollback()

    client.post(
        f"/staff/visits/{visit}/end",
        data={"csrf_token": csrf(client), "at": "2026-11-24T16:40", "reason": "oubli de badge"},
    )

    assert visits(session) == [(at(9, 10), at(16, 40), VisitEnd.STAFF)]
    entry = session.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()))
    assert entry is not None and entry.action == "visit.end"
    trail = text(client.get("/staff/audit"))
    assert "Marie a corrigé le départ d'Anaïs Martin : 15h16 → 16h40" in trail
    assert "oubli de badge" in trail


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"at": "2026-11-24T08:00", "reason": "x"}, "La sortie doit venir après l'arrivée (09:10)"),
        ({"at": "2026-11-25T10:00", "reason": "x"}, "Cette heure n'est pas encore passée."),
        (
            {"at": "2026-11-24T16:00", "reason": ""},
            "Raison de la correction : Ce champ est requis.",
        ),
        ({"at": "pas une date", "reason": "x"}, "Nouvelle heure : "),
    ],
)
def test_a_correction_it_cannot_make_says_why_and_changes_nothing(
    client: FlaskClient, session: Session, anais: Any, form: dict[str, str], message: str
) -> None:
    member_id, _wrong = anais
    log_in(client, "marie@example.org")
    [visit] = session.scalars(select(Visit.id)).all()
    before = visits(session)
    session.rollback()

    answer = client.post(f"/staff/visits/{visit}/end", data={"csrf_token": csrf(client), **form})
    page = text(client.get(answer.headers["Location"]))

    assert message in page
    assert visits(session) == before
