"""Parrainage: a guest who joins keeps their guest days, their host becomes their sponsor,
and the community report shows sponsors, conversions and guests month by month."""

from __future__ import annotations

from html import unescape

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.domain.staff import add_staff
from server.store.models import Member, StaffRole, Visit
from tests.conftest import FrozenClock, at
from tests.factories import (
    PASSWORD,
    csrf,
    guest_json,
    leaving_json,
    log_in,
    make_kiosk,
    make_member,
    make_site,
    submit,
    upload,
)


def test_a_guest_joins_sponsored_by_their_host_and_the_report_says_so(
    client: FlaskClient, session: Session, clock: FrozenClock
) -> None:
    clock.set(at(9))
    add_staff(session, "accueil@example.org", "Accueil", StaffRole.STAFF, PASSWORD, clock())
    site = make_site(session)
    nadine = make_member(session, given_name="Nadine", family_name="Roux", host_consent_at=at(8))
    _kiosk, token = make_kiosk(session, site)
    session.commit()
    nadine_id = nadine.id
    for day in (24, 25):
        clock.set(at(9, day=day))
        arrival = guest_json("Bob", clock(), email="bob@example.net", host=nadine_id)
        upload(client, token, arrival)
        clock.advance(hours=3)
        upload(client, token, leaving_json(arrival, clock()))
    bob_id = session.scalars(select(Member.id).where(Member.is_guest)).one()
    session.rollback()

    log_in(client, "accueil@example.org")
    guests = client.get("/staff/members?state=guests").text
    assert "Bob" in guests and "Nadine" not in guests.split("<main")[1].split("</form>")[-1]
    assert "Bob" not in client.get("/staff/members").text.split("<main")[1].split("</form>")[-1]
    joined = client.post(f"/staff/members/{bob_id}/join", data={"csrf_token": csrf(client)})
    assert joined.status_code == 302

    bob = session.get(Member, bob_id)
    assert bob is not None and not bob.is_guest and bob.sponsor_id == nadine_id
    visits = session.scalars(select(Visit).where(Visit.member_id == bob_id)).all()
    assert len(visits) == 2  # his guest days are still his
    session.rollback()
    assert "Parrainé·e par Nadine Roux." in unescape(client.get(f"/staff/members/{bob_id}").text)

    page = unescape(client.get("/staff/reports/community").text)
    assert "Nadine Roux" in page and "1 : Bob" in page
    row = page.split("Invité·es devenu·es membres")[1]
    assert "Bob" in row and "24 nov. 2026" in row and "<td>2</td>" in row
    assert "novembre 2026</td><td>2</td><td>1</td>" in page


def test_staff_name_a_members_sponsor_on_their_record(
    client: FlaskClient, session: Session, clock: FrozenClock
) -> None:
    add_staff(session, "accueil@example.org", "Accueil", StaffRole.STAFF, PASSWORD, clock())
    nadine = make_member(session, given_name="Nadine", family_name="Roux")
    chloe = make_member(session, given_name="Chloé", family_name="Dubois")
    session.commit()
    nadine_id, chloe_id, email = nadine.id, chloe.id, chloe.email
    log_in(client, "accueil@example.org")
    form = {
        "given_name": "Chloé",
        "family_name": "Dubois",
        "email": email or "",
        "plan": "payg",
        "visibility": "hidden",
    }
    edit = f"/staff/members/{chloe_id}/edit"
    # Typed, not chosen among every member: a number, or words of one member's name.
    assert submit(client, edit, {**form, "sponsor_text": str(nadine_id)}).status_code == 302
    session.expire_all()
    assert session.get(Member, chloe_id).sponsor_id == nadine_id  # type: ignore[union-attr]
    session.rollback()
    assert submit(client, edit, {**form, "sponsor_text": "999999"}).status_code == 200  # nobody
    assert session.get(Member, chloe_id).sponsor_id == nadine_id  # type: ignore[union-attr]
    session.rollback()
    assert submit(client, edit, {**form, "sponsor_text": "nadine roux"}).status_code == 302
    assert session.get(Member, chloe_id).sponsor_id == nadine_id  # type: ignore[union-attr]
    session.rollback()
    assert submit(client, edit, {**form, "sponsor_text": ""}).status_code == 302
    assert session.get(Member, chloe_id).sponsor_id is None  # type: ignore[union-attr]
