"""The staff accounts: admins add colleagues (a first password shown once), reset a
password, disable an account; everyone changes their own password. A password change
ends every session opened with the old one (see auth.StaffLogin.marker)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import EmailField, SelectField, StringField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import DataRequired, Length, Regexp

from server.domain import audit
from server.domain.staff import (
    StaffError,
    add_staff,
    new_password,
    set_password,
)
from server.i18n import refusal_text
from server.limits import limiter
from server.runtime import runtime
from server.store.models import StaffRole, StaffUser
from server.web.staff import actor, admin_only, blp
from server.web.staff.auth import (
    LOGIN_LIMITS,
    PasswordForm,
    StaffLogin,
    check_password,
)

ROLES = [
    SelectChoice(StaffRole.STAFF.value, _l("Équipe (accueil, membres, corrections)")),
    SelectChoice(StaffRole.ADMIN.value, _l("Administration (et bornes, effacements, comptes)")),
]


class AccountForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(
        _l("E-mail"),
        validators=[
            DataRequired(),
            Length(max=254),
            Regexp(r"^[^@\s]+@[^@\s]+$", message=_l("Une adresse e-mail, avec son @.")),
        ],
    )
    name = StringField(_l("Nom"), validators=[DataRequired(), Length(max=100)])
    role = SelectField(_l("Rôle"), choices=ROLES, default=StaffRole.STAFF.value)


def _handed_over(user: StaffUser, password: str) -> str:
    return render_template("staff/password_once.html", user=user, password=password)


@blp.route("/team", methods=["GET", "POST"])
@admin_only
def team() -> str:
    app = runtime()
    form = AccountForm()
    if form.validate_on_submit():
        password = new_password()
        try:
            with app.transaction() as session:
                user = add_staff(
                    session,
                    form.email.data or "",
                    form.name.data or "",
                    StaffRole(form.role.data),
                    password,
                    app.now(),
                )
                audit.record(
                    session,
                    app.now(),
                    actor(),
                    "staff.add",
                    f"staff:{user.id}",
                    role=user.role.value,
                )
                return _handed_over(user, password)
        except StaffError as error:
            flash(refusal_text(error), "problem")
    with app.session() as session:
        users = session.scalars(select(StaffUser).order_by(StaffUser.name)).all()
        return render_template("staff/team.html", users=users, form=form)


@blp.post("/team/<int:user_id>/<any('reset', 'disable', 'enable'):action>")
@admin_only
def account_action(user_id: int, action: str) -> Response | str:
    """Reset a colleague's password (shown once), or disable / enable their account."""
    app = runtime()
    now = app.now()
    with app.transaction() as session:
        user = session.get(StaffUser, user_id)
        if user is None:
            abort(404)
        if user.id == current_user.id and action != "enable":
            flash(_("Pas sur votre propre compte : demandez à un autre administrateur."), "problem")
            return redirect(url_for("staff.team"))
        audit.record(session, now, actor(), f"staff.{action}", f"staff:{user.id}")
        if action == "reset":
            password = new_password()
            set_password(user, password)
            return _handed_over(user, password)
        user.disabled_at = now if action == "disable" else None
    flash(_("Compte désactivé.") if action == "disable" else _("Compte réactivé."), "saved")
    return redirect(url_for("staff.team"))


def _own_account() -> str:
    return f"password:{current_user.id}"


@blp.route("/password", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMITS, methods=["POST"], key_func=_own_account)
def password() -> Response | tuple[str, int]:
    """Change one's own password: the other sessions end, this one goes on."""
    form = PasswordForm()
    status = 200
    if form.validate_on_submit():
        if check_password(current_user.email, form.current.data or "") is None:
            flash(_("Le mot de passe actuel n'est pas le bon."), "problem")
            status = 400
        else:
            app = runtime()
            with app.transaction() as session:
                user = session.get(StaffUser, current_user.id)
                if user is None:
                    abort(404)
                set_password(user, form.new.data or "")
                audit.record(session, app.now(), actor(), "staff.password", f"staff:{user.id}")
                login_user(StaffLogin.of(user))
            flash(_("Mot de passe changé : vos autres sessions sont fermées."), "saved")
            return redirect(url_for("staff.dashboard"))
    elif form.errors:
        status = 400
    return render_template("staff/password.html", form=form), status
