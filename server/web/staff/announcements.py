"""Announcements (staff): post one, publish or decline what members propose, take one
down before its end."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import DateField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import DataRequired, Length

from server.domain import audit
from server.domain.announcements import (
    MAX_LENGTH,
    AnnouncementError,
    current,
    decide,
    proposals,
    publish,
    withdraw,
)
from server.domain.sites import home_zone, local_today
from server.i18n import refusal_text
from server.runtime import runtime
from server.store.models import Announcement, Site
from server.web.staff import actor, blp


class AnnouncementForm(FlaskForm):  # type: ignore[misc]
    text = TextAreaField(_l("Annonce"), validators=[DataRequired(), Length(max=MAX_LENGTH)])
    until = DateField(_l("Affichée jusqu'au (inclus)"), validators=[DataRequired()])
    site = SelectField(_l("Lieu"), default="")


def end_of(day: date, zone: ZoneInfo) -> datetime:
    """The end of a local day (the start of the next) as an instant."""
    return datetime.combine(day + timedelta(days=1), time(0), zone)


@blp.route("/announcements", methods=["GET", "POST"])
def announcements() -> str | Response:
    app = runtime()
    now = app.now()
    form = AnnouncementForm()
    with app.transaction() as session:
        sites = session.scalars(select(Site).order_by(Site.name)).all()
        form.site.choices = [SelectChoice("", _("Tous les lieux"))] + [
            SelectChoice(str(site.id), site.name) for site in sites
        ]
        if form.until.data is None:
            form.until.data = local_today(session, now) + timedelta(days=7)
        if form.validate_on_submit():
            until = end_of(form.until.data, home_zone(session))
            site_id = int(form.site.data) if form.site.data else None
            try:
                note = publish(session, form.text.data or "", until, site_id, actor(), now)
            except AnnouncementError as error:
                form.text.errors = [*form.text.errors, refusal_text(error)]
            else:
                audit.record(
                    session, now, actor(), "announcement.publish", f"announcement:{note.id}"
                )
                flash(_("Annonce publiée."), "saved")
                return redirect(url_for("staff.announcements"))
        return render_template(
            "staff/announcements.html",
            form=form,
            shown=current(session, now),
            proposed=proposals(session, now),
            sites={site.id: site.name for site in sites},
            zone=str(home_zone(session)),
        )


@blp.post("/announcements/<int:note_id>/<any('publish', 'decline', 'withdraw'):action>")
def announcement_action(note_id: int, action: str) -> Response:
    app = runtime()
    now = app.now()
    if not FlaskForm().validate_on_submit():
        abort(400)
    with app.transaction() as session:
        note = session.get(Announcement, note_id)
        if note is None:
            abort(404)
        if action == "withdraw":
            withdraw(note, now)
        else:
            decide(note, action == "publish", actor(), now)
        audit.record(session, now, actor(), f"announcement.{action}", f"announcement:{note.id}")
    return redirect(url_for("staff.announcements"))
