"""Webhooks and arrival alerts, delivered over real sockets: a receiver on loopback (down,
then back) and an SMTP server on loopback."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.domain.staff import add_staff
from server.domain.webhooks import member_secret, new_secret
from server.jobs.outbox import deliver_due
from server.runtime import Runtime
from server.settings import MailSection, ServerSection, Settings, WebhooksSection
from server.store.models import ArrivalWatch, Delivery, StaffRole, Visibility, Webhook
from tests.conftest import FrozenClock, at
from tests.factories import (
    PASSWORD,
    csrf,
    link_for,
    log_in,
    make_badge,
    make_kiosk,
    make_member,
    make_site,
    submit,
    tap_json,
    upload,
)
from tests.servers import free_port


class Receiver:
    """An HTTP server on loopback that keeps what it is sent; it can be down."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.server: ThreadingHTTPServer | None = None

    def up(self) -> None:
        calls = self.calls

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                calls.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    try:
        yield found
    finally:
        found.down()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, mailbox: tuple[Mailbox, int]) -> Settings:
    server = ServerSection(
        data_dir=str(tmp_path), database_url=database_url, secret_key="test-secret"
    )
    mail = MailSection(
        host="127.0.0.1", port=mailbox[1], security="none", sender="cantine@example.org"
    )
    # The receivers here listen on loopback, which webhooks may reach only when allowed.
    webhooks = WebhooksSection(allowed_networks=["127.0.0.0/8"])
    return Settings(server=server, mail=mail, webhooks=webhooks)


def verify(headers: dict[str, str], body: bytes, secret: str) -> None:
    """What a receiver does with the signature header."""
    fields = dict(part.split("=", 1) for part in headers["X-Presence-Signature"].split(","))
    expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256)
    assert hmac.compare_digest(fields["v1"], expected.hexdigest())


