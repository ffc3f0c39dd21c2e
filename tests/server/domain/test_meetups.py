"""Events: created by staff, registered for on a public page (a QR ticket), checked in
at the kiosk once per ticket or as walk-ins, counted for the funders, in an iCal feed."""

from __future__ import annotations

import io
import re
import uuid
from datetime import datetime, timedelta
from html import unescape
from typing import Any

import zxingcpp
from flask.testing import FlaskClient
from icalendar import Calendar
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from badges.tokens import TicketToken, new_private_key, sign_ticket
from server.domain.meetups import add_event
from server.domain.staff import add_staff
from server.domain.webhooks import new_secret
from server.runtime import Runtime
from server.store.models import Delivery, Event, StaffRole, Ticket, Webhook
from tests.conftest import PARIS, FrozenClock, at
from tests.factories import PASSWORD, log_in, make_kiosk, make_site, submit, tap_json, upload


def paris(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=PARIS)


def register(client: FlaskClient, event_id: int, name: str, email: str = "") -> Any:
    """Register as a browser does: post the form, then follow the redirect to the ticket."""
    answer = submit(client, f"/events/{event_id}", {"name": name, "email": email})
    if answer.status_code == 303:
        return client.get(answer.location)
    return answer


def ticket_token(client: FlaskClient, page: str) -> str:
    """What the ticket's QR code says, read from its image as a phone camera would."""
    png = re.search(r'<img src="([^"]+)"', page)
    assert png, "no QR code on the ticket page"
    image = Image.open(io.BytesIO(client.get(unescape(png[1])).data))
    return str(zxingcpp.read_barcodes(image)[0].text)


def test_tickets_scanned_once_each_and_a_walk_in_make_the_attendance(
    client: FlaskClient, session: Session, runtime: Runtime, clock: FrozenClock
) -> None:
    clock.set(at(9))
    site = make_site(session, name="La Cantine", opening_hours={})
    _kiosk, token = make_kiosk(session, site)
    talk = add_event(
        session,
        site,
        "Soirée Python",
        paris(24, 19),
        paris(24, 22),
        "community",
        True,
        "Trois exposés courts.",
        None,
        "staff",
        clock(),
    )
    session.add(Webhook(url="http://127.0.0.1:9/", events=["event_check_in"], secret=new_secret()))
    session.commit()

    tokens = []
    for name in ("Ada", "Linus", "Grace"):
        page = register(client, talk.id, name)
        assert page.status_code == 200 and name in page.text
        tokens.append(ticket_token(client, page.text))
    headers = {"Authorization": f"Bearer {token}"}
    beat = client.post("/api/v1/heartbeat", json={}, headers=headers).json
    assert beat["events"] == [{"id": talk.id, "title": "Soirée Python"}]

    clock.set(at(19, 5))
    results = [
        upload(client, token, tap_json(value, clock(), badge_kind="qr")).json["results"][0]
        for value in tokens
    ]
    assert [(r["outcome"], r["name"]) for r in results] == [
        ("checked_in", "Ada"),
        ("checked_in", "Linus"),
        ("checked_in", "Grace"),
    ]
    walk_in = {
        "id": str(uuid.uuid4()),
        "read_at": clock().isoformat(),
        "walk_in": {"event": talk.id, "name": "Margaret"},
    }
    assert upload(client, token, walk_in).json["results"][0]["outcome"] == "checked_in"
    again = upload(client, token, tap_json(tokens[0], clock(), badge_kind="qr")).json
    assert (again["results"][0]["outcome"], again["results"][0]["reason"]) == (
        "duplicate",
        "already_checked_in",
    )
    assert again["head_count"] == 0  # event attendees are not coworkers

    came = session.scalars(select(Ticket).where(Ticket.checked_in_at.is_not(None))).all()
    assert sorted(t.name for t in came) == ["Ada", "Grace", "Linus", "Margaret"]
    told = session.scalars(select(Delivery).where(Delivery.event == "event_check_in")).all()
    assert [d.payload["attendance"] for d in told] == [1, 2, 3, 4]
    assert all("Ada" not in str(d.payload) for d in told)  # attendees are not named


