"""The staff area: log in and out, nothing answers without a session, forms need their
CSRF token, login attempts are limited, and the dashboard shows who is here."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete
from sqlalchemy.orm import Session

from server.domain.credentials import token_of
from server.domain.staff import add_staff, hasher
from server.runtime import Runtime
from server.store.models import Member, StaffRole, StaffUser, Visibility
from tests.factories import make_badge, make_kiosk, make_member, make_site, submit, tap_json

PASSWORD = "correct horse battery staple"
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def nadine(session: Session, clock: Any) -> StaffUser:
    user = add_staff(session, "nadine@example.org", "Nadine", StaffRole.ADMIN, PASSWORD, clock())
    session.commit()
    return user


def log_in(client: FlaskClient, email: str = "nadine@example.org", password: str = PASSWORD) -> Any:
    return submit(client, "/staff/login", {"email": email, "password": password})


def example(match: re.Match[str]) -> str:
    """A value for a URL variable: `<int:member_id>` -> 1, `<any('a', 'b'):x>` -> a."""
    variable = match[1]
    if variable.startswith("int:"):
        return "1"
    if variable.startswith("any("):
        return variable.split("'")[1]
    return "cantine"


def test_no_staff_page_answers_without_a_session(app: Flask, client: FlaskClient) -> None:
    routes = [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/staff")]
    assert len(routes) >= 4
    for rule in routes:
        if rule.endpoint == "staff.login":
            continue
        url = re.sub(r"<([^>]+)>", example, rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method)
            assert response.status_code in (302, 400), (method, url, response.status_code)
            if response.status_code == 302:
                assert response.headers["Location"].startswith("/staff/login")
            assert "Tableau de bord" not in response.get_data(as_text=True)


def test_log_in_see_the_dashboard_and_log_out(
    client: FlaskClient, session: Session, nadine: StaffUser, clock: Any
) -> None:
    site = make_site(session, name="La Cantine")
    hidden = make_member(session, given_name="Ségolène", family_name="Roux")
    hidden.visibility = Visibility.HIDDEN
    hostile = make_member(session, given_name=HOSTILE, family_name="X")
    for member in (hidden, hostile):
        make_badge(session, member, value=f"04A224B2C35A{member.id:02X}")
    _kiosk, token = make_kiosk(session, site)
    session.commit()
    taps = [tap_json(f"04A224B2C35A{m.id:02X}", clock()) for m in (hidden, hostile)]
    client.post("/api/v1/taps", json={"taps": taps}, headers={"Authorization": f"Bearer {token}"})

    wrong = log_in(client, password="not the password")
    assert wrong.status_code == 401 and "incorrect" in wrong.get_data(as_text=True)
    unknown = log_in(client, email="nobody@example.org")
    assert unknown.status_code == 401  # the same answer: no account list for guessers

    response = log_in(client)
    assert response.status_code == 302 and response.headers["Location"] == "/staff/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/staff/").get_data(as_text=True)
    assert "Ségolène Roux" in page  # staff see everyone, hidden members too
    assert HOSTILE not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    roll = client.get(f"/staff/roll-call/{site.slug}").get_data(as_text=True)
    assert "Roux Ségolène" in roll and "discrètes comprises" in roll

    page = client.get("/staff/").get_data(as_text=True)  # the logout form is on every page
    token_field = page.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/staff/logout", data={"csrf_token": token_field})
    assert client.get("/staff/").status_code == 302


def test_a_form_without_its_csrf_token_is_refused(client: FlaskClient, nadine: StaffUser) -> None:
    response = client.post("/staff/login", data={"email": nadine.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "Ce formulaire a expiré" in response.get_data(as_text=True)
    assert client.get("/staff/").status_code == 302  # not logged in


def test_login_attempts_are_limited_with_a_clear_message(
    client: FlaskClient, nadine: StaffUser
) -> None:
    statuses = [log_in(client, password=f"guess {n}").status_code for n in range(5)]
    assert statuses == [401] * 5
    blocked = log_in(client)  # even the right password waits now
    assert blocked.status_code == 429
    assert "Trop de tentatives" in blocked.get_data(as_text=True)


def test_a_password_change_ends_the_open_sessions(
    client: FlaskClient, session: Session, nadine: StaffUser
) -> None:
    log_in(client)
    assert client.get("/staff/").status_code == 200
    user = session.get(StaffUser, nadine.id)
    assert user is not None
    user.password_hash = hasher.hash("a brand new long password")
    session.commit()
    assert client.get("/staff/").status_code == 302


def test_a_next_address_elsewhere_is_not_followed(client: FlaskClient, nadine: StaffUser) -> None:
    url = "/staff/login?next=//evil.example/staff"
    response = submit(client, url, {"email": nadine.email, "password": PASSWORD})
    assert response.headers["Location"] == "/staff/"


def csrf(client: FlaskClient, url: str) -> str:
    """The CSRF token of the forms on a page (one per session)."""
    page = client.get(url).get_data(as_text=True)
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def test_create_a_member_issue_a_badge_check_out_by_hand_and_see_the_audit(
    client: FlaskClient, session: Session, nadine: StaffUser, clock: Any, runtime: Runtime
) -> None:
    site = make_site(session, name="La Cantine")
    _kiosk, kiosk_token = make_kiosk(session, site)
    session.commit()
    site_id = site.id
    log_in(client)

    fields = {"given_name": HOSTILE, "family_name": "Martin", "email": "x@example.org"}
    created = submit(
        client, "/staff/members/new", {**fields, "plan": "payg", "visibility": "first_name"}
    )
    assert created.status_code == 302
    member_url = created.headers["Location"]
    listing = client.get("/staff/members?q=Martin").get_data(as_text=True)
    assert HOSTILE not in listing and "&lt;img src=x onerror=alert(1)&gt; Martin" in listing

    token = csrf(client, member_url)
    client.post(member_url + "/badges/qr", data={"csrf_token": token})
    session.expire_all()
    (badge,) = session.query(Member).filter_by(family_name="Martin").one().badges
    qr_token = token_of(session, badge, runtime.badge_private_key)  # only its hash is kept
    session.rollback()  # let go of the database before the kiosk's request

    tapped = client.post(
        "/api/v1/taps",
        json={"taps": [tap_json(qr_token, clock(), badge_kind="qr")]},
        headers={"Authorization": f"Bearer {kiosk_token}"},
    )
    assert tapped.json["results"][0]["outcome"] == "checked_in"
    assert "Martin" in client.get("/staff/").get_data(as_text=True)

    clock.advance(hours=2)
    correction = {"csrf_token": token, "site": str(site_id), "at": ""}
    no_reason = client.post(member_url + "/check-out", data=correction)
    assert no_reason.status_code == 302 and "Martin" in client.get("/staff/").get_data(as_text=True)
    out = client.post(member_url + "/check-out", data={**correction, "reason": "parti sans badger"})
    assert out.status_code == 302
    assert "Martin" not in client.get("/staff/").get_data(as_text=True)
    trail = html.unescape(client.get("/staff/audit").get_data(as_text=True))
    for said in ("a inscrit", "a créé un badge QR pour", "a enregistré une sortie pour"):
        assert f"Nadine {said}" in trail
    assert "parti sans badger" in trail


def test_an_unknown_badge_is_enrolled_in_one_click_and_a_badge_revoked(
    client: FlaskClient, session: Session, nadine: StaffUser, clock: Any
) -> None:
    site = make_site(session)
    member = make_member(session, given_name="Bruno", family_name="Kerbrat")
    _kiosk, kiosk_token = make_kiosk(session, site)
    session.commit()
    member_id = member.id
    auth = {"Authorization": f"Bearer {kiosk_token}"}

    def tap() -> str:
        body = {"taps": [tap_json("04:AA:BB:CC:DD:EE:07", clock())]}
        outcome: str = client.post("/api/v1/taps", json=body, headers=auth).json["results"][0][
            "outcome"
        ]
        return outcome

    assert tap() == "unknown_badge"
    log_in(client)
    dashboard = client.get("/staff/").get_data(as_text=True)
    assert "04AABBCCDDEE07" in dashboard
    token = csrf(client, "/staff/")
    enrol = {
        "csrf_token": token,
        "kind": "nfc",
        "value": "04AABBCCDDEE07",
        "member": str(member_id),
    }
    assert client.post("/staff/badges/enrol", data=enrol).status_code == 302
    assert "04AABBCCDDEE07" not in client.get("/staff/").get_data(as_text=True)
    clock.advance(seconds=5)
    assert tap() == "checked_in"

    page = client.get(f"/staff/members/{member_id}").get_data(as_text=True)
    badge_id = page.split("/staff/badges/")[1].split("/revoke")[0]
    client.post(f"/staff/badges/{badge_id}/revoke", data={"csrf_token": token})
    clock.advance(minutes=5)
    assert tap() == "revoked"
    trail = html.unescape(client.get("/staff/audit").get_data(as_text=True))
    assert "Nadine a donné un badge à" in trail and "Nadine a révoqué un badge" in trail


def kiosk_line(page: str, name: str) -> str:
    """The dashboard's line of one kiosk, from its name to the end of its state."""
    found = re.search(rf"<td>{re.escape(name)}</td>\s*<td>(.*?)</td>", page, re.S)
    assert found, f"no line for kiosk {name}"
    return found[1]


