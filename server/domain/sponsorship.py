"""Parrainage and guests who joined: who brought whom in, what the funders ask of the
community side (a Cantine grows by its members' invitations)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from server.store.models import GuestDay, Member


def _name(member: Member) -> str:
    return f"{member.given_name} {member.family_name}".strip()


@dataclass
class Sponsor:
    name: str
    sponsored: list[str] = field(default_factory=list)


@dataclass
class Conversion:
    """A guest who became a member."""

    name: str
    first_guest_day: date | None
    guest_days: int
    joined: datetime | None
    hosts: list[str]


@dataclass
class GuestMonth:
    month: date
    guest_days: int
    guests: int


@dataclass
class Community:
    sponsors: list[Sponsor]
    conversions: list[Conversion]
    months: list[GuestMonth]


def community(session: Session) -> Community:
    sponsor = aliased(Member)
    pairs = session.execute(
        select(sponsor, Member)
        .join(sponsor, Member.sponsor_id == sponsor.id)
        .where(Member.erased_at.is_(None), sponsor.erased_at.is_(None))
        .order_by(sponsor.given_name, Member.given_name)
    ).all()
    sponsors: dict[int, Sponsor] = {}
    for who, sponsored in pairs:
        sponsors.setdefault(who.id, Sponsor(_name(who))).sponsored.append(_name(sponsored))

    joined = session.scalars(
        select(Member)
        .where(Member.became_member_at.is_not(None), Member.erased_at.is_(None))
        .order_by(Member.became_member_at.desc())
    ).all()
    days_of: dict[int, list[GuestDay]] = defaultdict(list)
    if joined:
        for day in session.scalars(
            select(GuestDay).where(GuestDay.guest_id.in_([m.id for m in joined]))
        ):
            days_of[day.guest_id].append(day)
    conversions = [
        Conversion(
            _name(member),
            min((d.day for d in days_of[member.id]), default=None),
            len(days_of[member.id]),
            member.became_member_at,
            sorted({_name(d.host) for d in days_of[member.id] if d.host is not None}),
        )
        for member in joined
    ]
    guests_of: dict[date, set[int]] = defaultdict(set)
    days_in: dict[date, int] = defaultdict(int)
    for on, guest_id in session.execute(select(GuestDay.day, GuestDay.guest_id)):
        month = on.replace(day=1)
        guests_of[month].add(guest_id)
        days_in[month] += 1
    months = [
        GuestMonth(month, days_in[month], len(guests_of[month]))
        for month in sorted(days_in, reverse=True)[:12]
    ]
    return Community(
        sorted(sponsors.values(), key=lambda s: (-len(s.sponsored), s.name)), conversions, months
    )
