"""Events: talks, workshops and evenings at a site, their tickets and who came.

The seeds ask for events open to all, a third brought by partners, a third by
communities, a third by the Cantine itself, and funders count them. Staff create an
event; people register on its public page and get a ticket, a signed QR code (the same
Ed25519 signature as badges, in a format of its own, so a kiosk tells a real ticket from
a forged one while offline). At the door the ticket is scanned at the kiosk like a badge,
or a walk-in gives a name on the kiosk's screen; either way the attendance is the number
of tickets checked in, once each: a ticket scanned again is refused as already used.

Event attendees are not coworkers: a ticket makes no visit, bills nothing, and does not
count in the head-count; the funders' summary counts them apart. Their name and e-mail
are kept `[jobs] guest_retention_days` after the event's end, as guests' are, then
blanked by the daily retention job (`forget_past_attendees`): the tickets, and so the
attendance, stay.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from badges.tokens import TicketToken, TokenError, read_token, sign_ticket
from server.domain.guests import clean_name
from server.domain.presence import (
    IncomingTap,
    TapContext,
    TapResult,
    finish,
    kiosk_entry,
)
from server.domain.refusals import N_, Refusal
from server.store.models import Event, Outcome, Site, Tap, TapKind, Ticket

BROUGHT_BY = ("partner", "community", "cantine")
#: Taps of tickets carry this reason, so the log tells them from members' taps.
TICKET_REASON = "ticket"


class EventError(Refusal):
    """An event or a registration that cannot be made as asked."""

    MESSAGES = {
        "bad_brought_by": N_("Un événement est proposé par : %(choices)s."),
        "ends_before_start": N_("La fin vient après le début."),
        "over": N_("Cet événement est passé ou annulé."),
        "full": N_("Cet événement est complet."),
    }


def add_event(
    session: Session,
    site: Site,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    brought_by: str,
    open_to_all: bool,
    description: str,
    capacity: int | None,
    actor: str,
    now: datetime,
) -> Event:
    if brought_by not in BROUGHT_BY:
        raise EventError("bad_brought_by", choices=", ".join(BROUGHT_BY))
    if ends_at <= starts_at:
        raise EventError("ends_before_start")
    event = Event(
        site_id=site.id,
        title=title.strip(),
        starts_at=starts_at,
        ends_at=ends_at,
        brought_by=brought_by,
        open_to_all=open_to_all,
        description=description,
        capacity=capacity,
        created_at=now,
        created_by=actor,
    )
    session.add(event)
    session.flush()
    return event


def upcoming(
    session: Session, now: datetime, site_id: int | None = None, public: bool = True
) -> list[Event]:
    """Events not over yet, soonest first (only those open to all when `public`)."""
    query = select(Event).where(Event.ends_at > now, Event.cancelled_at.is_(None))
    if site_id is not None:
        query = query.where(Event.site_id == site_id)
    if public:
        query = query.where(Event.open_to_all.is_(True))
    return list(session.scalars(query.order_by(Event.starts_at, Event.id)))


def today_at(session: Session, site: Site, now: datetime) -> list[Event]:
    """The site's events of the local day, not over yet: the kiosk and the board show them."""
    zone = ZoneInfo(site.timezone)
    day = now.astimezone(zone).date()
    midnight = datetime.combine(day + timedelta(days=1), time(0), zone)
    return [
        event
        for event in upcoming(session, now, site.id, public=False)
        if event.starts_at < midnight
    ]


def attendance(session: Session, event_ids: list[int]) -> dict[int, int]:
    """Event -> tickets checked in."""
    if not event_ids:
        return {}
    rows = session.execute(
        select(Ticket.event_id, func.count())
        .where(Ticket.event_id.in_(event_ids), Ticket.checked_in_at.is_not(None))
        .group_by(Ticket.event_id)
    )
    return {event_id: int(count) for event_id, count in rows}


def places_left(session: Session, event: Event) -> int | None:
    """How many tickets can still be had for the event (None: no limit)."""
    if event.capacity is None:
        return None
    taken = session.scalar(
        select(func.count()).select_from(Ticket).where(Ticket.event_id == event.id)
    )
    return max(event.capacity - (taken or 0), 0)


def register(
    session: Session,
    event: Event,
    name: str,
    email: str | None,
    now: datetime,
    private_key: bytes,
    walk_in: bool = False,
) -> Ticket:
    """A ticket for the event (a walk-in's is checked in at once by the caller)."""
    if event.cancelled_at is not None or event.ends_at <= now:
        raise EventError("over")
    if not walk_in and places_left(session, event) == 0:
        raise EventError("full")
    return _new_ticket(session, event, name.strip()[:100], email, now, private_key, walk_in)