def test_the_dashboard_says_when_a_kiosks_clock_or_badge_reader_is_wrong(
    client: FlaskClient, session: Session, nadine: StaffUser, clock: Any
) -> None:
    """A clock is wrong when its last skew is more than `future_tolerance` off, or for a
    day after a tap from the kiosk could not be placed in time honestly; a reader that
    is gone or stuck is said on the kiosk's line. All in red, like a kiosk offline."""
    site = make_site(session)
    tokens = {
        name: make_kiosk(session, site, name=name)[1]
        for name in ("borne-horloge", "borne-lecteur", "borne-retard", "borne-ok")
    }
    session.commit()

    def send(name: str, path: str, body: dict[str, Any]) -> None:
        headers = {"Authorization": f"Bearer {tokens[name]}"}
        assert client.post(f"/api/v1/{path}", json=body, headers=headers).status_code == 200

    right = {"boot_id": "b1", "monotonic": 3600.0, "wall": clock().isoformat()}
    for name in tokens:
        send(name, "heartbeat", {"clock": right, "reader": "ok"})
    send("borne-lecteur", "heartbeat", {"clock": right, "reader": "gone"})
    behind = {**right, "wall": (clock() - timedelta(hours=2)).isoformat()}
    send("borne-retard", "heartbeat", {"clock": behind})
    # Rebooted offline with a clock days behind: the tap cannot be placed honestly.
    clock.advance(hours=1)
    tap = tap_json("04FFFFFFFFFFFF", clock() - timedelta(days=3), boot_id="b2", monotonic=5.0)
    send("borne-horloge", "taps", {"clock": {"boot_id": "b3", "monotonic": 60.0}, "taps": [tap]})

    log_in(client)
    for url in ("/staff/", "/staff/live"):
        page = client.get(url).get_data(as_text=True)
        lines = {name: kiosk_line(page, name) for name in tokens}
        wrong = '<span class="down">horloge de la borne fausse</span>'
        assert [name for name, line in lines.items() if wrong in line] == [
            "borne-horloge",
            "borne-retard",
        ]
        assert '<span class="down">Lecteur de badges débranché</span>' in lines["borne-lecteur"]
        assert "Lecteur" not in lines["borne-ok"] + lines["borne-horloge"]
    english = kiosk_line(client.get("/staff/?lang=en").get_data(as_text=True), "borne-lecteur")
    assert "Badge reader unplugged" in english

    clock.advance(hours=24, minutes=1)  # a day since the tap; the clock said right since
    send("borne-horloge", "heartbeat", {"clock": {**right, "wall": clock().isoformat()}})
    send("borne-retard", "heartbeat", {"clock": {**right, "wall": clock().isoformat()}})
    send("borne-lecteur", "heartbeat", {"reader": "stuck"})
    page = client.get("/staff/?lang=fr").get_data(as_text=True)
    assert "horloge de la borne fausse" not in page
    assert "Lecteur de badges bloqué" in kiosk_line(page, "borne-lecteur")


