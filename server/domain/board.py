"""The wall board's view of presence: what it may show, and each change as it happens.

Each member chooses what the board shows of them (`Member.visibility`): `hidden` members
are counted and never named, `first_name` members show their first name, `profile`
members add what they work on, their skills and what they are open to chat about. The
functions here are the only way presence leaves the server for a board, so nothing
else can leak a name.

Two people present who would show the same name ("Baptiste" twice) are told apart by the
initial of their family name ("Baptiste M.", "Baptiste R."): the least that tells them
apart. Only a `profile` member's initial is shown; a `first_name` member chose to show
their first name and nothing more, so they stay "Baptiste" (beside "Baptiste R." if the
other one allows it, or as two alike "Baptiste" if neither does). When someone arrives,
leaves or renames themselves, the others present under the same name get their card again.

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
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from itertools import chain
from typing import Any, Protocol

from sqlalchemy import bindparam, inspect, select, update
from sqlalchemy.orm import Session, joinedload, sessionmaker

from server.domain.hours import OpeningHours
from server.domain.presence import (
    HEAD_COUNTS,
    anyone_came_since,
    head_count,
    open_state,
    opening_hours,
    present_visits,
)
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


class Naming(Protocol):
    """The fields a board name is made of (a `Member`, or a row of just these)."""

    @property
    def given_name(self) -> str: ...
    @property
    def family_name(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def visibility(self) -> Visibility: ...


def board_name(member: Naming) -> str:
    """The name a member's level lets the board show, before telling namesakes apart."""
    if member.visibility is Visibility.PROFILE:
        return member.display_name or member.given_name
    first_word = (member.display_name.split() or [""])[0]
    return member.given_name or first_word


def same_name_key(name: str) -> str:
    """Names that read the same on the board ("baptiste", "Baptiste") share this key."""
    return unicodedata.normalize("NFC", " ".join(name.split())).casefold()


def with_initial(member: Naming, name: str) -> str:
    """`name` with the initial of the family name, when the member's level allows it.

    Only a `profile` member's, and only when the name shown is their first name alone
    (a display name such as "Baptiste M." already says more).
    """
    if member.visibility is not Visibility.PROFILE:
        return name
    initial = member.family_name.strip()[:1]
    if not initial.isalpha() or same_name_key(name) != same_name_key(member.given_name):
        return name
    return f"{name} {initial.upper()}."


def shown_names(members: dict[int, Naming]) -> dict[int, str]:
    """The name each of the named members present at one site shows, by member id:
    their board name, with their family name's initial when another shows the same."""
    groups: dict[str, list[int]] = {}
    for member_id, member in members.items():
        groups.setdefault(same_name_key(board_name(member)), []).append(member_id)
    shown: dict[int, str] = {}
    for ids in groups.values():
        for member_id in ids:
            name = board_name(members[member_id])
            shown[member_id] = with_initial(members[member_id], name) if len(ids) > 1 else name
    return shown


def initials(name: str) -> str:
    letters = [word[0] for word in name.split() if word[:1].isalpha()]
    return "".join(letters[:2]).upper() or "?"


