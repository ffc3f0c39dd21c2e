"""Staff pages for members and equipment, beyond the first day: filters, plan changes
from a date, CSV import in the browser, photos, printed cards, roles, staff accounts,
kiosk settings, and the English interface."""

from __future__ import annotations

import html
import io
import random
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pypdfium2
import pytest
import zxingcpp
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.domain.credentials import token_of
from server.domain.members import plan_on
from server.domain.staff import add_staff
from server.runtime import Runtime
from server.store.models import (
    Badge,
    Kiosk,
    KioskMode,
    Member,
    Plan,
    StaffRole,
    StaffUser,
    Visibility,
)
from tests.factories import (
    PASSWORD,
    csrf,
    log_in,
    make_badge,
    make_kiosk,
    make_member,
    make_site,
    submit,
    tap_json,
)

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def admin(session: Session, clock: Any) -> StaffUser:
    user = add_staff(session, "nadine@example.org", "Nadine", StaffRole.ADMIN, PASSWORD, clock())
    session.commit()
    return user


@pytest.fixture
def desk(session: Session, clock: Any) -> StaffUser:
    """A front-desk account: the `staff` role."""
    user = add_staff(session, "accueil@example.org", "Accueil", StaffRole.STAFF, PASSWORD, clock())
    session.commit()
    return user


def names(page: str) -> set[str]:
    """The members listed in the table of the members page."""
    return set(re.findall(r'<a href="/staff/members/\d+">([^<]+)</a>', page))


def test_the_members_list_filters_by_state_presence_and_plan(
    client: FlaskClient, session: Session, admin: StaffUser, clock: Any
) -> None:
    site = make_site(session, opening_hours={})  # open all day: nobody is sent home
    inside = make_member(session, given_name="Ines", family_name="Dedans")
    outside = make_member(session, given_name="Oscar", family_name="Dehors")
    gone = make_member(session, given_name="Gaston", family_name="Parti")
    gone.archived_at = clock()
    outside.plans[0].plan = Plan.MONTHLY
    badge = make_badge(session, inside)
    _kiosk, token = make_kiosk(session, site)
    session.commit()
    client.post(
        "/api/v1/taps",
        json={"taps": [tap_json(badge.value, clock())]},
        headers={"Authorization": f"Bearer {token}"},
    )
    log_in(client, admin.email)

    def listed(query: str) -> set[str]:
        return names(client.get("/staff/members" + query).get_data(as_text=True))

    assert listed("") == {"Ines Dedans", "Oscar Dehors"}  # archived members are set aside
    assert listed("?state=archived") == {"Gaston Parti"}
    assert listed("?state=all") == {"Ines Dedans", "Oscar Dehors", "Gaston Parti"}
    assert listed("?presence=present") == {"Ines Dedans"}
    assert listed("?presence=absent") == {"Oscar Dehors"}
    assert listed("?plan=monthly") == {"Oscar Dehors"}
    assert listed("?plan=payg&q=ines") == {"Ines Dedans"}
    assert listed("?plan=nonsense") == {"Ines Dedans", "Oscar Dehors"}  # no filter, no error


def test_a_plan_change_applies_from_its_date_and_earlier_days_keep_theirs(
    client: FlaskClient, session: Session, admin: StaffUser, clock: Any
) -> None:
    member = make_member(session, given_name="Paula")
    session.commit()
    member_id = member.id
    log_in(client, admin.email)
    today = clock().astimezone(PARIS).date()
    starts = today + timedelta(days=6)
    form = {
        "given_name": "Paula",
        "family_name": "P",
        "email": "paula@example.org",
        "visibility": "hidden",
        "plan": "pack",
        "plan_from": starts.isoformat(),
    }
    assert submit(client, f"/staff/members/{member_id}/edit", form).status_code == 302

    session.expire_all()
    found = session.get(Member, member_id)
    assert found is not None
    assert [(p.plan, p.starts_on) for p in found.plans][-1] == (Plan.PACK, starts)
    assert plan_on(found, starts - timedelta(days=1)).plan is Plan.PAYG  # type: ignore[union-attr]
    assert plan_on(found, starts).plan is Plan.PACK  # type: ignore[union-attr]
    session.rollback()
    page = client.get(f"/staff/members/{member_id}").get_data(as_text=True)
    assert starts.strftime("%d/%m/%Y") in page and "Carnet" in page
    assert "a changé la formule" in client.get("/staff/audit").get_data(as_text=True)

    # Saving the form again with the same plan adds nothing.
    submit(client, f"/staff/members/{member_id}/edit", form)
    session.expire_all()
    assert len(session.get(Member, member_id).plans) == 2  # type: ignore[union-attr]


