"""The audit trail in sentences: "Marie a corrigé le départ d'Anaïs Martin : 15h16 → 16h40".

An audit entry keeps codes (its action, a target such as `member:24`, details) for
programs and for the record; the staff page says each in words, in the reader's
language, with today's names: the staff member's name rather than their e-mail, the
member's full name, or "une personne effacée" once erased. French elides "de" before a
vowel ("d'Anaïs"), so a sentence naming a member that way has two messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.domain.refusals import N_
from server.store.models import AuditEntry, Member, StaffUser
from server.web.staff import local_time

VOWELS = frozenset("aeiouyàâäéèêëîïôöùûüœæAEIOUYÀÂÄÉÈÊËÎÏÔÖÙÛÜŒÆ")

#: action -> its sentence; (before a consonant, before a vowel) where French elides.
SENTENCES: dict[str, str | tuple[str, str]] = {
    "visit.check-in": N_("%(actor)s a enregistré une entrée pour %(member)s à %(after)s"),
    "visit.check-out": N_("%(actor)s a enregistré une sortie pour %(member)s à %(after)s"),
    "visit.start": (
        N_("%(actor)s a corrigé l'arrivée de %(member)s : %(before)s → %(after)s"),
        N_("%(actor)s a corrigé l'arrivée d'%(member)s : %(before)s → %(after)s"),
    ),
    "visit.end": (
        N_("%(actor)s a corrigé le départ de %(member)s : %(before)s → %(after)s"),
        N_("%(actor)s a corrigé le départ d'%(member)s : %(before)s → %(after)s"),
    ),
    "tap.remove": (
        N_("%(actor)s a retiré le passage de %(before)s de %(member)s"),
        N_("%(actor)s a retiré le passage de %(before)s d'%(member)s"),
    ),
    "member.create": N_("%(actor)s a inscrit %(member)s"),
    "member.import": N_("%(actor)s a importé des membres"),
    "member.edit": (
        N_("%(actor)s a modifié la fiche de %(member)s"),
        N_("%(actor)s a modifié la fiche d'%(member)s"),
    ),
    "member.plan": (
        N_("%(actor)s a changé la formule de %(member)s"),
        N_("%(actor)s a changé la formule d'%(member)s"),
    ),
    "member.join": N_("%(actor)s a passé %(member)s d'invité·e à membre"),
    "member.archive": N_("%(actor)s a archivé %(member)s"),
    "member.erase": N_("%(actor)s a effacé une personne (RGPD)"),
    "member.link_replace": (
        N_("%(actor)s a remplacé le lien personnel de %(member)s"),
        N_("%(actor)s a remplacé le lien personnel d'%(member)s"),
    ),
    "member.photo": (
        N_("%(actor)s a changé la photo de %(member)s"),
        N_("%(actor)s a changé la photo d'%(member)s"),
    ),
    "member.photo_remove": (
        N_("%(actor)s a retiré la photo de %(member)s"),
        N_("%(actor)s a retiré la photo d'%(member)s"),
    ),
    "badge.assign": N_("%(actor)s a donné un badge à %(member)s"),
    "badge.issue_qr": N_("%(actor)s a créé un badge QR pour %(member)s"),
    "badge.revoke": N_("%(actor)s a révoqué un badge"),
    "billing.close": N_("%(actor)s a clos un mois de facturation"),
    "billing.pack": N_("%(actor)s a enregistré l'achat d'un carnet pour %(member)s"),
    "invoice.payment": N_("%(actor)s a enregistré un paiement"),
    "invoice.credit_note": N_("%(actor)s a émis un avoir"),
    "guest.invite": N_("%(actor)s a enregistré un·e invité·e"),
    "event.add": N_("%(actor)s a ajouté un événement"),
    "event.walk_in": N_("%(actor)s a inscrit une personne venue sans billet"),
    "announcement.publish": N_("%(actor)s a publié une annonce"),
    "kiosk.add": N_("%(actor)s a ajouté une borne"),
    "kiosk.edit": N_("%(actor)s a modifié une borne"),
    "kiosk.rotate_token": N_("%(actor)s a renouvelé le jeton d'une borne"),
    "staff.add": N_("%(actor)s a ajouté un compte d'équipe"),
    "staff.reset": N_("%(actor)s a donné un nouveau mot de passe à %(staff)s"),
    "staff.disable": N_("%(actor)s a désactivé un compte d'équipe (%(staff)s)"),
    "staff.enable": N_("%(actor)s a réactivé un compte d'équipe (%(staff)s)"),
    "staff.password": N_("%(actor)s a changé son mot de passe"),
    "webhook.disable": N_("%(actor)s a mis un webhook en pause"),
    "webhook.enable": N_("%(actor)s a réactivé un webhook"),
    "announcement.decline": N_("%(actor)s a refusé une annonce"),
    "announcement.withdraw": N_("%(actor)s a retiré une annonce"),
    "webhook.add": N_("%(actor)s a ajouté un webhook"),
    "api_token.create": N_("%(actor)s a créé un jeton d'API"),
    "api_token.revoke": N_("%(actor)s a révoqué un jeton d'API"),
}


@dataclass(frozen=True)
class Line:
    """One entry of the trail as the page shows it."""

    at: datetime
    sentence: str
    reason: str


def lines(session: Session, entries: Sequence[AuditEntry], home_zone: str) -> list[Line]:
    """The entries in words (one query for the staff names, one for the members); times
    in the zone the entry names, else the home site's."""
    actors = {entry.actor for entry in entries}
    staff_ids = {_target_id(entry.target, "staff") for entry in entries} - {None}
    users = session.scalars(
        select(StaffUser).where(StaffUser.email.in_(actors) | StaffUser.id.in_(staff_ids))
    ).all()
    staff = {user.email: user.name for user in users}
    colleagues = {user.id: user.name for user in users}
    member_ids = {_target_id(entry.target, "member") for entry in entries} - {None}
    members = {
        member.id: member
        for member in session.scalars(select(Member).where(Member.id.in_(member_ids)))
    }
    return [_line(entry, staff, colleagues, members, home_zone) for entry in entries]


