"""An event's public page and its tickets: places left, registration that leads to the
ticket's own page (post/redirect/get), the ticket as a PDF, and an honest word on e-mail."""

from __future__ import annotations

from html import unescape
from typing import Any

import pypdfium2
import pytest
import zxingcpp
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.domain.meetups import add_event
from server.settings import MailSection, ServerSection, Settings
from server.store.models import Delivery, Event, Ticket
from tests.conftest import at
from tests.factories import make_site, submit

SENT = "Un e-mail de confirmation vous a été envoyé."
NOT_SENT = "Gardez cette page ou téléchargez le billet : aucun e-mail n'est envoyé."


@pytest.fixture
def mail_host() -> str:
    """No mail server, unless a test is parametrized with one."""
    return ""


@pytest.fixture
def settings(tmp_path: Any, database_url: str, mail_host: str) -> Settings:
    server = ServerSection(data_dir=str(tmp_path), database_url=database_url, secret_key="test")
    return Settings(server=server, mail=MailSection(host=mail_host))


def make_event(session: Session, capacity: int | None = None, description: str = "") -> Event:
    site = make_site(session, name="La Cantine", address="1 rue du Port, Brest")
    event = add_event(
        session, site, "Atelier vélo", at(18, day=26), at(20, day=26), "cantine", True,
        description, capacity, "staff", at(9),
    )  # fmt: skip
    session.commit()
    return event


def tickets(session: Session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(Ticket)) or 0


def test_registering_redirects_to_the_tickets_page_and_reloading_it_registers_nobody(
    client: FlaskClient, session: Session
) -> None:
    event = make_event(session)
    answer = submit(client, f"/events/{event.id}", {"name": "Ada Lovelace"})
    assert answer.status_code == 303
    assert answer.location.startswith("/events/tickets/")
    for _reload in range(3):
        page = client.get(answer.location)
        assert page.status_code == 200 and "Ada Lovelace" in page.text
        assert page.headers["Cache-Control"] == "no-store"
    assert tickets(session) == 1
    # The key in the address is signed: another one is no ticket.
    assert client.get(answer.location[:-2] + "xx").status_code == 404


def test_the_ticket_as_a_pdf_carries_its_qr_code(client: FlaskClient, session: Session) -> None:
    event = make_event(session)
    key = submit(client, f"/events/{event.id}", {"name": "Ada"}).location
    page = client.get(key).text
    assert f'href="{key}.pdf"' in page
    pdf = client.get(key + ".pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    image = pypdfium2.PdfDocument(pdf.data)[0].render(scale=300 / 72).to_pil()
    token = session.scalars(select(Ticket)).one().token
    session.rollback()
    assert [found.text for found in zxingcpp.read_barcodes(image)] == [token]
    text = pypdfium2.PdfDocument(pdf.data)[0].get_textpage().get_text_range()
    assert "Atelier vélo" in text and "Ada" in text and "La Cantine" in text


def test_without_a_mail_server_the_form_promises_no_e_mail_and_the_ticket_says_so(
    client: FlaskClient, session: Session
) -> None:
    event = make_event(session)
    form = unescape(client.get(f"/events/{event.id}").text)
    assert 'name="email"' not in form and "e-mail" not in form
    # An address sent anyway is neither kept nor written to.
    answer = submit(client, f"/events/{event.id}", {"name": "Ada", "email": "ada@example.net"})
    ticket = unescape(client.get(answer.location).text)
    assert NOT_SENT in ticket and SENT not in ticket
    assert session.scalars(select(Ticket)).one().email is None
    assert session.scalar(select(func.count()).select_from(Delivery)) == 0
    session.rollback()


@pytest.mark.parametrize("mail_host", ["127.0.0.1"])
def test_with_a_mail_server_the_ticket_says_an_e_mail_was_sent_only_when_one_was(
    client: FlaskClient, session: Session
) -> None:
    event = make_event(session)
    form = unescape(client.get(f"/events/{event.id}").text)
    assert 'name="email"' in form
    wrong = submit(client, f"/events/{event.id}", {"name": "Ada", "email": "pas-un-email"})
    assert wrong.status_code == 400 and "Cet e-mail ne semble pas valide." in unescape(wrong.text)

    mailed = submit(client, f"/events/{event.id}", {"name": "Ada", "email": "ada@example.net"})
    assert SENT in unescape(client.get(mailed.location).text)
    unmailed = submit(client, f"/events/{event.id}", {"name": "Linus"})
    assert NOT_SENT in unescape(client.get(unmailed.location).text)

    # An e-mail the sender gave up on was not sent: the page stops saying it was.
    delivery = session.scalars(select(Delivery)).one()
    assert delivery.target == "ada@example.net"
    delivery.gave_up_at = at(10)
    session.commit()
    assert NOT_SENT in unescape(client.get(mailed.location).text)


def test_the_event_page_shows_what_where_and_the_places_left(
    client: FlaskClient, session: Session
) -> None:
    event = make_event(session, capacity=4, description="Réparer son vélo.\nOutils fournis.")
    page = unescape(client.get(f"/events/{event.id}").text)
    assert "Réparer son vélo." in page and "1 rue du Port, Brest" in page
    assert "Plus que 4 places" in page
    for name in ("Ada", "Linus", "Grace"):
        submit(client, f"/events/{event.id}", {"name": name})
    assert "Plus que 1 place" in unescape(client.get(f"/events/{event.id}").text)
    submit(client, f"/events/{event.id}", {"name": "Margaret"})
    full = unescape(client.get(f"/events/{event.id}").text)
    assert "Complet" in full and "<form" not in full
    assert tickets(session) == 4