def upload(client: FlaskClient, url: str, field: str, body: bytes, name: str) -> Any:
    token = csrf(client)
    return client.post(
        url,
        data={"csrf_token": token, field: (io.BytesIO(body), name)},
        content_type="multipart/form-data",
    )


def test_a_csv_from_french_excel_imports_and_a_wrong_line_imports_nothing(
    client: FlaskClient, session: Session, admin: StaffUser
) -> None:
    log_in(client, admin.email)
    excel = (
        "given_name;family_name;email;plan;skills\r\n"
        "Hélène;Dubœuf;helene@example.org;pack;vélo|café\r\n"
    )
    wrong = excel + "Zoé;;not-an-address;payg;\r\n"
    refused = upload(client, "/staff/members/import", "file", wrong.encode("cp1252"), "m.csv")
    assert refused.status_code == 400
    page = refused.get_data(as_text=True)
    assert "Rien n'a été importé" in page
    assert "Ligne 3, colonne email : il faut une adresse e-mail valide." in page
    twice = excel + "Hélène bis;;HELENE@example.org;;\r\n"  # the same address, in capitals
    page = upload(client, "/staff/members/import", "file", twice.encode(), "m.csv").text
    assert "Ligne 3 : helene@example.org est déjà l&#39;adresse d&#39;un membre." in page
    unknown = "given_name;birthday\r\nZoé;1990-01-01\r\n"
    page = upload(client, "/staff/members/import", "file", unknown.encode(), "m.csv").text
    assert "Ligne 1 : colonne inconnue « birthday »." in page
    assert session.scalars(select(Member)).all() == []
    session.rollback()

    done = upload(client, "/staff/members/import", "file", excel.encode("cp1252"), "m.csv")
    assert done.status_code == 302
    assert "1 membre importé." in client.get("/staff/members").get_data(as_text=True)
    (helene,) = session.scalars(select(Member)).all()
    assert (helene.given_name, helene.family_name, helene.skills) == (
        "Hélène",
        "Dubœuf",
        ["vélo", "café"],
    )
    assert helene.plans[0].plan is Plan.PACK


def photo_with_location(width: int = 960, height: int = 320) -> bytes:
    """A phone picture: noisy pixels (over 256 KiB, under the test client's 500 KiB spool)
    with the camera and the place."""
    image = Image.frombytes("RGB", (width, height), random.Random(7).randbytes(width * height * 3))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # camera make
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0)}  # GPS: where the picture was taken
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, quality=95)
    return out.getvalue()


def test_a_photo_is_kept_small_without_metadata_and_shown_only_at_profile_level(
    app: Flask, client: FlaskClient, session: Session, admin: StaffUser, tmp_path: Path
) -> None:
    member = make_member(session, given_name="Lou")
    session.commit()
    member_id = member.id
    log_in(client, admin.email)
    original = photo_with_location()
    assert len(original) > 256 * 1024  # more than the kiosk API takes: uploads get their own limit

    assert (
        upload(
            client, f"/staff/members/{member_id}/photo", "photo", original, "lou.jpg"
        ).status_code
        == 302
    )
    session.expire_all()
    address = session.get(Member, member_id).photo  # type: ignore[union-attr]
    assert address is not None and address.startswith("/photos/")
    stored = tmp_path / "photos" / address.removeprefix("/photos/")
    with Image.open(stored) as kept:
        assert max(kept.size) == 512 and kept.format == "JPEG"
        assert len(kept.getexif()) == 0  # no camera, no place
    session.rollback()

    anonymous = app.test_client()
    assert anonymous.get(address).status_code == 404  # hidden by default: the photo too
    session.get(Member, member_id).visibility = Visibility.PROFILE  # type: ignore[union-attr]
    session.commit()
    with anonymous.get(address) as shown:
        assert shown.status_code == 200 and shown.mimetype == "image/jpeg"
    with client.get(f"/staff/members/{member_id}/photo") as for_staff:
        assert for_staff.status_code == 200

    not_a_picture = upload(
        client, f"/staff/members/{member_id}/photo", "photo", b"%PDF-1.4", "x.jpg"
    )
    assert not_a_picture.status_code == 302
    assert "pas une image lisible" in client.get(f"/staff/members/{member_id}").get_data(
        as_text=True
    )

    token = csrf(client)
    client.post(f"/staff/members/{member_id}/erase", data={"csrf_token": token, "reason": "RGPD"})
    assert not stored.exists()  # erasure removes the file too
    assert anonymous.get(address).status_code == 404