def test_forged_and_foreign_tickets_are_refused(
    client: FlaskClient, session: Session, runtime: Runtime, clock: FrozenClock
) -> None:
    clock.set(at(18))
    site, elsewhere = make_site(session, opening_hours={}), make_site(session, opening_hours={})
    _kiosk, token = make_kiosk(session, site)
    other = add_event(
        session,
        elsewhere,
        "Ailleurs",
        paris(24, 19),
        paris(24, 21),
        "partner",
        True,
        "",
        None,
        "staff",
        clock(),
    )
    session.commit()
    page = register(client, other.id, "Ada")
    theirs = ticket_token(client, page.text)
    forged = sign_ticket(new_private_key(), TicketToken(1))
    answers = [
        upload(client, token, tap_json(value, clock(), badge_kind="qr")).json["results"][0]
        for value in (forged, theirs)
    ]
    assert [(a["outcome"], a["reason"]) for a in answers] == [
        ("invalid", "unknown_key"),
        ("revoked", "other_event"),
    ]


def test_staff_create_an_event_people_register_and_the_calendar_lists_what_is_open(
    client: FlaskClient, session: Session, clock: FrozenClock
) -> None:
    clock.set(at(9))
    add_staff(session, "accueil@example.org", "Accueil", StaffRole.STAFF, PASSWORD, clock())
    site = make_site(session, name="La Cantine", address="1 rue du Port")
    session.commit()
    log_in(client, "accueil@example.org")
    form = {
        "title": "Atelier <vélo>",
        "site": str(site.id),
        "starts_at": "2026-11-26T18:00",
        "ends_at": "2026-11-26T20:00",
        "brought_by": "partner",
        "open_to_all": "y",
        "capacity": "2",
        "description": "Réparer son vélo.",
    }
    backwards = submit(client, "/staff/events", {**form, "ends_at": "2026-11-26T17:00"})
    assert "La fin vient après le début." in unescape(backwards.text)
    created = submit(client, "/staff/events", form)
    assert created.status_code == 302
    workshop = session.scalars(select(Event)).one()
    assert workshop.starts_at == paris(26, 18)  # the site's time, stored as an instant
    private = add_event(
        session,
        site,
        "Réunion du CA",
        paris(27, 18),
        paris(27, 19),
        "cantine",
        False,
        "",
        None,
        "staff",
        clock(),
    )
    session.commit()

    public = client.get(f"/events/{workshop.id}").text
    assert "Atelier &lt;vélo&gt;" in public and "<vélo>" not in public
    assert client.get(f"/events/{private.id}").status_code == 404
    assert register(client, workshop.id, "", "x").status_code == 400
    opened = re.search(
        r'name="csrf_token" value="([^"]+)"', client.get(f"/events/{workshop.id}").text
    )
    assert opened and "Plus que 2 places" in public
    assert register(client, workshop.id, "Ada").status_code == 200
    assert "Plus que 1 place" in unescape(client.get(f"/events/{workshop.id}").text)
    assert register(client, workshop.id, "Linus").status_code == 200
    assert "Complet" in client.get(f"/events/{workshop.id}").text
    # A form opened while there was a place left, sent once there is none:
    full = client.post(f"/events/{workshop.id}", data={"name": "Grace", "csrf_token": opened[1]})
    assert full.status_code == 400 and "complet" in full.text

    feed = Calendar.from_ical(client.get("/events/calendar.ics").data)
    [entry] = [part for part in feed.walk("VEVENT")]
    assert str(entry["summary"]) == "Atelier <vélo>"
    assert entry.decoded("dtstart") == paris(26, 18)
    assert "1 rue du Port" in str(entry["location"])
    page = client.get(f"/staff/events/{workshop.id}").text
    assert "sur 2 billets" in page and "Ada" in page and "Linus" in page


def test_the_funders_summary_counts_events_and_who_brought_them(
    client: FlaskClient, session: Session, runtime: Runtime, clock: FrozenClock
) -> None:
    clock.set(at(9, day=30))
    add_staff(session, "accueil@example.org", "Accueil", StaffRole.STAFF, PASSWORD, clock())
    site = make_site(session, opening_hours={})
    for day, who in ((3, "partner"), (10, "community"), (17, "community"), (24, "cantine")):
        add_event(
            session,
            site,
            f"Soirée du {day}",
            paris(day, 19),
            paris(day, 21),
            who,
            True,
            "",
            None,
            "staff",
            clock() - timedelta(days=40),
        )
    session.commit()
    log_in(client, "accueil@example.org")
    page = unescape(client.get("/staff/reports/funders?month=2026-11").text)
    assert "partenaires : 1 ; par des communautés : 2 ; par la Cantine : 1" in page
    assert "Soirée du 17 : 0 participant" in page
