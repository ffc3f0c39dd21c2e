"""The public side of events: the list, each event's page where people register, their
ticket (a QR code to show at the door, and a PDF), and an iCal feed of what is coming."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_datetime
from flask_babel import gettext as _
from icalendar import Calendar
from icalendar import Event as CalendarEvent
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as WerkzeugResponse

from badges.cards import qr_png
from badges.cards import ticket_pdf as ticket_document
from server.domain.invoice_documents import FONT_DIRS
from server.domain.meetups import EventError, places_left, register, upcoming
from server.domain.text import EMAIL
from server.i18n import refusal_text
from server.runtime import external_url, runtime
from server.store.models import Delivery, Event, Site, Ticket
from server.web import in_zone

blp = Blueprint("events", __name__, url_prefix="/events")

PRIVATE = {"Cache-Control": "no-store"}


def _tickets() -> URLSafeSerializer:
    return URLSafeSerializer(str(current_app.config["SECRET_KEY"]), salt="ticket-page")


def ticket_link(ticket_id: int) -> str:
    """The ticket's own page: whoever has the link can show the ticket."""
    return external_url("events.ticket", key=_tickets().dumps(ticket_id))


@blp.get("")
def listing() -> str:
    app = runtime()
    with app.session() as session:
        found = upcoming(session, app.now())
        sites = {site.id: site for site in session.scalars(select(Site))}
        return render_template("events.html", events=found, sites=sites)


@blp.route("/<int:event_id>", methods=["GET", "POST"])
def event_page(event_id: int) -> WerkzeugResponse | tuple[str, int]:
    """An event open to all, and its registration form; a registration leads to the
    ticket's own page (post/redirect/get: reloading the ticket registers nobody again)."""
    app = runtime()
    problem = None
    mail = bool(app.settings.mail.host)
    with app.transaction() as session:
        event = session.get(Event, event_id)
        if event is None or not event.open_to_all:
            abort(404)
        if request.method == "POST":
            name = request.form.get("name", "").strip()
            # Without a mail server the form asks for no e-mail: none is kept either.
            email = (request.form.get("email", "").strip() or None) if mail else None
            if not 1 <= len(name) <= 100 or any(ord(char) < 32 for char in name):
                problem = _("Donnez votre nom (100 caractères au plus).")
            elif email is not None and (len(email) > 254 or not EMAIL.fullmatch(email)):
                problem = _("Cet e-mail ne semble pas valide.")
            else:
                try:
                    ticket = register(session, event, name, email, app.now(), app.badge_private_key)
                except EventError as error:
                    problem = refusal_text(error)
                else:
                    if email:
                        _mail_ticket(session, event, ticket, ticket_link(ticket.id), app.now())
                    key = _tickets().dumps(ticket.id)
                    return redirect(url_for("events.ticket", key=key), 303)
        page = render_template(
            "event.html",
            event=event,
            site=event.site,
            problem=problem,
            mail=mail,
            left=places_left(session, event),
            over=event.cancelled_at is not None or event.ends_at <= app.now(),
        )
    return page, 400 if problem else 200


def _mail_ticket(session: Session, event: Event, ticket: Ticket, link: str, now: datetime) -> None:
    """Queue the ticket's e-mail (sent by server.jobs.outbox, retried if the server is down)."""
    body = _(
        "Bonjour %(name)s,\n\nVotre billet pour « %(title)s » : %(link)s\n"
        "Montrez son code QR à l'entrée.\n",
        name=ticket.name,
        title=event.title,
        link=link,
    )
    subject = _("Votre billet : %(title)s", title=event.title)
    session.add(
        Delivery(
            channel="email",
            target=ticket.email or "",
            event="ticket",
            # The ticket's number, so its page can say whether an e-mail went out.
            payload={"subject": subject, "body": body, "ticket": ticket.id},
            created_at=now,
            next_attempt_at=now,
        )
    )


