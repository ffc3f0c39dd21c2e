"""Signed links that let a member act on their own data without an account."""

from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from server.domain.refusals import N_, Refusal

#: How long a link printed or e-mailed to a member keeps working.
LINK_DAYS = 30


class LinkError(Refusal):
    """A member's link that cannot be used: too old, or forged or cut short."""

    MESSAGES = {
        "link_expired": N_("Ce lien a expiré. Demandez-en un nouveau à l'accueil."),
        "link_invalid": N_(
            "Ce lien n'est pas valide. Vérifiez qu'il est complet, ou demandez-en un à l'accueil."
        ),
    }

    @property
    def expired(self) -> bool:
        return self.code == "link_expired"


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="presence.member-link")


def make_member_token(secret: str, member_id: int) -> str:
    return _serializer(secret).dumps({"member": member_id})


def read_member_token(secret: str, token: str, max_age_days: int = LINK_DAYS) -> int:
    """The member id a link was made for, or LinkError."""
    try:
        data = _serializer(secret).loads(token, max_age=max_age_days * 86400)
    except SignatureExpired:
        raise LinkError("link_expired") from None
    except BadSignature:
        raise LinkError("link_invalid") from None
    member = data.get("member") if isinstance(data, dict) else None
    if not isinstance(member, int):
        raise LinkError("link_invalid")
    return member
