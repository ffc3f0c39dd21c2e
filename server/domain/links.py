"""Signed links that let a member act on their own data without an account."""

from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

#: How long a link printed or e-mailed to a member keeps working.
LINK_DAYS = 30


class LinkError(Exception):
    """A link that cannot be used; `expired` tells an old link from a forged one."""

    def __init__(self, expired: bool) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="presence.member-link")


def make_member_token(secret: str, member_id: int) -> str:
    return _serializer(secret).dumps({"member": member_id})


def read_member_token(secret: str, token: str, max_age_days: int = LINK_DAYS) -> int:
    """The member id a link was made for, or LinkError."""
    try:
        data = _serializer(secret).loads(token, max_age=max_age_days * 86400)
    except SignatureExpired:
        raise LinkError(expired=True) from None
    except BadSignature:
        raise LinkError(expired=False) from None
    member = data.get("member") if isinstance(data, dict) else None
    if not isinstance(member, int):
        raise LinkError(expired=False)
    return member