def card_key(secret: str, member_id: int) -> str:
    """A board's handle on a named member: stable, and no member id in clear."""
    digest = hmac.new(secret.encode(), f"board:{member_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:16]


def card(secret: str, member: Member, visit: Visit, name: str | None = None) -> dict[str, Any]:
    """What the board shows of a present member; only call it for a named member.

    `name`: the one `shown_names` gave them among the others present (their board name
    if left out)."""
    name = name or board_name(member)
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
    named = [visit for visit in visits if is_named(visit.member)]
    names = shown_names({visit.member_id: visit.member for visit in named})
    midnight = datetime.combine(hours.local_date(now), time(0), hours.zone)
    state = open_state(hours, now, len(visits))
    return {
        "seq": site.board_seq,
        "site": {
            "slug": site.slug,
            "name": site.name,
            "timezone": site.timezone,
            "capacity": site.capacity,
        },
        "now": now.isoformat(),
        # "open" is SpaceAPI's state.open; "status" says why (see `open_state`). A change
        # that empties the site after hours, or fills it, makes the board ask again.
        "open": state.is_open,
        "status": state.value,
        "hours_today": hours_today(hours, now),
        "empty": (
            empty_words(hours, now, anyone_came_since(session, site.id, midnight, now))
            if not visits
            else None
        ),
        "head_count": len(visits),
        "people": [card(secret, visit.member, visit, names[visit.member_id]) for visit in named],
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


class Empty(enum.Enum):
    """What an empty board says, true at any time of day (the words are in board.js)."""

    #: Open, and nobody came yet today: "you will be the first person of the day".
    FIRST = "first"
    #: Open, people came and went: "nobody here right now".
    AGAIN = "again"
    #: Before today's opening: "opens at 09:00".
    OPENS = "opens"
    #: Between two periods (a lunch closure): "reopens at 14:00".
    REOPENS = "reopens"
    #: Closed for the rest of the day after people came: "everyone has left".
    ALL_GONE = "all_gone"
    #: Closed for the rest of the day, or all day, and nobody came.
    CLOSED = "closed"


def empty_words(hours: OpeningHours, now: datetime, came_today: bool) -> dict[str, str | None]:
    """What the board says when nobody is in: an `Empty` value and, for an opening to
    come today, its time ("HH:MM", in the site's zone)."""
    if hours.is_open(now):
        return {"words": (Empty.AGAIN if came_today else Empty.FIRST).value, "time": None}
    periods = hours.periods_on(hours.local_date(now))
    later = [opens for opens, _closes in periods if opens > now]
    if later:
        words = Empty.REOPENS if any(closes <= now for _, closes in periods) else Empty.OPENS
        return {"words": words.value, "time": min(later).strftime("%H:%M")}
    return {"words": (Empty.ALL_GONE if came_today else Empty.CLOSED).value, "time": None}


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
    #: Member id -> the names (`same_name_key`) they may have shown before a change of
    #: name or level: their namesakes present may need telling apart no more.
    former_names: dict[int, set[str]] = field(default_factory=dict)

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
_NAMED_HERE = (
    select(
        Visit.member_id,
        Member.given_name,
        Member.family_name,
        Member.display_name,
        Member.visibility,
    )
    .join(Member, Visit.member_id == Member.id)
    .where(
        Visit.site_id == bindparam("site"),
        Visit.checked_out_at.is_(None),
        Visit.closes_at > bindparam("now", type_=UTCDateTime),
        Member.visibility != Visibility.HIDDEN,
        Member.archived_at.is_(None),
        Member.erased_at.is_(None),
    )
)
_NAMESAKES_HERE = (
    select(Visit)
    .options(joinedload(Visit.member))
    .where(
        Visit.site_id == bindparam("site"),
        Visit.member_id.in_(bindparam("members", expanding=True)),
        Visit.checked_out_at.is_(None),
        Visit.closes_at > bindparam("now", type_=UTCDateTime),
    )
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
                    pending.former_names.setdefault(obj.id, set()).update(_names_of(state))
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
        touched: dict[int, list[tuple[Member, Visit | None]]] = {}
        for member_id, sites in pending.members.items():
            visit = here.get(member_id)
            for site_id in sites | ({visit.site_id} if visit else set()):
                at_site = visit if visit is not None and visit.site_id == site_id else None
                member = members[member_id]
                assert member is not None
                touched.setdefault(site_id, []).append((member, at_site))
        messages: list[Message] = []
        # Sites in a fixed order: two transactions never wait on each other's sites.
        for site_id in sorted(touched):
            batch = self._site_changes(session, site_id, touched[site_id], pending, now)
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

    def _site_changes(
        self,
        session: Session,
        site_id: int,
        touched: list[tuple[Member, Visit | None]],
        pending: _Pending,
        now: datetime,
    ) -> list[dict[str, Any]]:
        """The changes to one site's board: one per member touched, then the cards of
        their namesakes present, whose names may have to say more, or less, now."""
        names: dict[int, str] = {}
        namesakes: list[int] = []
        if any(is_named(member) or member.id in pending.veiled for member, _ in touched):
            rows = session.execute(_NAMED_HERE, {"site": site_id, "now": now})
            present: dict[int, Naming] = {row[0]: _Names(*row[1:]) for row in rows}
            names = shown_names(present)
            ids = {member.id for member, _ in touched}
            keys = {same_name_key(board_name(member)) for member, _ in touched}
            for member_id in ids:
                keys |= pending.former_names.get(member_id, set())
            namesakes = [
                member_id
                for member_id, naming in present.items()
                if member_id not in ids and same_name_key(board_name(naming)) in keys
            ]
        changes = [
            self._change(member, visit, member.id in pending.veiled, names.get(member.id))
            for member, visit in touched
        ]
        if namesakes:
            again = session.scalars(
                _NAMESAKES_HERE, {"site": site_id, "members": namesakes, "now": now}
            )
            changes += [
                {"put": card(self.secret, visit.member, visit, names[visit.member_id])}
                for visit in again.unique()
            ]
        return changes

    def _change(
        self, member: Member, visit: Visit | None, veiled: bool, name: str | None
    ) -> dict[str, Any]:
        """The change one member makes to one site's board.

        A hidden member's change carries nothing about them: only the new head-count,
        or, when they have just hidden themselves, the card to take down.
        """
        if is_named(member):
            if visit is not None:
                return {"put": card(self.secret, member, visit, name)}
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


@dataclass(frozen=True)
class _Names:
    given_name: str
    family_name: str
    display_name: str
    visibility: Visibility


def _names_of(state: Any) -> set[str]:
    """Every name (as `same_name_key`) a member being changed may show, before or after."""
    texts: set[str] = set()
    for attribute in ("given_name", "display_name"):
        history = state.attrs[attribute].history
        for value in chain(history.deleted, history.unchanged, history.added):
            if isinstance(value, str) and value.strip():
                texts |= {value, value.split()[0]}
    return {same_name_key(text) for text in texts}


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
