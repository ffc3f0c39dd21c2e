"""Guests: people without a badge of their own, checked in for a day.

A guest is a `Member` row marked `is_guest`, so that everything a member's presence goes
through (the tap log, visits, the head-count, the boards, the reports) counts them too.
Each day a guest comes gets a `GuestDay` naming their host, and a one-day pass: a signed
QR badge valid on that day only. Guests come in two ways:

- **at the kiosk** ("Je suis invité·e"): a first name, an optional e-mail and a host
  chosen among the members who agreed to be listed. The kiosk spools this like a tap and
  uploads it; the server makes the guest (or finds them again by e-mail), the day and
  the pass, and records a check-in tap of that pass. Leaving, the guest picks their name
  on the kiosk, which sends a departure naming the arrival;
- **invited ahead** by staff: the pass is made at once, to print or send; scanned at
  the kiosk it checks the guest in and out like any QR badge, on its day only.

A guest day is billed to the host or not at all (`[guests] billing`), see
`server.domain.billing`. A guest who later joins keeps their row: their visits as a guest stay
linked to the member they became (`became_member_at`).

A guest who does not come back is erased once their last day is `[jobs]
guest_retention_days` old (the daily retention job, `erase_past_guests`): their name and
e-mail go, their days and visits stay counted, as when staff erase a member.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.domain import audit
from server.domain.credentials import issue_qr, token_of
from server.domain.members import erase_member
from server.domain.presence import (
    IncomingTap,
    TapContext,
    TapResult,
    apply_entry,
    find_tap,
    finish,
    kiosk_entry,
    lock_member,
    opening_hours,
)
from server.domain.refusals import N_, Refusal
from server.domain.text import clean_text
from server.store.models import (
    Badge,
    BadgeKind,
    GuestDay,
    KioskMode,
    Member,
    Outcome,
    Site,
    Tap,
    TapKind,
    Visibility,
    Visit,
)

PASS_LABEL = "pass invité·e"
UNNAMED = "Invité·e"


def clean_name(typed: str) -> str:
    """A name as typed on a touch screen, fit to show: no control or format characters,
    spaces collapsed, at most 100 characters (nothing left: "Invité·e")."""
    return clean_text(typed)[:100] or UNNAMED


class GuestError(Refusal):
    """A guest's invitation that cannot be made as asked."""

    MESSAGES = {"past_day": N_("Aujourd'hui ou un jour à venir.")}


def hosts(session: Session) -> list[tuple[int, str]]:
    """The members a guest may name as host: those who agreed to be listed."""
    rows = session.execute(
        select(Member.id, Member.given_name, Member.family_name)
        .where(
            Member.host_consent_at.is_not(None),
            Member.is_guest.is_(False),
            Member.archived_at.is_(None),
            Member.erased_at.is_(None),
        )
        .order_by(Member.given_name, Member.family_name, Member.id)
    )
    return [(member_id, f"{given} {family}".strip()) for member_id, given, family in rows]


def _host(session: Session, host_id: int | None) -> Member | None:
    """The host, if they may still be named (a kiosk's list can be a few minutes old)."""
    if host_id is None:
        return None
    host = session.get(Member, host_id)
    listed = host is not None and host.host_consent_at is not None and not host.is_guest
    if not listed or host is None or host.archived_at or host.erased_at:
        return None
    return host


def _guest(session: Session, name: str, email: str | None) -> Member:
    """The guest of that e-mail who came before, else a new guest."""
    if email:
        known = session.scalar(select(Member).where(Member.email == email))
        if known is not None and known.is_guest and known.erased_at is None:
            return known
        if known is not None:
            email = None  # a member's address: never attach a guest to it
    guest = Member(
        given_name=name,
        display_name=name,
        email=email,
        is_guest=True,
        visibility=Visibility.HIDDEN,
    )
    session.add(guest)
    session.flush()
    return guest


def guest_day(
    session: Session,
    guest: Member,
    host: Member | None,
    site: Site,
    day: date,
    actor: str,
    now: datetime,
    private_key: bytes,
) -> GuestDay:
    """The guest's day at the site (made once) and its pass."""
    found = session.scalar(
        select(GuestDay).where(
            GuestDay.guest_id == guest.id, GuestDay.site_id == site.id, GuestDay.day == day
        )
    )
    if found is None:
        found = GuestDay(
            guest_id=guest.id,
            host_id=host.id if host else None,
            site_id=site.id,
            day=day,
            created_at=now,
            created_by=actor,
        )
        session.add(found)
    if found.badge_id is None:
        badge = issue_qr(session, guest, PASS_LABEL, now, private_key)
        badge.valid_on = day
        found.badge_id = badge.id
    session.flush()
    return found