def test_a_kiosk_is_added_with_its_token_shown_once_and_rotated(
    client: FlaskClient, session: Session, nadine: StaffUser
) -> None:
    site = make_site(session, name="La Cantine")
    session.commit()
    site_slug = site.slug
    log_in(client)
    added = submit(client, "/staff/kiosks", {"name": "porte-est", "site": site_slug, "mode": "in"})
    page = added.get_data(as_text=True)
    token = page.split('<code id="new-token">')[1].split("<")[0]
    assert token.startswith("pk_")
    assert token not in client.get("/staff/kiosks").get_data(as_text=True)  # shown once
    heartbeat = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/v1/heartbeat", json={}, headers=heartbeat).status_code == 200

    kiosk_id = re.findall(r"/staff/kiosks/(\d+)/rotate", page)[0]
    rotated = client.post(
        f"/staff/kiosks/{kiosk_id}/rotate", data={"csrf_token": csrf(client, "/staff/kiosks")}
    )
    new_token = rotated.get_data(as_text=True).split('<code id="new-token">')[1].split("<")[0]
    assert client.post("/api/v1/heartbeat", json={}, headers=heartbeat).status_code == 401
    renewed = {"Authorization": f"Bearer {new_token}"}
    assert client.post("/api/v1/heartbeat", json={}, headers=renewed).status_code == 200
    trail = html.unescape(client.get("/staff/audit").get_data(as_text=True))
    assert "a renouvelé le jeton d'une borne" in trail