def _new_ticket(
    session: Session,
    event: Event,
    name: str,
    email: str | None,
    now: datetime,
    private_key: bytes,
    walk_in: bool,
) -> Ticket:
    """A ticket and its signed token (which names the ticket's id, known once stored)."""
    ticket = Ticket(
        event_id=event.id, name=name, email=email or None, created_at=now, walk_in=walk_in, token=""
    )
    session.add(ticket)
    session.flush()
    ticket.token = sign_ticket(private_key, TicketToken(ticket.id))
    session.flush()
    return ticket


def record_ticket_scan(session: Session, tap: IncomingTap, context: TapContext) -> TapResult:
    """A ticket read at the kiosk: checked in once; read again, refused as already used."""
    if context.keys is None:
        raise ValueError("a ticket needs the badge public key to be checked")
    kiosk = context.kiosk
    entry = _entry(tap, context)
    value = tap.badge.strip().upper()
    entry.badge_value = value[:512]
    try:
        token = read_token(context.keys.public, value)
    except TokenError as error:
        return finish(session, entry, Outcome.INVALID, reason=error.reason)
    assert isinstance(token, TicketToken)
    ticket = session.scalar(select(Ticket).where(Ticket.id == token.ticket_id).with_for_update())
    if ticket is None or ticket.token != value:
        return finish(session, entry, Outcome.REVOKED, reason="unknown_ticket")
    if ticket.event.site_id != kiosk.site_id or ticket.event.cancelled_at is not None:
        return finish(session, entry, Outcome.REVOKED, name=ticket.name, reason="other_event")
    return _check_in(session, entry, ticket)


def record_walk_in(session: Session, tap: IncomingTap, context: TapContext) -> TapResult:
    """Someone at the door for an event, without a ticket: a ticket made and used at once."""
    if context.keys is None or context.keys.private is None:
        raise ValueError("a walk-in's ticket needs the badge private key to be signed")
    kiosk, received_at = context.kiosk, context.received_at
    walk_in = tap.walk_in
    assert walk_in is not None
    entry = _entry(tap, context)
    event = session.get(Event, walk_in.event_id)
    if event is None or event.site_id != kiosk.site_id or event.cancelled_at is not None:
        return finish(session, entry, Outcome.INVALID, reason="unknown_event")
    # Not `register`: an event that ended while the kiosk was offline still gets its
    # walk-ins, and walk-ins never count against the places.
    name = clean_name(walk_in.name)
    ticket = _new_ticket(
        session, event, name, walk_in.email, received_at, context.keys.private, True
    )
    return _check_in(session, entry, ticket)


def _entry(tap: IncomingTap, context: TapContext) -> Tap:
    """A ticket's tap: in the log, but no member's (no visit, no head-count)."""
    return kiosk_entry(tap, context, kind=TapKind.VOID, reason=TICKET_REASON)


def _check_in(session: Session, entry: Tap, ticket: Ticket) -> TapResult:
    entry.ticket_id = ticket.id
    if ticket.checked_in_at is not None:
        return finish(
            session, entry, Outcome.DUPLICATE, name=ticket.name, reason="already_checked_in"
        )
    ticket.checked_in_at = entry.occurred_at
    return finish(session, entry, Outcome.CHECKED_IN, name=ticket.name)


@dataclass
class EventsOfMonth:
    """What the funders' summary says of a month's events."""

    events: list[tuple[Event, int]]  # each event and its attendance

    @property
    def attendance(self) -> int:
        return sum(count for _event, count in self.events)

    @property
    def by_whom(self) -> dict[str, int]:
        """How many events each kind of organiser brought (partner, community, cantine)."""
        counted = Counter(event.brought_by for event, _count in self.events)
        return {who: counted.get(who, 0) for who in BROUGHT_BY}


#: What a ticket whose holder has been forgotten says in place of their name.
FORGOTTEN = "—"


def forget_past_attendees(session: Session, now: datetime, keep_days: int) -> int:
    """Blank the name and e-mail on the tickets of events that ended more than
    `keep_days` ago; how many tickets were blanked."""
    ended = select(Event.id).where(Event.ends_at < now - timedelta(days=keep_days))
    tickets = session.scalars(
        select(Ticket).where(Ticket.event_id.in_(ended), Ticket.name != FORGOTTEN)
    ).all()
    for ticket in tickets:
        ticket.name, ticket.email = FORGOTTEN, None
    return len(tickets)


def events_of_month(session: Session, site: Site, month: date) -> EventsOfMonth:
    zone = ZoneInfo(site.timezone)
    first = datetime.combine(month, time(0), zone)
    following = datetime.combine(
        (month.replace(day=28) + timedelta(days=4)).replace(day=1), time(0), zone
    )
    found = session.scalars(
        select(Event)
        .where(
            Event.site_id == site.id,
            Event.cancelled_at.is_(None),
            Event.starts_at >= first,
            Event.starts_at < following,
        )
        .order_by(Event.starts_at)
    ).all()
    counts = attendance(session, [event.id for event in found])
    return EventsOfMonth([(event, counts.get(event.id, 0)) for event in found])
