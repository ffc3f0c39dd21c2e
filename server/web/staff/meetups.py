"""Events (staff): create them, see who registered and who came, add a walk-in."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from server.domain import audit
from server.domain.meetups import EventError, add_event, attendance, register
from server.i18n import refusal_text
from server.runtime import runtime
from server.store.models import Event, Site, Ticket
from server.web.staff import actor, blp

BROUGHT_BY_NAMES = {
    "partner": _l("un partenaire"),
    "community": _l("une communauté"),
    "cantine": _l("la Cantine"),
}


class EventForm(FlaskForm):  # type: ignore[misc]
    title = StringField(_l("Titre"), validators=[DataRequired(), Length(max=200)])
    site = SelectField(_l("Lieu"))
    starts_at = DateTimeLocalField(
        _l("Début"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()]
    )
    ends_at = DateTimeLocalField(_l("Fin"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()])
    brought_by = SelectField(
        _l("Proposé par"),
        choices=[SelectChoice(value, label) for value, label in BROUGHT_BY_NAMES.items()],
        default="cantine",
    )
    open_to_all = BooleanField(
        _l("Ouvert à toutes et à tous (page publique, agenda iCal)"), default=True
    )
    capacity = IntegerField(
        _l("Places (facultatif)"), validators=[Optional(), NumberRange(min=1, max=100_000)]
    )
    description = TextAreaField(_l("Description"), validators=[Length(max=4000)])


class WalkInForm(FlaskForm):  # type: ignore[misc]
    name = StringField(_l("Nom"), validators=[DataRequired(), Length(max=100)])


def _sites() -> list[Site]:
    with runtime().session() as session:
        return list(session.scalars(select(Site).order_by(Site.name)))


@blp.route("/events", methods=["GET", "POST"])
def events() -> str | Response:
    app = runtime()
    sites = _sites()
    form = EventForm()
    form.site.choices = [SelectChoice(str(site.id), site.name) for site in sites]
    if form.validate_on_submit():
        site = next(s for s in sites if str(s.id) == form.site.data)
        zone = ZoneInfo(site.timezone)
        assert form.starts_at.data is not None and form.ends_at.data is not None
        starts = form.starts_at.data.replace(tzinfo=zone)
        ends = form.ends_at.data.replace(tzinfo=zone)
        try:
            with app.transaction() as session:
                event = add_event(
                    session,
                    site,
                    form.title.data or "",
                    starts,
                    ends,
                    form.brought_by.data,
                    bool(form.open_to_all.data),
                    form.description.data or "",
                    form.capacity.data,
                    actor(),
                    app.now(),
                )
                audit.record(
                    session, app.now(), actor(), "event.add", f"event:{event.id}", title=event.title
                )
        except EventError as error:
            form.ends_at.errors = [*form.ends_at.errors, refusal_text(error)]
        else:
            return redirect(url_for("staff.event", event_id=event.id))
    with app.session() as session:
        found = session.scalars(select(Event).order_by(Event.starts_at.desc()).limit(100)).all()
        counts = attendance(session, [event.id for event in found])
        return render_template(
            "staff/events.html",
            form=form,
            events=found,
            counts=counts,
            sites={site.id: site for site in sites},
            brought_by=BROUGHT_BY_NAMES,
        )


@blp.route("/events/<int:event_id>", methods=["GET", "POST"])
def event(event_id: int) -> str | Response:
    app = runtime()
    form = WalkInForm()
    with app.transaction() as session:
        found = session.get(Event, event_id)
        if found is None:
            abort(404)
        if form.validate_on_submit():
            try:
                ticket = register(
                    session,
                    found,
                    form.name.data or "",
                    None,
                    app.now(),
                    app.badge_private_key,
                    walk_in=True,
                )
            except EventError as error:
                flash(refusal_text(error))
            else:
                ticket.checked_in_at = app.now()
                audit.record(
                    session,
                    app.now(),
                    actor(),
                    "event.walk_in",
                    f"event:{found.id}",
                    ticket=ticket.id,
                )
                return redirect(url_for("staff.event", event_id=found.id))
        tickets = session.scalars(
            select(Ticket).where(Ticket.event_id == found.id).order_by(Ticket.created_at)
        ).all()
        return render_template(
            "staff/event.html",
            event=found,
            tickets=tickets,
            form=form,
            site=found.site,
            brought_by=BROUGHT_BY_NAMES,
            came=sum(1 for t in tickets if t.checked_in_at),
        )
