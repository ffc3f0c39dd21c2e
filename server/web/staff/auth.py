"""Staff log in with e-mail and password (Argon2id); sessions end on logout or when the
password changes; login attempts are rate-limited per address and per account."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from argon2.exceptions import InvalidHashError, VerificationError
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_limiter.errors import RateLimitExceeded
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from server.domain.staff import MIN_PASSWORD_LENGTH, hasher
from server.limits import limiter
from server.runtime import runtime
from server.store.models import StaffRole, StaffUser
from server.web.staff import blp, login_manager

#: A hash to verify against when the e-mail is unknown: the answer takes as long.
_DUMMY_HASH = hasher.hash("not a password of anyone here")
LOGIN_LIMITS = "5 per minute; 30 per hour"


@dataclass(frozen=True)
class StaffLogin:
    """The logged-in staff member, as Flask-Login sees them (no database object)."""

    id: int
    email: str
    name: str
    role: StaffRole
    marker: str  # changes at logout and with the password: older sessions stop working

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return f"{self.id}.{self.marker}"

    @property
    def is_admin(self) -> bool:
        return self.role is StaffRole.ADMIN

    @classmethod
    def of(cls, user: StaffUser) -> StaffLogin:
        marker = hashlib.sha256(
            f"{user.session_generation}:{user.password_hash}".encode()
        ).hexdigest()[:16]
        return cls(user.id, user.email, user.name, user.role, marker)


@login_manager.user_loader
def load_user(session_id: str) -> StaffLogin | None:
    user_id, _, marker = session_id.partition(".")
    if not user_id.isdigit():
        return None
    with runtime().session() as session:
        user = session.get(StaffUser, int(user_id))
        if user is None or user.disabled_at is not None:
            return None
        login = StaffLogin.of(user)
    return login if login.marker == marker else None


class LoginForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Mot de passe"), validators=[DataRequired(), Length(max=1024)])


def _account_key() -> str:
    return "account:" + (request.form.get("email") or "").strip().lower()


def check_password(email: str, password: str) -> StaffLogin | None:
    """The staff member with these credentials, else None (in about the same time)."""
    with runtime().session() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.email == email.strip().lower()))
        stored = user.password_hash if user is not None else _DUMMY_HASH
        try:
            hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None or user.disabled_at is not None:
            return None
        return StaffLogin.of(user)


@blp.route("/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMITS, methods=["POST"])
@limiter.limit(LOGIN_LIMITS, methods=["POST"], key_func=_account_key)
def login() -> Response | tuple[str, int]:
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        found = check_password(form.email.data or "", form.password.data or "")
        if found is not None:
            login_user(found)
            target = request.args.get("next", "")
            # Only a path of ours: never send a fresh login to another site.
            if not (target.startswith("/staff") and "//" not in target):
                target = url_for("staff.dashboard")
            return redirect(target)
        flash(_("E-mail ou mot de passe incorrect."), "problem")
        status = 401
    elif request.method == "POST":
        status = 400
    return render_template("staff/login.html", form=form), status


class PasswordForm(FlaskForm):  # type: ignore[misc]
    current = PasswordField(_l("Mot de passe actuel"), validators=[DataRequired()])
    new = PasswordField(
        _l("Nouveau mot de passe (au moins %(num)d caractères)", num=MIN_PASSWORD_LENGTH),
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=1024)],
    )
    again = PasswordField(
        _l("Le nouveau mot de passe, encore"),
        validators=[DataRequired(), EqualTo("new", message=_l("Les deux ne sont pas égaux."))],
    )


@blp.errorhandler(RateLimitExceeded)
def too_many(error: RateLimitExceeded) -> tuple[str, int]:
    """Too many guesses, at the log-in or at one's current password."""
    if request.endpoint == "staff.password":
        flash(_("Trop d'essais : attendez une minute avant de réessayer."), "problem")
        return render_template("staff/password.html", form=PasswordForm()), 429
    flash(_("Trop de tentatives de connexion : attendez une minute avant de réessayer."), "problem")
    return render_template("staff/login.html", form=LoginForm()), 429


@blp.post("/logout")
def logout() -> Response:
    """End every session of this account, on the server too: a copy of the cookie made
    before (a shared computer, a stolen cookie) opens nothing after."""
    # CSRFProtect has checked the form's token.
    if current_user.is_authenticated:
        with runtime().transaction() as session:
            user = session.get(StaffUser, current_user.id)
            if user is not None:
                user.session_generation += 1
    logout_user()
    flash(_("Vous êtes déconnecté·e."), "saved")
    return redirect(url_for("staff.login"))
