"""API tokens (admins): what integrations read the API with (visits, members,
statements). A new token is shown once; revoking one refuses its next request. Both
are in the audit trail."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from server.domain import audit
from server.domain.api_tokens import all_tokens, issue_token, revoke_token
from server.domain.sites import home_zone
from server.runtime import runtime
from server.store.models import ApiToken
from server.web.staff import actor, admin_only, blp


class ApiTokenForm(FlaskForm):  # type: ignore[misc]
    name = StringField(
        _l("Nom (à quoi sert ce jeton, qui l'utilise)"),
        validators=[DataRequired(), Length(max=100)],
    )


@blp.route("/api-tokens", methods=["GET", "POST"])
@admin_only
def api_tokens() -> str:
    """The tokens, and the form that makes one: its token is shown here, once."""
    app = runtime()
    now = app.now()
    form = ApiTokenForm()
    new_token = None
    if form.validate_on_submit():
        with app.transaction() as session:
            row, new_token = issue_token(session, (form.name.data or "").strip(), actor(), now)
            audit.record(
                session,
                now,
                actor(),
                "api_token.create",
                f"api_token:{row.id}",
                name=row.name,
                scope=row.scope.value,
            )
        form = ApiTokenForm(formdata=None)
    with app.session() as session:
        return render_template(
            "staff/api_tokens.html",
            form=form,
            tokens=all_tokens(session),
            token=new_token,
            zone=str(home_zone(session)),
        )


@blp.post("/api-tokens/<int:token_id>/revoke")
@admin_only
def api_token_revoke(token_id: int) -> Response:
    """Revoke a token: the integration using it is refused from its next request."""
    app = runtime()
    if not FlaskForm().validate_on_submit():
        abort(400)
    with app.transaction() as session:
        row = session.get(ApiToken, token_id)
        if row is None:
            abort(404)
        if row.revoked_at is None:
            revoke_token(row, actor(), app.now())
            audit.record(
                session,
                app.now(),
                actor(),
                "api_token.revoke",
                f"api_token:{row.id}",
                name=row.name,
            )
        name = row.name
    flash(_("Jeton « %(name)s » révoqué : il n'ouvre plus rien.", name=name), "saved")
    return redirect(url_for("staff.api_tokens"))
