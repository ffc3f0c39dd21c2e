"""Staff accounts; passwords are hashed with Argon2id (argon2-cffi's RFC 9106 defaults)."""

from __future__ import annotations

import secrets
from datetime import datetime

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.domain.refusals import N_, Refusal
from server.store.models import StaffRole, StaffUser

hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 12


class StaffError(Refusal):
    """A staff account or password that cannot be made as asked."""

    MESSAGES = {
        "short_password": N_("Le mot de passe a au moins %(num)d caractères."),
        "bad_email": N_("« %(email)s » n'est pas une adresse e-mail."),
        "email_taken": N_("Cette adresse a déjà un compte."),
    }


def check_length(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError("short_password", num=MIN_PASSWORD_LENGTH)


def new_password() -> str:
    """A password to hand over once (about 100 bits), for a new account or a reset."""
    return secrets.token_urlsafe(16)


def set_password(user: StaffUser, password: str) -> None:
    """Change a password; every session opened with the old one stops working."""
    check_length(password)
    user.password_hash = hasher.hash(password)
    user.session_generation = (user.session_generation or 0) + 1


def add_staff(
    session: Session, email: str, name: str, role: StaffRole, password: str, now: datetime
) -> StaffUser:
    email = email.strip().lower()
    if "@" not in email:
        raise StaffError("bad_email", email=email)
    check_length(password)
    if session.scalar(select(StaffUser).where(StaffUser.email == email)) is not None:
        raise StaffError("email_taken")
    user = StaffUser(
        email=email, name=name, role=role, password_hash=hasher.hash(password), created_at=now
    )
    session.add(user)
    session.flush()
    return user
