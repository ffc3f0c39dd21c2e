"""The front desk: find a member in a few letters, check them in or out at the desk's
site, and what the desk must act on (packs used up, kiosks or readers down)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from server.domain import presence
from server.domain.billing import statements
from server.domain.kiosks import health
from server.domain.members import matching, plan_on
from server.domain.presence import Rules, TapResult
from server.settings import BillingSection
from server.store.models import Kiosk, Member, Plan, ReaderState, Site, TapKind, Visit

#: The reason a desk check-in or check-out is recorded with, in the tap log.
DESK_REASON = "accueil"


def find_at_desk(session: Session, query: str, limit: int = 8) -> Sequence[Member]:
    """The members the desk may mean by `query` (active ones, in the members list's
    order): the first is the one Enter checks in or out."""
    if not query.strip():
        return []
    return session.scalars(
        select(Member)
        .where(Member.erased_at.is_(None), Member.archived_at.is_(None), matching(query))
        .order_by(Member.family_name, Member.given_name, Member.id)
        .limit(limit)
    ).all()


def is_present(session: Session, member_id: int, site_id: int, now: datetime) -> bool:
    return (
        session.scalar(
            select(Visit.id)
            .where(
                Visit.member_id == member_id,
                Visit.site_id == site_id,
                Visit.checked_out_at.is_(None),
                Visit.closes_at > now,
            )
            .limit(1)
        )
        is not None
    )


def toggle_at_desk(
    session: Session, member: Member, site: Site, actor: str, now: datetime, rules: Rules
) -> TapResult:
    """Check the member in at `site` if they are not there, out if they are, now."""
    kind = TapKind.STAFF_OUT if is_present(session, member.id, site.id, now) else TapKind.STAFF_IN
    return presence.record_staff_entry(
        session, member, site, kind, now, actor, DESK_REASON, now, rules
    )


def pack_empty(
    session: Session,
    member_ids: Collection[int],
    today: date,
    now: datetime,
    rules: BillingSection,
) -> list[Member]:
    """Those of the members, on a pack today and in today, whose pack does not pay for
    today (no credit left for it): the day is charged at the payg price unless a pack is
    bought."""
    if not member_ids:
        return []
    members = session.scalars(
        select(Member)
        .where(Member.id.in_(member_ids), Member.erased_at.is_(None))
        .options(selectinload(Member.plans))
        .order_by(Member.family_name, Member.given_name, Member.id)
    ).all()
    on_pack = [m for m in members if (plan := plan_on(m, today)) and plan.plan is Plan.PACK]
    if not on_pack:
        return []
    empty = []
    for member, month in zip(on_pack, statements(session, on_pack, today, now, rules), strict=True):
        days = [day for day in month.days if day.day == today]
        if days:
            if any(day.how != "pack" for day in days):
                empty.append(member)
        elif month.credits_left <= 0:  # in, but not yet long enough to count
            empty.append(member)
    return empty


def in_today(session: Session, today: date) -> set[int]:
    """The members who came in today (the site's day), at any site."""
    return set(
        session.scalars(
            select(Visit.member_id).where(Visit.local_day == today, Visit.member_id.is_not(None))
        )
    )


@dataclass(frozen=True)
class ToDo:
    """Something the desk must act on: `kind` is "pack_empty" (a member, by name),
    "kiosk_down" or "reader" (a kiosk: its reader `GONE` or `STUCK`)."""

    kind: str
    member: Member | None = None
    kiosk: Kiosk | None = None


def to_do(session: Session, today: date, now: datetime, rules: BillingSection) -> list[ToDo]:
    """What the desk must act on now, most urgent first: kiosks that stopped answering,
    badge readers unplugged or stuck, then members whose pack is used up today."""
    found: list[ToDo] = []
    for kiosk in session.scalars(select(Kiosk).order_by(Kiosk.name)):
        if health(kiosk, now) == "down":
            found.append(ToDo("kiosk_down", kiosk=kiosk))
        elif kiosk.reader in (ReaderState.GONE, ReaderState.STUCK):
            found.append(ToDo("reader", kiosk=kiosk))
    for member in pack_empty(session, in_today(session, today), today, now, rules):
        found.append(ToDo("pack_empty", member=member))
    return found
