"""Guests (staff): invite someone for a day (a pass to print or send), and see who is
expected."""

from __future__ import annotations

from flask import flash, redirect, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import DateField, EmailField, SelectField, StringField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import DataRequired, Email, Length, Optional

from server.domain import audit
from server.domain.guests import GuestError, hosts, invite
from server.domain.sites import local_today
from server.i18n import refusal_text
from server.runtime import runtime
from server.store.models import GuestDay, Member, Site
from server.web.passes import mail_pass, pass_link
from server.web.staff import actor, blp


class InviteForm(FlaskForm):  # type: ignore[misc]
    name = StringField(_l("Prénom de l'invité·e"), validators=[DataRequired(), Length(max=100)])
    email = EmailField(
        _l("Son e-mail (pour lui envoyer le pass, facultatif)"),
        validators=[Optional(), Email(), Length(max=254)],
    )
    day = DateField(_l("Le jour"), validators=[DataRequired()])
    site = SelectField(_l("Lieu"), coerce=int)
    host = SelectField(_l("Son hôte"), coerce=int, default=0)


@blp.route("/guests", methods=["GET", "POST"])
def guests() -> str | Response:
    app = runtime()
    now = app.now()
    form = InviteForm()
    with app.transaction() as session:
        sites = session.scalars(select(Site).order_by(Site.name)).all()
        form.site.choices = [SelectChoice(site.id, site.name) for site in sites]
        form.host.choices = [SelectChoice(0, _("la Cantine"))] + [
            SelectChoice(host_id, name) for host_id, name in hosts(session)
        ]
        today = local_today(session, now)
        if form.day.data is None:
            form.day.data = today
        if form.validate_on_submit():
            site = next(site for site in sites if site.id == form.site.data)
            host = session.get(Member, form.host.data) if form.host.data else None
            email = (form.email.data or "").strip().lower() or None
            try:
                invited = invite(
                    session,
                    site,
                    form.day.data,
                    form.name.data or "",
                    email,
                    host,
                    actor(),
                    now,
                    app.badge_private_key,
                )
            except GuestError as error:
                form.day.errors = [*form.day.errors, refusal_text(error)]
            else:
                if email and app.settings.mail.host:
                    mail_pass(session, invited, email, now)
                audit.record(
                    session,
                    now,
                    actor(),
                    "guest.invite",
                    f"member:{invited.guest_id}",
                    day=invited.day.isoformat(),
                )
                flash(_("Invitation enregistrée : le pass est prêt."), "saved")
                return redirect(pass_link(invited))
        expected = session.scalars(
            select(GuestDay).where(GuestDay.day >= today).order_by(GuestDay.day, GuestDay.id)
        ).all()
        return render_template(
            "staff/guests.html",
            form=form,
            expected=expected,
            links={day.id: pass_link(day) for day in expected},
        )