def test_edit_archive_and_erase_a_member(
    client: FlaskClient, session: Session, nadine: StaffUser, clock: Any
) -> None:
    site = make_site(session)
    member = make_member(session, given_name="Chloé", family_name="Dubois", email="c@example.org")
    make_badge(session, member, value="04C446D4E57CA2")
    _kiosk, kiosk_token = make_kiosk(session, site)
    session.commit()
    member_id = member.id
    auth = {"Authorization": f"Bearer {kiosk_token}"}
    client.post("/api/v1/taps", json={"taps": [tap_json("04C446D4E57CA2", clock())]}, headers=auth)
    log_in(client)
    url = f"/staff/members/{member_id}"

    edited = submit(
        client,
        url + "/edit",
        {
            "given_name": "Chloé",
            "family_name": "Dubois",
            "email": "c@example.org",
            "plan": "payg",
            "visibility": "profile",
            "skills": "vélo, Python",
            "working_on": "un atlas",
            "open_to_chat_about": "",
        },
    )
    assert edited.status_code == 302
    make_member(session, given_name="Autre", email="autre@example.org")
    session.commit()
    taken = submit(
        client,
        url + "/edit",
        {
            "given_name": "Chloé",
            "family_name": "Dubois",
            "email": "autre@example.org",
            "plan": "payg",
            "visibility": "profile",
        },
    )
    assert (
        taken.status_code == 200
        and "déjà l&#39;adresse d&#39;un autre membre" in taken.get_data(as_text=True)
    )
    directory = client.get("/staff/directory?skill=python").get_data(as_text=True)
    assert "Chloé" in directory and "vélo, Python" in directory
    assert "Chloé" not in client.get("/staff/directory?skill=couture").get_data(as_text=True)

    token = csrf(client, url)
    client.post(url + "/archive", data={"csrf_token": token, "reason": "parti"})
    clock.advance(minutes=10)
    again = client.post(
        "/api/v1/taps", json={"taps": [tap_json("04C446D4E57CA2", clock())]}, headers=auth
    )
    assert again.json["results"][0]["outcome"] == "archived"

    client.post(url + "/erase", data={"csrf_token": token, "reason": "demande RGPD"})
    session.expire_all()
    erased = session.get(Member, member_id)
    assert erased is not None and erased.erased_at is not None and erased.given_name == ""
    session.rollback()
    assert client.get(url).status_code == 404
    trail = html.unescape(client.get("/staff/audit").get_data(as_text=True))
    assert "a effacé une personne (RGPD)" in trail and "demande RGPD" in trail
    assert "Chloé" not in trail


