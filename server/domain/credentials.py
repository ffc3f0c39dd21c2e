"""Badges as credentials: signed QR badges issued, re-issued and revoked, tokens checked,
and the unknown NFC badges waiting to be enrolled."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from badges.cards import Card, cards_pdf
from badges.lookup import value_hash
from badges.tokens import BadgeToken, TokenError, sign, verify
from server.domain.refusals import N_, Refusal
from server.settings import CardsSection
from server.store.db import lookup_key
from server.store.models import Badge, BadgeKind, Kiosk, Member, Outcome, Site, Tap


class TokenRefused(Refusal):
    """A well-signed or forged token that opens nothing; `outcome` and `code` are what
    the tap log and the kiosk get (the codes of badges.tokens.TokenError, and ours)."""

    MESSAGES = {
        "malformed": N_("Ce code n'est pas un badge de Présence."),
        "unknown_key": N_("Ce badge a été signé par une autre installation."),
        "bad_signature": N_("Ce badge a été modifié ou contrefait."),
        "unknown_badge": N_("Ce badge est inconnu."),
        "replaced": N_("Ce badge a été remplacé par un plus récent."),
        "revoked": N_("Ce badge a été révoqué."),
    }

    def __init__(self, outcome: Outcome, code: str, badge: Badge | None = None) -> None:
        super().__init__(code)
        self.outcome, self.badge = outcome, badge


def issue_qr(
    session: Session, member: Member, label: str, now: datetime, private_key: bytes
) -> Badge:
    """A new QR badge for a member; its value is its signed token (`badge.value`, in
    memory: only its hash is stored, and `token_of` makes it again)."""
    badge = Badge(member_id=member.id, label=label, issued_at=now, version=1)
    # a placeholder until the id the token signs is known
    badge.set_value(lookup_key(session), BadgeKind.QR, f"unsigned-{uuid.uuid4()}")
    session.add(badge)
    session.flush()
    badge.set_value(
        lookup_key(session), BadgeKind.QR, sign(private_key, BadgeToken(badge.id, badge.version))
    )
    session.flush()
    return badge


def reissue_qr(session: Session, badge: Badge, private_key: bytes) -> str:
    """A new card for the same badge (lost, reprinted): the previous one stops working."""
    if badge.kind is not BadgeKind.QR:
        raise ValueError("only QR badges are re-issued; give an NFC member a new badge")
    badge.version += 1
    token = sign(private_key, BadgeToken(badge.id, badge.version))
    badge.set_value(lookup_key(session), BadgeKind.QR, token)
    return token


def token_of(session: Session, badge: Badge, private_key: bytes) -> str | None:
    """A QR badge's token, signed again (tokens are deterministic); None for a badge
    that is not one of our signed tokens (an NFC UID, a QR code of another system)."""
    if badge.kind is not BadgeKind.QR:
        return None
    token = sign(private_key, BadgeToken(badge.id, badge.version))
    return token if hash_value(session, badge.kind, token) == badge.value_hash else None


def hash_value(session: Session, kind: BadgeKind, value: str) -> str:
    """What the database keeps of the normalised badge `value` (see badges.lookup)."""
    return value_hash(lookup_key(session), kind.value, value)


def revoke(badge: Badge, now: datetime) -> None:
    """The badge stops opening anything at its next tap (and offline, at the kiosk's next
    directory refresh); its taps and the member's visits stay."""
    badge.revoked_at = badge.revoked_at or now


def printable_badges(
    session: Session, private_key: bytes, member_ids: Sequence[int] | None = None
) -> list[tuple[Badge, Card]]:
    """The active QR badges to print (of these members, else of every active member)."""
    query = (
        select(Badge)
        .join(Member, Badge.member_id == Member.id)
        .where(
            Badge.kind == BadgeKind.QR,
            Badge.revoked_at.is_(None),
            Member.archived_at.is_(None),
        )
        .order_by(Member.family_name, Member.given_name, Badge.id)
    )
    if member_ids is not None:
        query = query.where(Badge.member_id.in_(member_ids))
    printable = []
    for badge in session.scalars(query):
        token = token_of(session, badge, private_key)
        if token is not None:  # a QR code of another system cannot be printed again
            name = f"{badge.member.given_name} {badge.member.family_name}".strip()
            printable.append((badge, Card(name, badge.label, token)))
    return printable


def cards_sheet(session: Session, section: CardsSection, cards: Sequence[Card]) -> bytes:
    """The PDF of A4 pages of cards, titled as configured (else the first site's name)."""
    title = section.title or session.scalar(select(Site.name).order_by(Site.id)) or ""
    return cards_pdf(cards, title, Path(section.logo) if section.logo else None)


def check_token(session: Session, token: str, public_key: bytes) -> Badge:
    """The badge a QR token opens, or TokenRefused with its reason:
    `malformed`, `unknown_key`, `bad_signature` (invalid); `replaced`, `revoked`."""
    try:
        named = verify(public_key, token)
    except TokenError as error:
        raise TokenRefused(Outcome.INVALID, error.reason) from None
    badge = session.get(Badge, named.badge_id)
    if badge is None or badge.kind is not BadgeKind.QR:
        raise TokenRefused(Outcome.UNKNOWN_BADGE, "unknown_badge")
    if named.version < badge.version:
        raise TokenRefused(Outcome.REVOKED, "replaced", badge)
    if badge.revoked_at is not None:
        raise TokenRefused(Outcome.REVOKED, "revoked", badge)
    return badge


@dataclass(frozen=True)
class UnknownBadge:
    """A badge value tapped at a kiosk that belongs to nobody yet."""

    kind: str
    value: str
    taps: int
    first_at: datetime
    last_at: datetime
    kiosk: str


def unknown_badges(session: Session, since: datetime) -> Sequence[UnknownBadge]:
    """Unknown badges tapped since `since` that are still nobody's, latest first."""
    rows = session.execute(
        select(
            Tap.badge_kind,
            Tap.badge_value,
            func.count(),
            func.min(Tap.received_at),
            func.max(Tap.received_at),
            func.max(Kiosk.name),
        )
        .join(Kiosk, Tap.kiosk_id == Kiosk.id)
        .where(Tap.outcome == Outcome.UNKNOWN_BADGE, Tap.received_at >= since)
        .group_by(Tap.badge_kind, Tap.badge_value)
        .order_by(func.max(Tap.received_at).desc())
    ).all()
    hashes = {
        (kind, value): hash_value(session, kind, value)
        for kind, value, *_ in rows
        if kind is not None and value is not None
    }
    assigned = set(
        session.scalars(
            select(Badge.value_hash).where(
                Badge.value_hash.in_(list(hashes.values())), Badge.revoked_at.is_(None)
            )
        )
    )
    return [
        UnknownBadge(kind.value, value, int(count), first, last, kiosk)
        for kind, value, count, first, last, kiosk in rows
        if kind is not None and value is not None and hashes[kind, value] not in assigned
    ]