def _line(
    entry: AuditEntry,
    staff: dict[str, str],
    colleagues: dict[int, str],
    members: dict[int, Member],
    home_zone: str,
) -> Line:
    member_id = _target_id(entry.target, "member")
    colleague = _target_id(entry.target, "staff")
    member = members.get(member_id) if member_id is not None else None
    if member is None or member.erased_at is not None:
        name = _("une personne effacée") if member is not None else entry.target
    else:
        name = " ".join(part for part in (member.given_name, member.family_name) if part)
    details = entry.details or {}
    zone = details.get("zone") or home_zone
    values = {
        "actor": staff.get(entry.actor) or entry.actor,
        "member": name,
        "staff": colleagues.get(colleague, entry.target) if colleague else entry.target,
        "before": _time(details.get("before"), zone),
        "after": _time(details.get("after") or details.get("when"), zone),
    }
    sentence = SENTENCES.get(entry.action)
    if sentence is None:
        return Line(
            entry.at, f"{values['actor']} : {entry.action} {entry.target}".strip(), entry.reason
        )
    if isinstance(sentence, tuple):
        sentence = sentence[1] if name[:1] in VOWELS else sentence[0]
    return Line(entry.at, _(sentence) % values, entry.reason)


def _target_id(target: str, kind: str) -> int | None:
    """The id in a target such as "member:24", if it is of that kind."""
    found, _sep, number = target.partition(":")
    return int(number) if found == kind and number.isdigit() else None


def _time(text: str | None, zone: str) -> str:
    if not text:
        return "?"
    return local_time(datetime.fromisoformat(text), zone)