def test_the_csv_export_imports_back_and_runs_no_formula(
    client: FlaskClient, session: Session, nadine: StaffUser, config_file: Any
) -> None:
    from click.testing import CliRunner

    from presence.cli import main

    make_member(
        session,
        given_name='=HYPERLINK("http://evil")',
        family_name="Injection",
        email="inj@example.org",
        skills=["Python", "vélo"],
    )
    session.commit()
    log_in(client)
    exported = client.get("/staff/members.csv")
    assert exported.mimetype == "text/csv"
    text = exported.get_data(as_text=True)
    assert "'=HYPERLINK" in text and "Python|vélo" in text
    assert text.splitlines()[0].startswith("given_name,family_name")

    # The same columns import back (into a database where they are new).
    session.execute(delete(Member).where(Member.email == "inj@example.org"))
    session.commit()
    path = config_file.parent / "members.csv"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(
        main, ["--config", str(config_file), "members", "import", str(path)]
    )
    assert result.exit_code == 0, result.output


def test_the_dashboard_hears_of_a_tap_and_nothing_is_sent_when_none_listens(
    app: Flask, client: FlaskClient, session: Session, nadine: StaffUser, clock: Any, monkeypatch
) -> None:
    """One process and no message queue: a dashboard connected is told what changed; with
    none connected the notice costs nothing (no emit at all)."""
    socketio = app.extensions["socketio"]
    sent: list[str] = []
    emit = socketio.emit

    def counting(event: str, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("namespace") == "/staff":
            sent.append(event)
        return emit(event, *args, **kwargs)

    monkeypatch.setattr(socketio, "emit", counting)
    site = make_site(session)
    _kiosk, token = make_kiosk(session, site)
    badges = [make_badge(session, make_member(session)).value for _ in range(2)]
    session.commit()
    headers = {"Authorization": f"Bearer {token}"}

    def tap(badge: str) -> None:
        body = {"taps": [tap_json(badge, clock())]}
        assert client.post("/api/v1/taps", json=body, headers=headers).status_code == 200

    tap(badges[0])
    assert sent == []  # nobody listens

    log_in(client)
    dashboard = socketio.test_client(app, namespace="/staff", flask_test_client=client)
    assert dashboard.is_connected(namespace="/staff")
    tap(badges[1])
    notices = [m for m in dashboard.get_received("/staff") if m["name"] == "changed"]
    assert sent == ["changed"] and notices
    assert "members" in notices[0]["args"][0]["what"] or "kiosks" in notices[0]["args"][0]["what"]


def copy_of_session(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of `client`'s session cookie (a stolen cookie)."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value)
    return thief


def test_a_cookie_copied_before_logout_opens_nothing_after(
    app: Flask, client: FlaskClient, nadine: StaffUser
) -> None:
    log_in(client)
    thief = copy_of_session(app, client)
    assert thief.get("/staff/").status_code == 200
    token = client.get("/staff/").get_data(as_text=True).split('name="csrf_token" value="')[1]
    client.post("/staff/logout", data={"csrf_token": token.split('"')[0]})
    assert thief.get("/staff/").status_code == 302
    assert thief.get("/staff/members").status_code == 302
    assert log_in(client).status_code == 302 and client.get("/staff/").status_code == 200


def test_changing_ones_password_ends_the_other_sessions_and_keeps_this_one(
    app: Flask, client: FlaskClient, nadine: StaffUser
) -> None:
    log_in(client)
    elsewhere = app.test_client()
    log_in(elsewhere)
    thief = copy_of_session(app, client)
    new = "a brand new long password"
    changed = submit(client, "/staff/password", {"current": PASSWORD, "new": new, "again": new})
    assert changed.status_code == 302
    assert client.get("/staff/").status_code == 200
    assert elsewhere.get("/staff/").status_code == 302
    assert thief.get("/staff/").status_code == 302
