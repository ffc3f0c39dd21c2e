"""Signed links that let a member act on their own data without an account.

A link names the member and their link generation: staff replacing a member's link raise
the generation, so the links given before stop working at once (not only after
`LINK_DAYS`)."""

from __future__ import annotations

from typing import NamedTuple

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from server.domain.refusals import N_, Refusal
from server.store.models import Member

#: How long a link printed or e-mailed to a member keeps working.
LINK_DAYS = 30


class LinkError(Refusal):
    """A member's link that cannot be used: too old, or forged or cut short."""

    MESSAGES = {
        "link_expired": N_("Ce lien a expiré. Demandez-en un nouveau à l'accueil."),
        "link_invalid": N_(
            "Ce lien n'est pas valide. Vérifiez qu'il est complet, ou demandez-en un à l'accueil."
        ),
        "link_replaced": N_(
            "Ce lien a été remplacé par un nouveau : utilisez le dernier lien reçu, ou "
            "demandez-en un à l'accueil."
        ),
    }

    @property
    def expired(self) -> bool:
        return self.code == "link_expired"

    @property
    def replaced(self) -> bool:
        return self.code == "link_replaced"


class MemberLink(NamedTuple):
    member_id: int
    generation: int


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="presence.member-link")


def make_member_token(secret: str, member_id: int, generation: int = 0) -> str:
    """A member's link key; links of generation 0 (the first) name the member only."""
    data: dict[str, int] = {"member": member_id}
    if generation:
        data["generation"] = generation
    return _serializer(secret).dumps(data)


def read_member_link(secret: str, token: str, max_age_days: int = LINK_DAYS) -> MemberLink:
    """The member and generation a link was made for, or LinkError."""
    try:
        data = _serializer(secret).loads(token, max_age=max_age_days * 86400)
    except SignatureExpired:
        raise LinkError("link_expired") from None
    except BadSignature:
        raise LinkError("link_invalid") from None
    member = data.get("member") if isinstance(data, dict) else None
    generation = data.get("generation", 0) if isinstance(data, dict) else None
    if not isinstance(member, int) or not isinstance(generation, int):
        raise LinkError("link_invalid")
    return MemberLink(member, generation)


def read_member_token(secret: str, token: str, max_age_days: int = LINK_DAYS) -> int:
    """The member id a link was made for, or LinkError."""
    return read_member_link(secret, token, max_age_days).member_id


def check_current(member: Member, link: MemberLink) -> None:
    """LinkError unless `link` is the member's latest link."""
    if link.generation != member.link_generation:
        raise LinkError("link_replaced")


def replace_member_link(member: Member) -> None:
    """Make the member's links given so far stop working; the next one made works."""
    member.link_generation = (member.link_generation or 0) + 1
