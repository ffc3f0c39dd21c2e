"""Staff pages: fixing a member's day (a visit's start or end, a wrong tap removed).

The member's page shows their days (`corrections.timeline`); each form here posts one
correction, made in one transaction with its audit entry, and comes back to that day.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response
from wtforms import DateTimeLocalField, StringField
from wtforms.validators import DataRequired, InputRequired, Length

from server.domain import audit, corrections, presence
from server.domain.corrections import Correction, CorrectionError
from server.domain.sites import home_zone
from server.i18n import refusal_text
from server.runtime import runtime
from server.store.models import Kiosk, Member, Site, Tap, Visit
from server.web.staff import actor, blp


class MoveForm(FlaskForm):  # type: ignore[misc]
    """A visit's new start or end, in its site's local time, and why."""

    at = DateTimeLocalField(_l("Nouvelle heure"), validators=[InputRequired()])
    reason = StringField(
        _l("Raison de la correction"), validators=[DataRequired(), Length(max=500)]
    )


class RemoveForm(FlaskForm):  # type: ignore[misc]
    reason = StringField(_l("Raison du retrait"), validators=[DataRequired(), Length(max=500)])


@blp.post("/visits/<int:visit_id>/<any('start', 'end'):edge>")
def visit_move(visit_id: int, edge: str) -> Response:
    """Put a visit's arrival or departure at another time."""
    app = runtime()
    with app.session() as session:
        visit = session.get(Visit, visit_id)
        if visit is None:
            abort(404)
        member_id, site = visit.member_id, visit.site
        zone = presence.opening_hours(site).zone
        day = visit.local_day
    form = MoveForm()
    if not form.validate_on_submit():
        return _refused(member_id, day.isoformat(), form)
    assert form.at.data is not None  # InputRequired
    at, reason = form.at.data.replace(tzinfo=zone), form.reason.data or ""
    move = corrections.move_start if edge == "start" else corrections.move_end
    now = app.now()
    try:
        with app.transaction() as session:
            done = move(session, visit_id, at, actor(), reason, now, app.rules)
            _audit(session, now, member_id, done, reason)
    except CorrectionError as refused:
        flash(refusal_text(refused), "problem")
    else:
        flash(_("Visite corrigée."), "saved")
    return _back(member_id, day.isoformat())


@blp.post("/members/<int:member_id>/taps/<int:tap_id>/remove")
def tap_remove(member_id: int, tap_id: int) -> Response:
    """Take a wrong tap out of the member's presence (it stays in the log, withdrawn)."""
    app = runtime()
    with app.session() as session:
        tap = session.get(Tap, tap_id)
        member = session.get(Member, member_id)
        if tap is None or member is None or tap.member_id != member_id:
            abort(404)
        day = _day_of(session, tap)
    form = RemoveForm()
    if not form.validate_on_submit():
        return _refused(member_id, day, form)
    now, reason = app.now(), form.reason.data or ""
    try:
        with app.transaction() as session:
            done = corrections.remove_tap(
                session, member_id, tap_id, actor(), reason, now, app.rules
            )
            _audit(session, now, member_id, done, reason)
    except CorrectionError as refused:
        flash(refusal_text(refused), "problem")
    else:
        flash(_("Passage retiré : les visites du jour sont refaites sans lui."), "saved")
    return _back(member_id, day)


def day_words(session: Session, now: datetime) -> dict[str, Any]:
    """What the member page's days need besides the days: words for how visits ended,
    kinds of entries and the answers given, the kiosks' names."""
    return {
        "now": now,
        "home_zone": home_zone(session).key,
        "kiosk_names": {kiosk.id: kiosk.name for kiosk in session.scalars(select(Kiosk))},
        "end_words": {
            "tap": _("badge"),
            "staff": _("par l'accueil"),
            "auto": _("fin automatique à la fermeture"),
        },
        "entry_words": {
            "badge": _("Badge"),
            "staff_in": _("Entrée par l'accueil"),
            "staff_out": _("Sortie par l'accueil"),
            "auto_out": _("Sortie oubliée"),
        },
        "outcome_words": {
            "checked_in": _("entrée"),
            "checked_out": _("sortie"),
            "duplicate": _("sans effet"),
            "unknown_badge": _("badge inconnu"),
            "revoked": _("badge révoqué"),
            "archived": _("membre archivé"),
            "invalid": _("lecture illisible"),
        },
    }


def _day_of(session: Session, tap: Tap) -> str:
    """The tap's local date at its site, as the member's page names its days."""
    site = session.get(Site, tap.site_id) if tap.site_id is not None else None
    zone = presence.opening_hours(site).zone if site is not None else None
    return tap.occurred_at.astimezone(zone).date().isoformat()


def _audit(session: Session, now: datetime, member_id: int, done: Correction, reason: str) -> None:
    audit.record(
        session,
        now,
        actor(),
        done.action,
        f"member:{member_id}",
        reason,
        site=done.site.slug,
        before=done.before.isoformat() if done.before else None,
        after=done.after.isoformat() if done.after else None,
        zone=done.site.timezone,
    )


def _refused(member_id: int, day: str, form: FlaskForm) -> Response:
    """Say which field is wrong and why, back on the member's day."""
    for name, errors in form.errors.items():
        label = form[name].label.text if name in form else ""
        flash(f"{label} : {' '.join(map(str, errors))}" if label else " ".join(errors), "problem")
    return _back(member_id, day)


def _back(member_id: int, day: str) -> Response:
    return redirect(url_for("staff.member", member_id=member_id) + f"#day-{day}")
