"""Guests invited ahead: staff prepare a one-day pass (a QR code read back from its
image), e-mailed when the guest gave an address; scanned at the kiosk on its day only."""

from __future__ import annotations

import io
import re
from datetime import date
from html import unescape
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.domain.staff import add_staff
from server.runtime import Runtime
from server.settings import MailSection, ServerSection, Settings
from server.store.models import Delivery, GuestDay, StaffRole
from tests.conftest import FrozenClock, at
from tests.factories import (
    PASSWORD,
    csrf,
    link_for,
    log_in,
    make_kiosk,
    make_member,
    make_site,
    submit,
    tap_json,
    upload,
)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """With a mail server named: passes are queued for the sender (not sent here)."""
    server = ServerSection(
        data_dir=str(tmp_path), database_url=database_url, secret_key="test-secret"
    )
    return Settings(server=server, mail=MailSection(host="127.0.0.1"))


def test_staff_invite_a_guest_whose_pass_opens_on_its_day_only(
    client: FlaskClient, session: Session, runtime: Runtime, clock: FrozenClock
) -> None:
    clock.set(at(9))
    add_staff(session, "accueil@example.org", "Accueil", StaffRole.STAFF, PASSWORD, clock())
    site = make_site(session, name="La Cantine", opening_hours={})
    nadine = make_member(session, given_name="Nadine", host_consent_at=at(8))
    _kiosk, token = make_kiosk(session, site)
    session.commit()
    site_id, nadine_id = site.id, nadine.id
    log_in(client, "accueil@example.org")

    form = {"name": "Dora", "email": "", "site": str(site_id), "host": str(nadine_id)}
    past = submit(client, "/staff/guests", {**form, "day": "2026-11-20"})
    assert "Aujourd'hui ou un jour à venir." in unescape(past.text)
    made = submit(client, "/staff/guests", {**form, "day": "2026-11-26"})
    assert made.status_code == 302
    pass_page = client.get(made.headers["Location"])
    assert pass_page.status_code == 200
    text = unescape(pass_page.text)
    assert "Dora, vous êtes attendu·e à La Cantine le jeudi 26 novembre 2026." in text
    png = re.search(r'<img src="([^"]+)" alt="Code QR du pass"', pass_page.text)
    assert png
    image = Image.open(io.BytesIO(client.get(unescape(png[1])).data))
    value = zxingcpp.read_barcodes(image)[0].text
    assert "Dora" in client.get("/staff/guests").text

    early = upload(client, token, tap_json(value, clock(), badge_kind="qr")).json["results"][0]
    assert (early["outcome"], early["reason"]) == ("revoked", "not_today")
    clock.set(at(10, day=26))
    on_the_day = upload(client, token, tap_json(value, clock(), badge_kind="qr")).json
    assert (on_the_day["results"][0]["outcome"], on_the_day["head_count"]) == ("checked_in", 1)
    [day] = session.scalars(select(GuestDay)).all()
    assert (day.host_id, day.day) == (nadine_id, date(2026, 11, 26))
    assert session.scalars(select(Delivery)).all() == []  # no address given: nothing to send
    assert client.get("/passes/not-a-key").status_code == 404


def test_a_member_invites_a_guest_from_their_page_and_the_pass_is_emailed(
    app: Any, client: FlaskClient, session: Session, runtime: Runtime, clock: FrozenClock
) -> None:
    clock.set(at(9))
    make_site(session, name="La Cantine")
    zoe = make_member(session, given_name="Zoé")
    session.commit()
    page = link_for(app, zoe.id) + "/together"
    url = page.replace("/together", "/invite")
    token = csrf(client, page)
    bad = client.post(url, data={"csrf_token": token, "name": "Eve", "day": "2026-11-20"})
    assert bad.status_code == 400 and "jour à venir" in unescape(bad.text)
    sent = client.post(
        url,
        data={"csrf_token": token, "name": "Eve", "day": "2026-11-25", "email": "eve@example.net"},
    )
    assert sent.status_code == 302 and "/passes/" in sent.headers["Location"]
    [mail] = session.scalars(select(Delivery)).all()
    assert mail.target == "eve@example.net" and sent.headers["Location"] in mail.payload["body"]
    [day] = session.scalars(select(GuestDay)).all()
    assert day.host_id == zoe.id and day.guest.given_name == "Eve"