def test_a_members_card_prints_from_the_browser_and_reads_back(
    client: FlaskClient, session: Session, admin: StaffUser, runtime: Runtime
) -> None:
    member = make_member(session, given_name="Carla")
    session.commit()
    member_id = member.id
    log_in(client, admin.email)
    assert client.get(f"/staff/members/{member_id}/cards.pdf").status_code == 302  # no QR badge yet
    client.post(f"/staff/members/{member_id}/badges/qr", data={"csrf_token": csrf(client)})
    badge = session.scalar(select(Badge).where(Badge.member_id == member_id))
    token = token_of(session, badge, runtime.badge_private_key)  # only its hash is stored

    pdf = client.get(f"/staff/members/{member_id}/cards.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    page = pypdfium2.PdfDocument(pdf.data)[0].render(scale=300 / 72).to_pil()
    assert [found.text for found in zxingcpp.read_barcodes(page)] == [token]
    assert client.get("/staff/cards.pdf").mimetype == "application/pdf"


def test_the_staff_role_cannot_change_equipment_erase_people_or_manage_accounts(
    client: FlaskClient, session: Session, desk: StaffUser
) -> None:
    site = make_site(session)
    kiosk, _token = make_kiosk(session, site)
    member = make_member(session, given_name="Rémi")
    session.commit()
    member_id, kiosk_id, slug = member.id, kiosk.id, site.slug
    session.rollback()
    log_in(client, desk.email)
    token = csrf(client)
    refused = {
        f"/staff/members/{member_id}/erase": {"reason": "x"},
        "/staff/kiosks": {"name": "porte", "site": slug, "mode": "in"},
        f"/staff/kiosks/{kiosk_id}": {f"k{kiosk_id}-site": slug, f"k{kiosk_id}-mode": "out"},
        f"/staff/kiosks/{kiosk_id}/rotate": {},
        "/staff/team": {"email": "x@example.org", "name": "X", "role": "admin"},
    }
    for url, form in refused.items():
        answer = client.post(url, data={**form, "csrf_token": token})
        assert answer.status_code == 403, url
        assert "Réservé aux administrateurs" in answer.get_data(as_text=True)
    assert client.get("/staff/team").status_code == 403
    session.expire_all()
    assert session.get(Member, member_id).erased_at is None  # type: ignore[union-attr]
    assert session.scalars(select(Kiosk)).one().mode is KioskMode.TOGGLE
    assert session.scalars(select(StaffUser)).one().email == desk.email
    session.rollback()  # let go of the database before the next request
    # What the front desk does every day still works.
    archived = client.post(f"/staff/members/{member_id}/archive", data={"csrf_token": token})
    assert archived.status_code == 302


def test_an_admin_moves_a_kiosk_and_changes_its_mode(
    client: FlaskClient, session: Session, admin: StaffUser, clock: Any
) -> None:
    first, second = make_site(session, opening_hours={}), make_site(session, opening_hours={})
    kiosk, token = make_kiosk(session, first)
    badge = make_badge(session, make_member(session))
    session.commit()
    log_in(client, admin.email)
    form = {f"k{kiosk.id}-site": second.slug, f"k{kiosk.id}-mode": "out"}
    assert (
        client.post(
            f"/staff/kiosks/{kiosk.id}", data={**form, "csrf_token": csrf(client)}
        ).status_code
        == 302
    )

    answer = client.post(
        "/api/v1/taps",
        json={"taps": [tap_json(badge.value, clock())]},
        headers={"Authorization": f"Bearer {token}"},
    )
    # An exit-only kiosk does not check in someone who is not there.
    assert answer.get_json()["results"][0]["outcome"] != "checked_in"
    session.expire_all()
    assert session.get(Kiosk, kiosk.id).site_id == second.id  # type: ignore[union-attr]
    assert "a modifié une borne" in client.get("/staff/audit").get_data(as_text=True)


def test_accounts_passwords_shown_once_reset_disabled_and_changed(
    app: Flask, client: FlaskClient, session: Session, admin: StaffUser
) -> None:
    log_in(client, admin.email)
    created = submit(
        client, "/staff/team", {"email": "Zoe@Example.org", "name": "Zoé", "role": "staff"}
    )
    password = created.get_data(as_text=True).split('<code id="new-password">')[1].split("<")[0]
    assert len(password) >= 16
    assert password not in client.get("/staff/team").get_data(as_text=True)

    zoe = app.test_client()
    assert log_in(zoe, "zoe@example.org", password).status_code == 302
    changed = submit(
        zoe,
        "/staff/password",
        {"current": password, "new": "a much longer secret", "again": "a much longer secret"},
    )
    assert changed.status_code == 302
    assert zoe.get("/staff/").status_code == 200  # the session that changed it goes on

    other = app.test_client()
    assert log_in(other, "zoe@example.org", "a much longer secret").status_code == 302
    user_id = session.scalar(select(StaffUser.id).where(StaffUser.email == "zoe@example.org"))
    session.rollback()
    client.post(f"/staff/team/{user_id}/disable", data={"csrf_token": csrf(client)})
    assert other.get("/staff/").status_code == 302  # a disabled account is out at once
    assert log_in(app.test_client(), "zoe@example.org", "a much longer secret").status_code == 401

    short = submit(
        client, "/staff/password", {"current": PASSWORD, "new": "short", "again": "short"}
    )
    assert short.status_code == 400
    wrong = submit(
        client, "/staff/password", {"current": "not it at all", "new": "x" * 20, "again": "x" * 20}
    )
    assert wrong.status_code == 400 and "pas le bon" in wrong.get_data(as_text=True)
    trail = html.unescape(client.get("/staff/audit").get_data(as_text=True))
    assert "a ajouté un compte d'équipe" in trail and "a changé son mot de passe" in trail
    assert "a désactivé un compte d'équipe" in trail


def test_the_staff_pages_speak_english_when_asked(
    client: FlaskClient, session: Session, admin: StaffUser
) -> None:
    make_member(session, given_name="Eve")
    session.commit()
    login = client.get("/staff/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in login.get_data(as_text=True)
    log_in(client, admin.email)
    page = client.get("/staff/members?lang=en").get_data(as_text=True)
    assert "Members" in page and "New member" in page and "Nouveau membre" not in page
    assert "Dashboard" in client.get("/staff/").get_data(as_text=True)  # remembered
    back = client.get("/staff/?lang=fr").get_data(as_text=True)
    assert "Tableau de bord" in back and '<html lang="fr">' in back


def test_guessing_ones_current_password_is_limited_like_the_log_in(
    client: FlaskClient, admin: StaffUser
) -> None:
    log_in(client, admin.email)
    wrong = {"current": "not it at all", "new": "x" * 20, "again": "x" * 20}
    answers = [submit(client, "/staff/password", wrong) for _ in range(6)]
    assert [answer.status_code for answer in answers] == [400] * 5 + [429]
    assert "Trop d&#39;essais" in answers[5].get_data(as_text=True)


def member_link_on(client: FlaskClient, member: Member) -> str:
    """The personal link the member's staff page shows to be copied, as a path."""
    page = client.get(f"/staff/members/{member.id}").get_data(as_text=True)
    found = re.search(r'<code id="member-link">([^<]+)</code>', page)
    assert found, "no personal link on the member's page"
    assert found[1].startswith("http://127.0.0.1:5000/me/")  # the server's own address
    return found[1].removeprefix("http://127.0.0.1:5000")


def test_staff_replace_a_members_link_and_the_old_one_says_so(
    app: Flask, client: FlaskClient, session: Session, desk: StaffUser
) -> None:
    member = make_member(session, given_name="Alice")
    session.commit()
    log_in(client, desk.email)
    old = member_link_on(client, member)
    alice = app.test_client()  # the member's phone
    assert alice.get(old).status_code == 200

    without_token = client.post(f"/staff/members/{member.id}/link")
    assert without_token.status_code == 400 and alice.get(old).status_code == 200
    url = f"/staff/members/{member.id}"
    replaced = client.post(f"{url}/link", data={"csrf_token": csrf(client, url)})
    assert replaced.status_code == 302
    assert "l&#39;ancien ne fonctionne plus" in client.get(url).get_data(as_text=True)

    refused = alice.get(old)
    assert refused.status_code == 410
    assert "remplacé par un nouveau" in refused.get_data(as_text=True)
    assert alice.get(old + "/data.json").status_code == 410
    new = member_link_on(client, member)
    assert new != old and alice.get(new).status_code == 200
    assert alice.get("/staff/audit").status_code == 302  # the member is not staff
    audit = client.get("/staff/audit").get_data(as_text=True)
    assert "a remplacé le lien personnel" in audit