def mailed(session: Session, ticket: Ticket) -> bool:
    """Whether the ticket's e-mail was queued (or sent) and not given up."""
    if not ticket.email:
        return False
    sent = session.scalars(
        select(Delivery).where(
            Delivery.channel == "email",
            Delivery.event == "ticket",
            Delivery.target == ticket.email,
            Delivery.gave_up_at.is_(None),
        )
    )
    return any(delivery.payload.get("ticket") == ticket.id for delivery in sent)


def _font() -> Path | None:
    """The DejaVu Sans shipped with Présence (any name, any script), else the system's."""
    shipped = FONT_DIRS[0] / "DejaVuSans.ttf"
    return shipped if shipped.exists() else None


def _ticket_of(key: str) -> int:
    try:
        return int(_tickets().loads(key))
    except (BadSignature, ValueError, TypeError):
        abort(404)


def _found(session: Session, key: str) -> Ticket:
    found = session.get(Ticket, _ticket_of(key))
    if found is None:
        abort(404)
    return found


@blp.get("/tickets/<key>")
def ticket(key: str) -> tuple[str, int, dict[str, str]]:
    """A ticket's own page: whoever has its link can show it, print it, download it."""
    app = runtime()
    with app.session() as session:
        found = _found(session, key)
        event = found.event
        page = render_template(
            "ticket.html",
            ticket=found,
            event=event,
            site=event.site,
            link=ticket_link(found.id),
            png=url_for("events.ticket_png", key=key),
            pdf=url_for("events.ticket_pdf", key=key),
            mailed=mailed(session, found),
        )
    return page, 200, PRIVATE


@blp.get("/tickets/<key>.png")
def ticket_png(key: str) -> Response:
    app = runtime()
    with app.session() as session:
        return Response(qr_png(_found(session, key).token), mimetype="image/png", headers=PRIVATE)


@blp.get("/tickets/<key>.pdf")
def ticket_pdf(key: str) -> Response:
    """The ticket as a PDF to print or keep: the event, when and where, the name, the QR code."""
    app = runtime()
    with app.session() as session:
        found = _found(session, key)
        event, site = found.event, found.event.site
        starts = in_zone(event.starts_at, site.timezone)
        ends = in_zone(event.ends_at, site.timezone)
        when = "{} – {}".format(
            format_datetime(starts, "EEEE d MMMM y, HH:mm", rebase=False),
            format_datetime(ends, "HH:mm", rebase=False),
        )
        place = ", ".join(filter(None, [site.name, site.address]))
        document = ticket_document(event.title, when, place, found.name, found.token, _font())
    name = f"billet-{event.id}-{found.id}.pdf"
    return Response(
        document,
        mimetype="application/pdf",
        headers={**PRIVATE, "Content-Disposition": f'attachment; filename="{name}"'},
    )


@blp.get("/calendar.ics")
def calendar() -> Response:
    """What is coming, open to all, for calendar apps (iCalendar, RFC 5545)."""
    app = runtime()
    feed = Calendar()
    feed.add("prodid", "-//Présence//events//FR")
    feed.add("version", "2.0")
    feed.add("x-wr-calname", _("Événements"))
    host = urlsplit(app.settings.server.address()).hostname or "presence"
    with app.session() as session:
        for event in upcoming(session, app.now() - timedelta(days=1)):
            entry = CalendarEvent()
            entry.add("uid", f"event-{event.id}@{host}")
            entry.add("dtstamp", event.created_at)
            entry.add("dtstart", event.starts_at)
            entry.add("dtend", event.ends_at)
            entry.add("summary", event.title)
            entry.add("description", event.description)
            entry.add("location", ", ".join(filter(None, [event.site.name, event.site.address])))
            entry.add("url", external_url("events.event_page", event_id=event.id))
            feed.add_component(entry)
    return Response(feed.to_ical(), mimetype="text/calendar; charset=utf-8")
