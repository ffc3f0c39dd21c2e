"""Links given out (e-mails, the calendar feed) start with `[server] public_url`, never
with the name a request came with; a request naming a host the server does not serve is
refused before anything happens."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from icalendar import Calendar
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.domain.meetups import add_event
from server.settings import MailSection, ServerSection, Settings
from server.store.models import Delivery, Event, Ticket
from tests.conftest import at
from tests.factories import make_site, submit

PUBLIC = "https://presence.example.org"


@pytest.fixture
def settings(tmp_path: Any, database_url: str) -> Settings:
    server = ServerSection(
        data_dir=str(tmp_path),
        database_url=database_url,
        secret_key="test-secret",
        public_url=PUBLIC + "/",
        trusted_hosts=["cantine.lan"],
    )
    return Settings(server=server, mail=MailSection(host="127.0.0.1"))


def make_event(session: Session) -> Event:
    site = make_site(session, name="La Cantine")
    event = add_event(
        session, site, "Atelier vélo", at(18, day=26), at(20, day=26), "cantine", True, "",
        None, "staff", at(9),
    )  # fmt: skip
    session.commit()
    return event


def count(session: Session, model: type[Any]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_registration_naming_a_foreign_host_is_refused_and_nothing_is_sent(
    app: Any, session: Session
) -> None:
    event = make_event(session)
    # The attacker's form, posted with their host name: the page itself is refused too.
    evil = app.test_client()
    assert evil.get(f"/events/{event.id}", base_url="http://evil.example/").status_code == 400
    answer = evil.post(
        f"/events/{event.id}",
        data={"name": "Victime", "email": "victim@example.net"},
        base_url="http://evil.example/",
    )
    assert answer.status_code == 400
    assert "evil.example" not in answer.text
    assert count(session, Ticket) == 0 and count(session, Delivery) == 0


def test_the_emailed_ticket_and_the_calendar_link_to_public_url_whatever_host_was_used(
    app: Any, session: Session
) -> None:
    event = make_event(session)
    lan: FlaskClient = app.test_client()
    lan.environ_base["HTTP_HOST"] = "cantine.lan:5000"  # a trusted name, not the public one

    answer = submit(lan, f"/events/{event.id}", {"name": "Ada", "email": "ada@example.net"})
    assert answer.status_code == 303
    made = lan.get(answer.location)
    [mail] = session.scalars(select(Delivery)).all()
    assert f"{PUBLIC}/events/tickets/" in mail.payload["body"]
    assert "cantine.lan" not in mail.payload["body"]
    assert f"{PUBLIC}/events/tickets/" in made.text  # the link shown to be copied

    feed = Calendar.from_ical(lan.get("/events/calendar.ics").data)
    [entry] = feed.walk("VEVENT")
    assert str(entry["url"]) == f"{PUBLIC}/events/{event.id}"
    assert str(entry["uid"]).endswith("@presence.example.org")


def test_the_servers_own_names_are_served(app: Any, session: Session) -> None:
    client = app.test_client()
    for host in ("127.0.0.1:5000", "localhost", "presence.example.org", "cantine.lan"):
        assert client.get("/events", headers={"Host": host}).status_code == 200, host


def lan_address() -> str | None:
    """This machine's address on its default route (a UDP 'connection' sends nothing)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routed, never reached
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


def test_a_server_on_every_interface_answers_the_lan_address_a_kiosk_uses(
    tmp_path: Any, database_url: str
) -> None:
    """No public_url, listening on 0.0.0.0 (the single-space default behind no proxy):
    a kiosk configured with the machine's LAN address is served; another name is not."""
    from server import create_app

    address = lan_address()
    if address is None:
        pytest.skip("this machine has no address besides loopback")
    server = ServerSection(
        data_dir=str(tmp_path), database_url=database_url, secret_key="test", host="0.0.0.0"
    )
    client = create_app(Settings(server=server)).test_client()
    assert client.get("/healthz", headers={"Host": f"{address}:5000"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "evil.example"}).status_code == 400
