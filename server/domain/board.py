"""The wall board's view of presence: what it may show, and each change as it happens.

Each member chooses what the board shows of them (`Member.visibility`): `hidden` members
are counted and never named, `first_name` members show their first name, `profile`
members add what they work on, their skills and what they are open to chat about. The
functions here are the only way presence leaves the server for a board, so nothing
else can leak a name.

Changes reach boards without any writer having to remember it: every write transaction
is watched (SQLAlchemy session events) for visits and public profile fields that change.
Just before it commits, each site whose board changed takes the next numbers of its
sequence (`sites.board_seq`, bumped in that very transaction, so the numbers survive
restarts and agree across server processes) and gets one message per changed member.
After the commit, the messages go to the publisher (Socket.IO, see `server.web.live`).

A board holds the state numbered n and applies message n + 1; any gap means a message
was lost (a restart, Redis pub/sub being at-most-once, a write from a command-line
process with nobody to publish it) and the board asks for the full state again. Each
message sets things rather than adding to them (a person's card, the head-count), so a
message applied twice does no harm.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from itertools import chain
from typing import Any

from sqlalchemy import bindparam, inspect, select, update
from sqlalchemy.orm import Session, sessionmaker

from server.domain.hours import OpeningHours
from server.domain.presence import HEAD_COUNTS, head_count, opening_hours, present_visits
from server.domain.sites import find_site, may_display
from server.settings import address_in
from server.store.models import Member, Site, UTCDateTime, Visibility, Visit

#: Member fields that a board may show: a change to any of them updates boards.
PUBLIC_FIELDS = (
    "given_name",
    "display_name",
    "skills",
    "working_on",
    "open_to_chat_about",
    "photo",
    "visibility",
    "archived_at",
    "erased_at",
)

_PENDING = "presence.board.pending"
_OUTBOX = "presence.board.outbox"


def room(site_id: int) -> str:
    """The Socket.IO room of a site's boards."""
    return f"site-{site_id}"


@dataclass(frozen=True)
class Message:
    """One change for the boards of one site."""

    site_id: int
    body: dict[str, Any]


Publish = Callable[[Sequence[Message]], None]


# -- what a board may show ---------------------------------------------------------------


def is_named(member: Member) -> bool:
    """Whether the board may name this member at all."""
    return (
        member.visibility is not Visibility.HIDDEN
        and member.archived_at is None
        and member.erased_at is None
    )


def board_name(member: Member) -> str:
    if member.visibility is Visibility.PROFILE:
        return member.display_name or member.given_name
    first_word = (member.display_name.split() or [""])[0]
    return member.given_name or first_word


def initials(name: str) -> str:
    letters = [word[0] for word in name.split() if word[:1].isalpha()]
    return "".join(letters[:2]).upper() or "?"


