"""Webhook addresses that lead inside are refused when saved (a member's page, the staff
webhooks page) and when sent (the outbox), even when a name resolves elsewhere by then.
Names are answered by a stub resolver; nothing leaves loopback."""

from __future__ import annotations

from html import unescape

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.domain.staff import add_staff
from server.domain.webhooks import new_secret
from server.jobs.outbox import deliver_due
from server.runtime import Runtime
from server.store.models import Delivery, Member, StaffRole, Webhook
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
from tests.server.domain.test_outbound import NAMES, PUBLIC, REFUSED, stub
from tests.server.jobs.test_webhooks import Receiver

INSIDE = "Cette adresse mène à une machine interne"


def test_a_member_cannot_aim_their_alerts_inside(
    app: Flask, client: FlaskClient, session: Session, runtime: Runtime
) -> None:
    runtime.resolve = NAMES
    alice = make_member(session, given_name="Alice")
    session.commit()
    page = link_for(app, alice.id) + "/together"
    for url in REFUSED:
        answer = submit(client, page, {"action": "consents", "alerts": "yes", "webhook": url})
        assert answer.status_code == 400, url
        assert INSIDE in unescape(answer.text), url
    assert session.scalar(select(Member.alert_webhook_url).where(Member.id == alice.id)) is None
    session.rollback()  # let the pages have the database

    unknown = submit(client, page, {"action": "consents", "webhook": "http://nowhere.example/"})
    assert unknown.status_code == 400 and "introuvable" in unescape(unknown.text)
    fine = submit(
        client, page, {"action": "consents", "webhook": "https://hooks.example.org/a"}, follow=True
    )
    assert fine.status_code == 200
    stored = session.scalar(select(Member.alert_webhook_url).where(Member.id == alice.id))
    assert stored == "https://hooks.example.org/a"


def test_an_admin_cannot_register_a_webhook_that_leads_inside(
    client: FlaskClient, session: Session, runtime: Runtime, clock: FrozenClock
) -> None:
    runtime.resolve = NAMES
    add_staff(session, "admin@example.org", "Admin", StaffRole.ADMIN, PASSWORD, clock())
    session.commit()
    log_in(client, "admin@example.org")
    token = csrf(client, "/staff/webhooks")
    for url in REFUSED:
        form = {"csrf_token": token, "url": url, "events": ["check_in"], "format": "json"}
        answer = client.post("/staff/webhooks", data=form)
        assert answer.status_code == 200, url  # the form again, with the error by the field
        assert INSIDE in unescape(answer.text), url
    assert session.scalars(select(Webhook)).all() == []
    session.rollback()  # let the page have the database
    form = {
        "csrf_token": token,
        "url": "https://hooks.example.org/in",
        "events": ["check_in"],
        "format": "json",
    }
    assert client.post("/staff/webhooks", data=form).status_code == 302


def test_the_sender_refuses_addresses_that_lead_inside_and_says_so_to_the_staff(
    client: FlaskClient, session: Session, runtime: Runtime, clock: FrozenClock
) -> None:
    # Rows from before these checks, or a name that now resolves inside.
    runtime.resolve = NAMES
    clock.set(at(10))
    hook = Webhook(url="http://hooks.example.org/", events=["check_in"], secret=new_secret())
    session.add(hook)
    session.flush()
    for url in REFUSED:
        session.add(
            Delivery(
                channel="webhook",
                webhook_id=hook.id,
                target=url,
                event="check_in",
                payload={"event": "check_in"},
                created_at=clock(),
                next_attempt_at=clock(),
            )
        )
    add_staff(session, "admin@example.org", "Admin", StaffRole.ADMIN, PASSWORD, clock())
    session.commit()

    assert deliver_due(runtime) == 0
    stored = session.scalars(select(Delivery).order_by(Delivery.id)).all()
    assert [(d.target, d.last_error, d.last_status) for d in stored] == [
        (url, "refused_address", None) for url in REFUSED
    ]
    session.rollback()
    log_in(client, "admin@example.org")
    page = unescape(client.get("/staff/webhooks").text)
    assert "adresse interne refusée (locale, privée ou réservée)" in page
    assert "refused_address" not in page


def test_a_name_that_resolves_inside_at_send_time_is_refused_and_nothing_connects(
    app: Flask,
    client: FlaskClient,
    session: Session,
    runtime: Runtime,
    clock: FrozenClock,
) -> None:
    receiver = Receiver()  # listening on loopback, where the name will point
    receiver.up()
    try:
        clock.set(at(9))
        site = make_site(session, name="La Cantine")
        alice = make_member(session, given_name="Alice", arrival_alerts_at=clock())
        nadine = make_member(session, given_name="Nadine")
        badge = make_badge(session, alice).value
        _kiosk, token = make_kiosk(session, site)
        session.commit()
        url = f"http://rebind.example.org:{receiver.port}/hook"
        runtime.resolve = stub({"rebind.example.org": [PUBLIC]})  # public when saved
        page = link_for(app, nadine.id) + "/together"
        saved = submit(client, page, {"action": "consents", "webhook": url}, follow=True)
        assert saved.status_code == 200
        assert submit(client, page, {"action": "watch", "member": str(alice.id)}).status_code == 303

        runtime.resolve = stub({"rebind.example.org": ["127.0.0.1"]})  # inside when sent
        upload(client, token, tap_json(badge, clock()))
        assert deliver_due(runtime) == 0
        delivery = session.scalars(select(Delivery).where(Delivery.target == url)).one()
        assert (delivery.attempts, delivery.last_error) == (1, "refused_address")
        assert receiver.calls == []
    finally:
        receiver.down()