def test_signed_deliveries_reach_a_receiver_that_comes_back_and_hidden_members_stay_unnamed(
    client: FlaskClient,
    session: Session,
    runtime: Runtime,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    clock.set(at(10))
    site = make_site(session, name="La Cantine")
    alice = make_member(session, given_name="Alice", visibility=Visibility.FIRST_NAME)
    hugo = make_member(session, given_name="Hugo", family_name="Secret")  # hidden
    alice_badge, hugo_badge = make_badge(session, alice), make_badge(session, hugo)
    _kiosk, token = make_kiosk(session, site, name="porte")
    data = Webhook(
        url=receiver.url,
        events=["check_in", "check_out", "unknown_badge"],
        format="json",
        secret=new_secret(),
    )
    chat = Webhook(
        url=receiver.url + "/slack", events=["check_in"], format="slack", secret=new_secret()
    )
    session.add_all([data, chat])
    session.commit()
    secrets = {"/hook": data.secret, "/hook/slack": chat.secret}

    first = tap_json(alice_badge.value, clock())
    upload(client, token, first)
    upload(client, token, tap_json(hugo_badge.value, clock()))
    upload(client, token, tap_json("04DEADBEEF0001", clock()))  # nobody's badge
    upload(client, token, first)  # a resent upload announces nothing again
    clock.advance(hours=3)
    upload(client, token, tap_json(alice_badge.value, clock()))

    assert deliver_due(runtime) == 0  # the receiver is down: kept, tried again later
    waiting = session.scalars(select(Delivery).order_by(Delivery.id)).all()
    assert len(waiting) == 6  # 2 + 2 check-ins, 1 unknown badge, 1 check-out
    assert all(d.attempts == 1 and d.last_error and d.delivered_at is None for d in waiting)
    session.rollback()  # let the sender have the database

    receiver.up()
    clock.advance(seconds=20)
    assert deliver_due(runtime) == 0  # not due yet: the first retry waits 30 s
    clock.advance(seconds=15)
    assert deliver_due(runtime) == 6

    bodies = []
    for headers, body in receiver.calls:
        path = (
            "/hook/slack"
            if headers["X-Presence-Event"] == "check_in" and b'"text"' in body
            else "/hook"
        )
        verify(headers, body, secrets[path])
        assert b"Hugo" not in body and b"Secret" not in body
        bodies.append(json.loads(body))
    events = [
        (b.get("event"), (b.get("member") or {}).get("name"), b.get("head_count"))
        for b in bodies
        if "event" in b
    ]
    assert events == [
        ("check_in", "Alice", 1),
        ("check_in", None, 2),
        ("unknown_badge", None, None),
        ("check_out", "Alice", 1),
    ]
    unknown = next(b for b in bodies if b.get("event") == "unknown_badge")
    assert "04DEADBEEF0001" not in json.dumps(unknown) and unknown["kiosk"] == "porte"
    texts = [b["text"] for b in bodies if "text" in b]
    assert texts == [
        "Alice vient d'arriver à La Cantine (1 personne sur place)",
        "Une personne vient d'arriver à La Cantine (2 personnes sur place)",
    ]
    assert deliver_due(runtime) == 0  # delivered once


def test_a_receiver_that_never_answers_is_given_up_after_the_configured_attempts(
    client: FlaskClient, session: Session, runtime: Runtime, clock: FrozenClock
) -> None:
    clock.set(at(10))
    site = make_site(session)
    badge = make_badge(session, make_member(session))
    _kiosk, token = make_kiosk(session, site)
    session.add(
        Webhook(url=f"http://127.0.0.1:{free_port()}/", events=["check_in"], secret=new_secret())
    )
    session.commit()
    upload(client, token, tap_json(badge.value, clock()))
    waits = []
    for _ in range(runtime.settings.webhooks.max_attempts):
        deliver_due(runtime)
        delivery = session.scalars(select(Delivery)).one()
        session.expunge(delivery)  # read, then let the sender have the database
        session.rollback()
        if delivery.gave_up_at is not None:
            break
        waits.append(delivery.next_attempt_at - clock())
        clock.set(delivery.next_attempt_at)
    assert delivery.gave_up_at is not None and delivery.delivered_at is None
    assert delivery.attempts == runtime.settings.webhooks.max_attempts
    assert waits[:4] == [timedelta(seconds=s) for s in (30, 60, 120, 240)]
    assert max(waits) == timedelta(hours=1)


def test_an_arrival_alert_needs_both_sides_and_comes_once_a_day(
    client: FlaskClient,
    session: Session,
    runtime: Runtime,
    clock: FrozenClock,
    receiver: Receiver,
    mailbox: tuple[Mailbox, int],
) -> None:
    clock.set(at(9))
    site = make_site(session, name="La Cantine")
    alice = make_member(session, given_name="Alice")  # has not agreed yet
    nadine = make_member(
        session, given_name="Nadine", email="nadine@example.org", alert_webhook_url=receiver.url
    )
    badge = make_badge(session, alice)
    _kiosk, token = make_kiosk(session, site)
    session.add(ArrivalWatch(watcher_id=nadine.id, watched_id=alice.id))
    session.commit()
    receiver.up()

    upload(client, token, tap_json(badge.value, clock()))
    assert deliver_due(runtime) == 0 and mailbox[0].messages == []  # Alice did not agree

    alice.arrival_alerts_at = clock()
    nadine_id = nadine.id
    session.commit()
    clock.set(at(9, day=25))
    for minutes in (0, 5, 120):  # in, out, in again
        upload(client, token, tap_json(badge.value, clock() + timedelta(minutes=minutes)))
    clock.advance(hours=2)
    assert deliver_due(runtime) == 2  # one e-mail, one webhook call: once that day

    [mail] = mailbox[0].messages
    assert mail.rcpt_tos == ["nadine@example.org"]
    message = email.message_from_bytes(mail.content, policy=email.policy.default)
    assert message["Subject"] == "Alice est à La Cantine"
    assert message["From"] == "cantine@example.org"
    assert "Alice vient d'arriver à La Cantine." in message.get_content()
    [(headers, body)] = receiver.calls
    assert json.loads(body)["text"] == "Alice vient d'arriver à La Cantine."
    assert headers["X-Presence-Event"] == "arrival_alert"
    verify(headers, body, member_secret("test-secret", nadine_id))  # shown on her page


def test_an_admin_registers_a_webhook_and_sees_what_was_sent(
    app: Flask,
    client: FlaskClient,
    session: Session,
    runtime: Runtime,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    clock.set(at(10))
    add_staff(session, "accueil@example.org", "Accueil", StaffRole.STAFF, PASSWORD, clock())
    add_staff(session, "admin@example.org", "Admin", StaffRole.ADMIN, PASSWORD, clock())
    site = make_site(session, name="La Cantine")
    badge = make_badge(session, make_member(session, given_name="Alice")).value
    _kiosk, token = make_kiosk(session, site)
    session.commit()

    desk = app.test_client()
    log_in(desk, "accueil@example.org")
    assert desk.get("/staff/webhooks").status_code == 403  # admins only
    log_in(client, "admin@example.org")
    token_field = csrf(client, "/staff/webhooks")
    wrong = {"csrf_token": token_field, "url": "ftp://x", "events": ["check_in"], "format": "json"}
    refused = client.post("/staff/webhooks", data=wrong)
    assert refused.status_code == 200 and "Une adresse http:// ou https://." in refused.text
    added = client.post(
        "/staff/webhooks",
        data={
            "csrf_token": token_field,
            "url": receiver.url + "?<script>",
            "format": "slack",
            "events": ["check_in", "unknown_badge"],
            "site": "",
        },
    )
    assert added.status_code == 302
    hook = session.scalars(select(Webhook)).one()
    assert (hook.events, hook.format, hook.site_id) == (
        ["check_in", "unknown_badge"],
        "slack",
        None,
    )
    session.rollback()

    receiver.up()
    upload(client, token, tap_json(badge, clock()))
    assert deliver_due(runtime) == 1
    page = client.get("/staff/webhooks").text
    assert "?&lt;script&gt;" in page and "<script>" not in page.split("<main")[1]
    assert "reçu" in page and "(204)" in page


def test_on_their_pages_members_agree_to_be_hosts_and_alerts_need_both_sides(
    app: Flask,
    client: FlaskClient,
    session: Session,
    runtime: Runtime,
    clock: FrozenClock,
    mailbox: tuple[Mailbox, int],
) -> None:
    clock.set(at(9))
    site = make_site(session, name="La Cantine")
    alice = make_member(session, given_name="Alice", family_name="Martin")
    nadine = make_member(session, given_name="Nadine", email="nadine@example.org")
    badge = make_badge(session, alice).value
    _kiosk, token = make_kiosk(session, site)
    session.commit()
    alice_page, nadine_page = (
        link_for(app, alice.id) + "/together",
        link_for(app, nadine.id) + "/together",
    )

    # Nadine cannot ask about Alice, who has not agreed: the list is empty, a forged
    # form is refused.
    page = unescape(client.get(nadine_page).text)
    assert "<title>Présence — entre membres</title>" in page
    assert page.count('id="invite-title"') == page.count('id="watch-title"') == 1
    assert "Personne d'autre n'a encore accepté" in page
    refused = submit(client, nadine_page, {"action": "watch", "member": str(alice.id)})
    assert refused.status_code == 400 and "n'a pas accepté" in unescape(refused.text)

    agreed = submit(
        client,
        alice_page,
        {"action": "consents", "alerts": "yes", "host": "yes", "webhook": ""},
        follow=True,
    )
    assert agreed.status_code == 200 and "C'est enregistré." in unescape(agreed.text)
    wrong_url = submit(
        client,
        alice_page,
        {"action": "consents", "alerts": "yes", "webhook": "javascript:alert(1)"},
    )
    assert wrong_url.status_code == 400
    assert "Alice Martin" in client.get(nadine_page).text  # now in Nadine's list
    assert (
        submit(client, nadine_page, {"action": "watch", "member": str(alice.id)}).status_code == 303
    )
    hosts = client.get("/api/v1/directory", headers={"Authorization": f"Bearer {token}"})
    assert [host["name"] for host in hosts.json["hosts"]] == ["Alice Martin"]

    upload(client, token, tap_json(badge, clock()))
    assert deliver_due(runtime) == 1
    assert [m.rcpt_tos for m in mailbox[0].messages] == [["nadine@example.org"]]

    # Alice changes her mind: Nadine's page says so, and nothing more is sent.
    submit(client, alice_page, {"action": "consents", "host": "yes", "webhook": ""})
    assert "n'accepte plus d'alertes" in unescape(client.get(nadine_page).text)
    clock.set(at(9, day=25))
    upload(client, token, tap_json(badge, clock()))
    assert deliver_due(runtime) == 0 and len(mailbox[0].messages) == 1


def test_a_refusing_receiver_leaves_its_status_never_its_answer_on_the_staff_page(
    client: FlaskClient, session: Session, runtime: Runtime, clock: FrozenClock
) -> None:
    answer = b"<h1>Internal</h1> redis_version:7.2 root:x:0:0"

    class Failing(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(500)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        clock.set(at(10))
        add_staff(session, "admin@example.org", "Admin", StaffRole.ADMIN, PASSWORD, clock())
        site = make_site(session)
        badge = make_badge(session, make_member(session)).value
        _kiosk, token = make_kiosk(session, site)
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        session.add(Webhook(url=url, events=["check_in"], secret=new_secret()))
        session.commit()
        upload(client, token, tap_json(badge, clock()))
        assert deliver_due(runtime) == 0
    finally:
        server.shutdown()
        server.server_close()
    delivery = session.scalars(select(Delivery)).one()
    assert (delivery.last_status, delivery.last_error) == (500, "http_500")
    log_in(client, "admin@example.org")
    page = client.get("/staff/webhooks").text
    assert "le destinataire a répondu 500" in unescape(page)
    assert "redis_version" not in page and "Internal" not in page