def card_key(secret: str, member_id: int) -> str:
    """A board's handle on a named member: stable, and no member id in clear."""
    digest = hmac.new(secret.encode(), f"board:{member_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:16]


def card(secret: str, member: Member, visit: Visit) -> dict[str, Any]:
    """What the board shows of a present member; only call it for a named member."""
    name = board_name(member)
    shown: dict[str, Any] = {
        "key": card_key(secret, member.id),
        "name": name,
        "initials": initials(name),
        "since": visit.checked_in_at.isoformat(),
    }
    if member.visibility is Visibility.PROFILE:
        shown.update(
            working_on=member.working_on,
            skills=[str(skill) for skill in member.skills],
            chat_about=member.open_to_chat_about,
            photo=member.photo,
        )
    return shown


def board_state(session: Session, site: Site, now: datetime, secret: str) -> dict[str, Any]:
    """Everything a board shows, numbered with the site's last change.

    Read in one snapshot (a read-only session), so the number and the people agree.
    """
    visits = present_visits(session, site.id, now)
    hours = opening_hours(site)
    ends = [visit.closes_at for visit in visits]
    return {
        "seq": site.board_seq,
        "site": {
            "slug": site.slug,
            "name": site.name,
            "timezone": site.timezone,
            "capacity": site.capacity,
        },
        "now": now.isoformat(),
        "open": hours.is_open(now),
        "hours_today": hours_today(hours, now),
        "head_count": len(visits),
        "people": [card(secret, visit.member, visit) for visit in visits if is_named(visit.member)],
        # When the state changes with no tap: a visit ends at closing time, the site opens
        # or closes, the day turns. The board asks again then.
        "refresh_at": min([next_boundary(hours, now), *ends]).astimezone(UTC).isoformat(),
    }


def hours_today(hours: OpeningHours, now: datetime) -> list[list[str]]:
    today = hours.local_date(now)
    return [
        [opens.strftime("%H:%M"), closes.strftime("%H:%M")]
        for opens, closes in hours.periods_on(today)
    ]


def next_boundary(hours: OpeningHours, now: datetime) -> datetime:
    """The next opening, closing or local midnight after `now`."""
    today = hours.local_date(now)
    midnight = datetime.combine(today + timedelta(days=1), time(0), hours.zone)
    periods = chain.from_iterable(hours.periods_on(today + timedelta(days=d)) for d in (-1, 0, 1))
    times = [moment for period in periods for moment in period if moment > now]
    return min([midnight, *times])


# -- following changes -------------------------------------------------------------------


@dataclass
class _Pending:
    #: Member id -> the sites where their presence may have changed (empty: profile only).
    members: dict[int, set[int]] = field(default_factory=dict)
    #: Members whose visibility changed: a board may hold a card to take down.
    veiled: set[int] = field(default_factory=set)

    def touch(self, member_id: int, site_id: int | None) -> None:
        sites = self.members.setdefault(member_id, set())
        if site_id is not None:
            sites.add(site_id)


# Built once: they run in every write transaction that moves someone.
_UNDER_WAY = select(Visit).where(
    Visit.member_id.in_(bindparam("members", expanding=True)),
    Visit.checked_out_at.is_(None),
    Visit.closes_at > bindparam("now", type_=UTCDateTime),
)
_NEXT_NUMBERS = (
    update(Site)
    .where(Site.id == bindparam("site"))
    .values(board_seq=Site.board_seq + bindparam("taken"))
    .returning(Site.board_seq)
    .execution_options(synchronize_session=False)
)


@dataclass
class BoardTracker:
    """Turns the changes of each write transaction into numbered board messages."""

    clock: Callable[[], datetime]
    secret: str
    publish: Publish | None = None

    def install(self, sessions: sessionmaker[Session]) -> None:
        from sqlalchemy import event

        event.listen(sessions, "before_flush", self._watch)
        event.listen(sessions, "before_commit", self._seal)
        event.listen(sessions, "after_commit", self._send)
        event.listen(sessions, "after_rollback", self._forget)

    def _watch(self, session: Session, _context: object, _instances: object) -> None:
        pending: _Pending = session.info.setdefault(_PENDING, _Pending())
        for obj in chain(session.new, session.dirty, session.deleted):
            if isinstance(obj, Visit) and obj.member_id is not None:
                pending.touch(obj.member_id, obj.site_id)
                session.info.pop(HEAD_COUNTS, None)
            elif isinstance(obj, Member) and obj in session.dirty:
                state = inspect(obj)
                if any(state.attrs[name].history.has_changes() for name in PUBLIC_FIELDS):
                    pending.touch(obj.id, None)
                if state.attrs.visibility.history.has_changes():
                    pending.veiled.add(obj.id)

    def _seal(self, session: Session) -> None:
        session.flush()  # the last changes reach _watch first
        pending: _Pending | None = session.info.pop(_PENDING, None)
        if pending is None or not pending.members:
            return
        session.info[_OUTBOX] = self.messages(session, pending)

    def messages(self, session: Session, pending: _Pending) -> list[Message]:
        now = self.clock()
        # Usually already in the session (the tap locked them): no query.
        members = {member_id: session.get(Member, member_id) for member_id in pending.members}
        under_way = session.scalars(_UNDER_WAY, {"members": list(pending.members), "now": now})
        here = {visit.member_id: visit for visit in under_way}
        changes: dict[int, list[dict[str, Any]]] = {}
        for member_id, sites in pending.members.items():
            visit = here.get(member_id)
            for site_id in sites | ({visit.site_id} if visit else set()):
                at_site = visit if visit is not None and visit.site_id == site_id else None
                member = members[member_id]
                assert member is not None
                change = self._change(member, at_site, member_id in pending.veiled)
                changes.setdefault(site_id, []).append(change)
        messages: list[Message] = []
        # Sites in a fixed order: two transactions never wait on each other's sites.
        for site_id in sorted(changes):
            batch = changes[site_id]
            last = session.execute(
                _NEXT_NUMBERS, {"site": site_id, "taken": len(batch)}
            ).scalar_one()
            count = session.info.get(HEAD_COUNTS, {}).get(site_id)
            if count is None:
                count = head_count(session, site_id, now)
            first = last - len(batch) + 1
            messages.extend(
                Message(site_id, {"seq": first + i, "head_count": count, **change})
                for i, change in enumerate(batch)
            )
        return messages

    def _change(self, member: Member, visit: Visit | None, veiled: bool) -> dict[str, Any]:
        """The change one member makes to one site's board.

        A hidden member's change carries nothing about them: only the new head-count,
        or, when they have just hidden themselves, the card to take down.
        """
        if is_named(member):
            if visit is not None:
                return {"put": card(self.secret, member, visit)}
            return {"drop": card_key(self.secret, member.id)}
        if veiled:
            return {"drop": card_key(self.secret, member.id)}
        return {}

    def _send(self, session: Session) -> None:
        messages: list[Message] = session.info.pop(_OUTBOX, [])
        if messages and self.publish is not None:
            self.publish(messages)

    def _forget(self, session: Session) -> None:
        session.info.pop(_PENDING, None)
        session.info.pop(_OUTBOX, None)


class BoardAccess(enum.Enum):
    GRANTED = "granted"
    NO_SUCH_SITE = "no_such_site"
    TOKEN_REQUIRED = "display_token_required"
    TOKEN_INVALID = "display_token_invalid"


def find_board_site(
    session: Session,
    slug: str,
    token: str | None,
    address: str | None,
    allowed_networks: Sequence[str],
) -> tuple[BoardAccess, Site | None]:
    """The site whose board is asked for, if this client may see it: with the site's
    display token, or from an address inside `allowed_networks` (the space's LAN)."""
    site = find_site(session, slug)
    if site is None:
        return BoardAccess.NO_SUCH_SITE, None
    if may_display(site, token) or address_in(address, allowed_networks):
        return BoardAccess.GRANTED, site
    return (BoardAccess.TOKEN_INVALID if token else BoardAccess.TOKEN_REQUIRED), None
