"""Staff accounts; passwords are hashed with Argon2id (argon2-cffi's RFC 9106 defaults)."""

from __future__ import annotations

import secrets
from datetime import datetime

from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.store.models import StaffRole, StaffUser

hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 12


class StaffError(ValueError):
    """A staff account that cannot be created as asked."""


def check_length(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")


def new_password() -> str:
    """A password to hand over once (about 100 bits), for a new account or a reset."""
    return secrets.token_urlsafe(16)


def set_password(user: StaffUser, password: str) -> None:
    """Change a password; every session opened with the old one stops working."""
    check_length(password)
    user.password_hash = hasher.hash(password)


def add_staff(
    session: Session, email: str, name: str, role: StaffRole, password: str, now: datetime
) -> StaffUser:
    email = email.strip().lower()
    if "@" not in email:
        raise StaffError(f"{email!r} is not an e-mail address")
    check_length(password)
    if session.scalar(select(StaffUser).where(StaffUser.email == email)) is not None:
        raise StaffError(f"{email} already has an account")
    user = StaffUser(
        email=email, name=name, role=role, password_hash=hasher.hash(password), created_at=now
    )
    session.add(user)
    session.flush()
    return user
