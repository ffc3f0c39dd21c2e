"""What the server holds about one member, gathered for them: to read on their own page,
and to take away whole (GDPR rights of access and portability).

Nothing here writes; an erased member is refused by the caller before any of it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.store.models import AuditEntry, Kiosk, Member, Site, Tap, Visit, VisitEnd

#: How far back a member's page lists their visits (the download holds them all).
HISTORY_DAYS = 90
#: What the download says it is, so a later change of its shape can be told apart.
DATA_FORMAT = "presence.member-data/1"


def audit_target(member_id: int) -> str:
    """How the audit trail names a member as the target of a staff action."""
    return f"member:{member_id}"


# -- the member's page ------------------------------------------------------------------


@dataclass(frozen=True)
class VisitLine:
    """One visit as the member reads it: times in the site's own time zone."""

    site: str
    arrived: datetime
    #: None while the member is still there.
    left: datetime | None
    ended_by: VisitEnd | None
    #: Until now for a visit under way.
    duration: timedelta

    @property
    def day(self) -> date:
        return self.arrived.date()

    @property
    def still_here(self) -> bool:
        return self.left is None

    @property
    def left_another_day(self) -> bool:
        return self.left is not None and self.left.date() != self.arrived.date()


@dataclass(frozen=True)
class VisitHistory:
    """A member's recent visits, most recent first, with the month's total time."""

    visits: list[VisitLine]
    days: int
    this_month: timedelta

    @property
    def count(self) -> int:
        return len(self.visits)


def visit_history(
    session: Session, member_id: int, now: datetime, days: int = HISTORY_DAYS
) -> VisitHistory:
    """The member's visits of the last `days` days, and their time this calendar month.

    A visit nobody tapped out of ends at its site's closing time, even before the
    scheduled job has written it down; "this month" is the month of each site's calendar.
    """
    rows = session.execute(
        select(Visit, Site)
        .join(Site, Visit.site_id == Site.id)
        .where(Visit.member_id == member_id, Visit.checked_in_at >= now - timedelta(days=days))
        .order_by(Visit.checked_in_at.desc(), Visit.id.desc())
    ).all()
    zones: dict[str, ZoneInfo] = {}
    lines, this_month = [], timedelta()
    for visit, site in rows:
        zone = zones.setdefault(site.timezone, ZoneInfo(site.timezone))
        ended = _end(visit, now)
        arrived = visit.checked_in_at.astimezone(zone)
        duration = max((ended or now) - visit.checked_in_at, timedelta())
        lines.append(
            VisitLine(
                site=site.name,
                arrived=arrived,
                left=None if ended is None else ended.astimezone(zone),
                ended_by=visit.ended_by or (None if ended is None else VisitEnd.AUTO),
                duration=duration,
            )
        )
        local_now = now.astimezone(zone)
        if (arrived.year, arrived.month) == (local_now.year, local_now.month):
            this_month += duration
    return VisitHistory(lines, days, this_month)


def _end(visit: Visit, now: datetime) -> datetime | None:
    """When the visit ended, or None while it is under way."""
    if visit.checked_out_at is not None:
        return visit.checked_out_at
    return None if visit.is_open_at(now) else visit.closes_at


# -- the download -------------------------------------------------------------------------


def member_data(session: Session, member: Member, now: datetime) -> dict[str, Any]:
    """Everything stored about the member, as JSON-ready data (times ISO 8601, in UTC).

    Their profile, plans, consents, badges, every entry of the tap log that concerns
    them (staff corrections with who made them and why), every visit, and the audit
    trail of what staff did to their record.
    """
    sites = {site.id: site for site in session.scalars(select(Site))}
    taps = session.scalars(
        select(Tap).where(Tap.member_id == member.id).order_by(Tap.occurred_at, Tap.tap_id)
    ).all()
    kiosk_ids = {tap.kiosk_id for tap in taps if tap.kiosk_id is not None}
    kiosks = {
        kiosk.id: kiosk for kiosk in session.scalars(select(Kiosk).where(Kiosk.id.in_(kiosk_ids)))
    }
    visits = session.scalars(
        select(Visit).where(Visit.member_id == member.id).order_by(Visit.checked_in_at, Visit.id)
    ).all()
    audit = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.target == audit_target(member.id))
        .order_by(AuditEntry.at, AuditEntry.id)
    ).all()
    return {
        "format": DATA_FORMAT,
        "generated_at": _iso(now),
        "member": {
            "id": member.id,
            "given_name": member.given_name,
            "family_name": member.family_name,
            "display_name": member.display_name,
            "email": member.email,
            "language": member.language,
            "skills": [str(skill) for skill in member.skills],
            "working_on": member.working_on,
            "open_to_chat_about": member.open_to_chat_about,
            "photo": member.photo,
            "created_at": _iso(member.created_at),
            "archived_at": _iso(member.archived_at),
        },
        "consents": {
            "visibility": member.visibility.value,
            "visibility_consent_at": _iso(member.visibility_consent_at),
            "internet_consent_at": _iso(member.internet_consent_at),
        },
        "plans": [
            {"plan": plan.plan.value, "starts_on": plan.starts_on.isoformat()}
            for plan in member.plans
        ],
        "badges": [
            {
                "kind": badge.kind.value,
                "label": badge.label,
                "value_hint": badge.value_hint,  # the value itself is not kept
                "version": badge.version,
                "issued_at": _iso(badge.issued_at),
                "revoked_at": _iso(badge.revoked_at),
            }
            for badge in sorted(member.badges, key=lambda badge: (badge.issued_at, badge.id))
        ],
        "taps": [_tap(tap, sites, kiosks) for tap in taps],
        "visits": [_visit(visit, sites[visit.site_id], now) for visit in visits],
        "audit": [
            {
                "at": _iso(entry.at),
                "actor": entry.actor,
                "action": entry.action,
                "reason": entry.reason,
                "details": entry.details,
            }
            for entry in audit
        ],
    }


def _tap(tap: Tap, sites: dict[int, Site], kiosks: dict[int, Kiosk]) -> dict[str, Any]:
    site = sites.get(tap.site_id) if tap.site_id is not None else None
    kiosk = kiosks.get(tap.kiosk_id) if tap.kiosk_id is not None else None
    return {
        "id": str(tap.tap_id),
        "occurred_at": _iso(tap.occurred_at),
        "received_at": _iso(tap.received_at),
        "kiosk_clock": _iso(tap.read_at),
        "clock": tap.clock.value,
        "site": site.name if site else None,
        "kiosk": kiosk.name if kiosk else None,
        "kind": tap.kind.value,
        "mode": tap.mode.value if tap.mode else None,
        "badge_kind": tap.badge_kind.value if tap.badge_kind else None,
        "badge_value": tap.badge_value,
        "outcome": tap.outcome.value,
        "reason": tap.reason,
        "actor": tap.actor,
    }


def _visit(visit: Visit, site: Site, now: datetime) -> dict[str, Any]:
    ended = _end(visit, now)
    ended_by = visit.ended_by or (None if ended is None else VisitEnd.AUTO)
    return {
        "site": site.name,
        "timezone": site.timezone,
        "checked_in_at": _iso(visit.checked_in_at),
        "checked_out_at": _iso(ended),
        "ended_by": ended_by.value if ended_by else None,
        "still_here": ended is None,
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()