def invite(
    session: Session,
    site: Site,
    day: date,
    name: str,
    email: str | None,
    host: Member | None,
    actor: str,
    now: datetime,
    private_key: bytes,
) -> GuestDay:
    """A guest invited ahead (staff): their day and its pass, to print or send."""
    if day < opening_hours(site).local_date(now):
        raise GuestError("past_day")
    guest = _guest(session, clean_name(name), email)
    return guest_day(session, guest, host, site, day, actor, now, private_key)


def record_arrival(session: Session, tap: IncomingTap, context: TapContext) -> TapResult:
    """A guest checking in at the kiosk: the guest, their day and pass (signed with the
    context's private key), and a check-in tap of that pass, kept in the log like any
    other."""
    kiosk, received_at = context.kiosk, context.received_at
    if context.keys is None or context.keys.private is None:
        raise ValueError("a guest's pass needs the badge private key to be signed")
    entry = kiosk_entry(
        tap,
        context,
        mode=KioskMode.IN,
        badge_kind=BadgeKind.QR,
        reason="guest_arrival",
    )
    arrival = tap.guest
    assert arrival is not None
    site = kiosk.site
    host = _host(session, arrival.host_id)
    guest = lock_member(session, _guest(session, clean_name(arrival.name), arrival.email).id)
    day = opening_hours(site).local_date(entry.occurred_at)
    actor = f"kiosk:{kiosk.name}"
    today = guest_day(session, guest, host, site, day, actor, received_at, context.keys.private)
    badge = session.get(Badge, today.badge_id)
    assert badge is not None
    entry.badge_value = token_of(session, badge, context.keys.private)
    entry.badge_hash, entry.badge_id, entry.member_id = badge.value_hash, badge.id, guest.id
    if arrival.host_id is not None and host is None:
        entry.reason = "guest_arrival_host_gone"
    return apply_entry(session, entry, guest, context.rules)


def record_departure(session: Session, tap: IncomingTap, context: TapContext) -> TapResult:
    """A guest leaving, named by the tap of their arrival: a check-out tap of their pass."""
    entry = kiosk_entry(
        tap,
        context,
        kind=TapKind.VOID,
        mode=KioskMode.OUT,
        badge_kind=BadgeKind.QR,
        reason="guest_departure",
    )
    assert tap.leaving is not None
    arrival = find_tap(session, tap.leaving)
    guest = (
        None
        if arrival is None or arrival.member_id is None
        else lock_member(session, arrival.member_id)
    )
    if arrival is None or guest is None or not guest.is_guest:
        return finish(session, entry, Outcome.INVALID, reason="unknown_guest")
    entry.kind = TapKind.BADGE
    entry.badge_value, entry.badge_hash = arrival.badge_value, arrival.badge_hash
    entry.badge_id, entry.member_id = arrival.badge_id, guest.id
    return apply_entry(session, entry, guest, context.rules)


def present_guests(session: Session, site_id: int, now: datetime) -> list[dict[str, str]]:
    """The guests at a site now, as the kiosk lists them for leaving: the tap of their
    arrival and their first name."""
    rows = session.execute(
        select(Tap.tap_id, Member.given_name)
        .join(Visit, Visit.in_tap_id == Tap.id)
        .join(Member, Member.id == Visit.member_id)
        .where(
            Visit.site_id == site_id,
            Visit.checked_out_at.is_(None),
            Visit.closes_at > now,
            Member.is_guest.is_(True),
        )
        .order_by(Member.given_name)
    )
    return [{"arrival": str(tap_id), "name": name} for tap_id, name in rows]


def became_member(guest: Member, now: datetime) -> None:
    """A guest joins: the same person, now a member; their guest days stay theirs."""
    if guest.is_guest:
        guest.is_guest, guest.became_member_at = False, now


def erase_past_guests(session: Session, now: datetime, keep_days: int) -> list[str | None]:
    """Erase the guests whose last day here is more than `keep_days` ago; the photo
    address each had (None for most), for the caller to delete once this is committed.

    People who came once have no reason to stay on file (the CNIL asks for a period):
    each is erased as `erase_member` does, and the audit log says so. A guest who became
    a member is a member, and is kept.
    """

    cutoff = (now - timedelta(days=keep_days)).date()
    last_day = select(func.max(GuestDay.day)).where(GuestDay.guest_id == Member.id)
    gone = session.scalars(
        select(Member).where(
            Member.is_guest, Member.erased_at.is_(None), last_day.scalar_subquery() < cutoff
        )
    ).all()
    photos = [guest.photo for guest in gone]
    for guest in gone:
        erase_member(session, guest, now)
        audit.record(
            session,
            now,
            "retention",
            "member.erase",
            f"member:{guest.id}",
            f"guest not seen for {keep_days} days",
        )
    return photos
