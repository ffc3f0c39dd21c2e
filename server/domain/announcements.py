"""Announcements: the seeds' "mur virtuel d'annonces". Short notes with an end date (a
member looking for a co-founder, a lost key, tonight's talk), shown on the boards' strip
and on a public page. Staff post them; members propose them from their own page, and
staff publish or decline what they propose."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.domain.refusals import N_, Refusal
from server.domain.text import clean_text
from server.store.models import Announcement, Member

MAX_LENGTH = 280
LONGEST = timedelta(days=90)
PROPOSED, PUBLISHED, DECLINED = "proposed", "published", "declined"


class AnnouncementError(Refusal):
    """An announcement that cannot be made as asked."""

    MESSAGES = {
        "empty": N_("Écrivez l'annonce."),
        "long": N_("%(num)d caractères au plus."),
        "expiry": N_("Une date de fin entre demain et dans trois mois."),
    }


def _checked(text: str, expires_at: datetime, now: datetime) -> str:
    cleaned = clean_text(text)
    if not cleaned:
        raise AnnouncementError("empty")
    if len(cleaned) > MAX_LENGTH:
        raise AnnouncementError("long", num=MAX_LENGTH)
    if not now < expires_at <= now + LONGEST:
        raise AnnouncementError("expiry")
    return cleaned


def publish(
    session: Session,
    text: str,
    expires_at: datetime,
    site_id: int | None,
    actor: str,
    now: datetime,
) -> Announcement:
    """An announcement posted by staff: shown at once."""
    found = Announcement(
        text=_checked(text, expires_at, now),
        expires_at=expires_at,
        site_id=site_id,
        status=PUBLISHED,
        created_at=now,
        created_by=actor,
        decided_at=now,
        decided_by=actor,
    )
    session.add(found)
    session.flush()
    return found


def propose(
    session: Session, member: Member, text: str, expires_at: datetime, now: datetime
) -> Announcement:
    """An announcement a member proposes: shown once staff publish it."""
    found = Announcement(
        text=_checked(text, expires_at, now),
        expires_at=expires_at,
        status=PROPOSED,
        proposed_by_id=member.id,
        created_at=now,
        created_by=f"member:{member.id}",
    )
    session.add(found)
    session.flush()
    return found


def decide(announcement: Announcement, publish_it: bool, actor: str, now: datetime) -> None:
    announcement.status = PUBLISHED if publish_it else DECLINED
    announcement.decided_at, announcement.decided_by = now, actor


def withdraw(announcement: Announcement, now: datetime) -> None:
    """Take it down now (it ends, it is kept)."""
    announcement.expires_at = min(announcement.expires_at, now)


def current(session: Session, now: datetime, site_id: int | None = None) -> Sequence[Announcement]:
    """What is shown now (at a site: its own and those for every site), newest first."""
    query = select(Announcement).where(
        Announcement.status == PUBLISHED, Announcement.expires_at > now
    )
    if site_id is not None:
        query = query.where(Announcement.site_id.is_(None) | (Announcement.site_id == site_id))
    return session.scalars(query.order_by(Announcement.created_at.desc())).all()


def proposals(session: Session, now: datetime) -> Sequence[Announcement]:
    """What members proposed and staff have not decided yet (and not already over)."""
    return session.scalars(
        select(Announcement)
        .where(Announcement.status == PROPOSED, Announcement.expires_at > now)
        .order_by(Announcement.created_at)
    ).all()
