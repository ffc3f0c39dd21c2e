"""Hostile files and addresses on the staff pages: a readable refusal, never a 500.
CSV imports with an endless cell, too many lines or not text; pictures with too many
pixels; every form with an e-mail field, given a good and a bad address."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.domain.members import MAX_ROWS
from server.domain.staff import add_staff
from server.store.models import GuestDay, Member, Site, StaffRole, StaffUser
from tests.factories import PASSWORD, csrf, log_in, make_member, make_site, submit


@pytest.fixture
def admin(session: Session, clock: Any, client: FlaskClient) -> StaffUser:
    user = add_staff(session, "nadine@example.org", "Nadine", StaffRole.ADMIN, PASSWORD, clock())
    make_site(session)
    session.commit()
    log_in(client, user.email)
    return user


def upload(client: FlaskClient, url: str, field: str, body: bytes) -> Any:
    token = csrf(client, url if "import" in url else url.removesuffix("/photo"))
    data = {"csrf_token": token, field: (io.BytesIO(body), "file")}
    return client.post(url, data=data, follow_redirects=True)


def members(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Member)) or 0


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"given_name,working_on\nAda,x\nLou," + b"y" * 200_000 + b"\n", "Ligne 3 : une cellule"),
        (b"given_name,working_on\nAda,x\nLou," + b"y" * 5_000 + b"\n", "Ligne 3 : une cellule"),
        (b"given_name\n" + b"Ada\n" * (MAX_ROWS + 1), f"Ligne {MAX_ROWS + 2} : "),
        (b"given_name\nAda\nL\x00u\n", "Ligne 3 : ce fichier n"),
        (b"given_name\nAda\nL\x81u\n", "Ligne 3 : ce fichier n"),
        (b'given_name\nAda\n"Lou\n', None),  # an unclosed quote: read to the end, no 500
    ],
)
def test_a_hostile_csv_is_refused_with_its_line(client, session, admin, body, says) -> None:  # type: ignore[no-untyped-def]
    # As `[api] max_body_kib = 1024` sets it, for an install with bigger imports.
    client.application.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    response = upload(client, "/staff/members/import", "file", body)
    assert response.status_code in (200, 400)
    page = response.get_data(as_text=True)
    if says is not None:
        assert response.status_code == 400
        assert "Rien n'a été importé" in page and says in page
        assert members(session) == 0


@given(
    cells=st.lists(st.text(max_size=20), min_size=1, max_size=5),
    junk=st.binary(max_size=40),
)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_csv_gets_a_500(client, admin, cells, junk) -> None:  # type: ignore[no-untyped-def]
    body = ("given_name,skills\n" + ",".join(cells) + "\n").encode() + junk
    assert upload(client, "/staff/members/import", "file", body).status_code in (200, 400)


def png(width: int, height: int, mode: str = "1") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height)).save(out, format="PNG", optimize=True)
    return out.getvalue()


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (png(13_000, 13_000), "trop de pixels (10 mégapixels au plus"),
        (png(40_000, 40_000), "trop de pixels"),
        (png(3_000, 3_000), None),
        (b"GIF89a" + b"\x00" * 20, "image lisible"),
        (png(200, 200)[:60], "image lisible"),
    ],
    ids=["169MP", "1.6GP", "9MP", "gif", "cut"],
)
def test_a_photo_with_too_many_pixels_is_refused_before_decoding(
    client, session, admin, body, says
) -> None:  # type: ignore[no-untyped-def]
    member = make_member(session)
    session.commit()
    response = upload(client, f"/staff/members/{member.id}/photo", "photo", body)
    assert response.status_code == 200
    session.expire_all()
    if says is None:
        assert session.get(Member, member.id).photo is not None  # type: ignore[union-attr]
    else:
        assert says in response.get_data(as_text=True), "no refusal shown"
        assert session.get(Member, member.id).photo is None  # type: ignore[union-attr]


@given(side=st.integers(1, 20_000), other=st.integers(1, 20_000), mode=st.sampled_from("1LP"))
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_picture_size_gets_a_500(client, session, admin, side, other, mode) -> None:  # type: ignore[no-untyped-def]
    member = make_member(session)
    session.commit()
    response = upload(client, f"/staff/members/{member.id}/photo", "photo", png(side, other, mode))
    assert response.status_code == 200


@pytest.mark.parametrize(("email", "valid"), [("lou@example.org", True), ("lou@@x", False)])
def test_the_guest_invite_checks_the_address(client, session, admin, clock, email, valid) -> None:  # type: ignore[no-untyped-def]
    day = clock().date().isoformat()
    site = session.scalar(select(Site.id))
    session.commit()  # ends the read, or SQLite keeps the page's write waiting
    form = {"name": "Lou", "email": email, "day": day, "site": str(site), "host": "0"}
    response = submit(client, "/staff/guests", form)
    assert response.status_code in (200, 302)
    invited = session.scalar(select(func.count()).select_from(GuestDay))
    assert invited == (1 if valid else 0)


@pytest.mark.parametrize(("email", "valid"), [("lou@example.org", True), ("lou@@x", False)])
def test_a_new_member_form_checks_the_address(client, session, admin, email, valid) -> None:  # type: ignore[no-untyped-def]
    form = {"given_name": "Lou", "email": email, "plan": "payg", "visibility": "hidden"}
    response = submit(client, "/staff/members/new", form)
    assert response.status_code in (200, 302, 400)
    assert members(session) == (1 if valid else 0)


@pytest.mark.parametrize(("email", "valid"), [("lou@example.org", True), ("lou@@x", False)])
def test_a_new_staff_account_checks_the_address(client, session, admin, email, valid) -> None:  # type: ignore[no-untyped-def]
    response = submit(client, "/staff/team", {"email": email, "name": "Lou", "role": "staff"})
    assert response.status_code in (200, 302, 400)
    accounts = session.scalar(select(func.count()).select_from(StaffUser))
    assert accounts == (2 if valid else 1)


# A NUL character was a 500 on PostgreSQL (it refuses one in text): every form refuses it.
@pytest.mark.parametrize("email", ["nadine@example.org", "x@@", "\x00@example.org"])
def test_the_staff_login_takes_any_address_without_a_500(client, session, admin, email) -> None:  # type: ignore[no-untyped-def]
    client.post("/staff/logout")
    response = submit(client, "/staff/login", {"email": email, "password": "wrong password"})
    assert response.status_code in (200, 400, 401)
