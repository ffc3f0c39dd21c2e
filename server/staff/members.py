"""Staff pages for members: list and search, create, a member's page with their badges,
and corrections (check in or out by hand, with the time and why), each in the audit
trail. Views stay thin: the rules are in server.members, server.credentials and
server.presence."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from flask import Response as FlaskResponse
from flask import abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from marshmallow import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response
from wtforms import EmailField, SelectField, StringField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import DataRequired, Length, Optional, Regexp

from server import audit, presence
from server.credentials import issue_qr
from server.members import (
    MemberError,
    MemberSchema,
    add_member,
    erase_member,
    export_csv,
    first_error,
)
from server.models import Member, Plan, Site, TapKind, Visibility
from server.runtime import runtime
from server.staff import actor, blp

PLANS = [
    SelectChoice(Plan.PAYG.value, "À la demi-journée"),
    SelectChoice(Plan.PACK.value, "Carnet"),
    SelectChoice(Plan.MONTHLY.value, "Mensuel"),
    SelectChoice(Plan.FREE.value, "Gratuit"),
]
LEVELS = [
    SelectChoice(Visibility.HIDDEN.value, "Discret (compté, jamais nommé)"),
    SelectChoice(Visibility.FIRST_NAME.value, "Prénom"),
    SelectChoice(Visibility.PROFILE.value, "Profil"),
]


class MemberForm(FlaskForm):  # type: ignore[misc]
    given_name = StringField("Prénom", validators=[DataRequired(), Length(max=100)])
    family_name = StringField("Nom", validators=[Optional(), Length(max=100)])
    email = EmailField(
        "E-mail", validators=[Optional(), Length(max=254)]
    )  # checked by MemberSchema
    plan = SelectField("Formule", choices=PLANS, default=Plan.PAYG.value)
    visibility = SelectField(
        "Sur l'écran (choisi par le membre)", choices=LEVELS, default=Visibility.HIDDEN.value
    )


class CorrectionForm(FlaskForm):  # type: ignore[misc]
    site = SelectField("Lieu", coerce=int)
    at = StringField(
        "Heure (aujourd'hui, vide : maintenant)",
        validators=[Optional(), Regexp(r"^([01]?\d|2[0-3])[:h][0-5]\d$", message="HH:MM")],
    )
    reason = StringField("Raison de la correction", validators=[DataRequired(), Length(max=500)])


def _member(session: Session, member_id: int) -> Member:
    """The member a staff page is about; an erased one is gone (404)."""
    found = session.get(Member, member_id)
    if found is None or found.erased_at is not None:
        abort(404)
    return found


@blp.get("/members")
def members() -> str:
    query = request.args.get("q", "").strip()
    with runtime().session() as session:
        found = select(Member).where(Member.erased_at.is_(None))
        if query:
            like = f"%{query}%"
            found = found.where(
                or_(
                    Member.given_name.ilike(like),
                    Member.family_name.ilike(like),
                    Member.email.ilike(like),
                )
            )
        rows = session.scalars(found.order_by(Member.family_name, Member.given_name)).all()
        return render_template("staff/members.html", members=rows, q=query)


@blp.route("/members/new", methods=["GET", "POST"])
def member_new() -> Response | str:
    form = MemberForm()
    if form.validate_on_submit():
        app = runtime()
        raw = {key: value for key, value in form.data.items() if key != "csrf_token" and value}
        try:
            data = MemberSchema().load(raw)
            with app.transaction() as session:
                member = add_member(session, data, app.now().date())
                audit.record(session, app.now(), actor(), "member.create", f"member:{member.id}")
                member_id = member.id
        except ValidationError as error:
            name, message = first_error(error)
            flash(f"{name} : {message}", "problem")
        except MemberError as error:
            flash(str(error), "problem")
        else:
            flash("Membre créé.", "saved")
            return redirect(url_for("staff.member", member_id=member_id))
    return render_template("staff/member_new.html", form=form)


def _correction_form(sites: list[Site]) -> CorrectionForm:
    form = CorrectionForm()
    form.site.choices = [SelectChoice(str(site.id), site.name) for site in sites]
    return form


@blp.get("/members/<int:member_id>")
def member(member_id: int) -> str:
    app = runtime()
    now = app.now()
    with app.session() as session:
        found = _member(session, member_id)
        sites = list(session.scalars(select(Site).order_by(Site.id)))
        here = [visit for site in sites for visit in presence.present_visits(session, site.id, now)]
        here = [visit for visit in here if visit.member_id == member_id]
        return render_template(
            "staff/member.html",
            member=found,
            here=here,
            form=_correction_form(sites),
            sites={site.id: site for site in sites},
        )


@blp.post("/members/<int:member_id>/badges/qr")
def member_issue_qr(member_id: int) -> Response:
    app = runtime()
    with app.transaction() as session:
        found = _member(session, member_id)
        badge = issue_qr(session, found, "", app.now(), app.badge_private_key)
        audit.record(session, app.now(), actor(), "badge.issue_qr", f"member:{member_id}",
                     badge=badge.id)  # fmt: skip
    flash("Badge QR créé : imprimez-le avec « presence badges print ».", "saved")
    return redirect(url_for("staff.member", member_id=member_id))


@blp.post("/members/<int:member_id>/<any('check-in', 'check-out'):direction>")
def member_correct(member_id: int, direction: str) -> Response:
    """Check a member in or out by hand, now or at a time today, with the reason."""
    app = runtime()
    with app.session() as session:
        sites = list(session.scalars(select(Site).order_by(Site.id)))
    form = _correction_form(sites)
    if not form.validate_on_submit():
        for errors in form.errors.values():
            flash(" ".join(map(str, errors)), "problem")
        return redirect(url_for("staff.member", member_id=member_id))
    now = app.now()
    with app.transaction() as session:
        found = session.get(Member, member_id)
        site = session.get(Site, form.site.data)
        if found is None or site is None:
            abort(404)
        at = _when(form.at.data, site, now)
        if at > now:
            flash("Cette heure n'est pas encore passée.", "problem")
            return redirect(url_for("staff.member", member_id=member_id))
        kind = TapKind.STAFF_IN if direction == "check-in" else TapKind.STAFF_OUT
        reason = form.reason.data or ""
        result = presence.record_staff_entry(
            session, found, site, kind, at, actor(), reason, now, app.rules
        )
        audit.record(
            session, now, actor(), f"visit.{direction}", f"member:{member_id}",
            form.reason.data or "", site=site.slug, when=at.isoformat(),
            outcome=result.outcome.value,
        )  # fmt: skip
    done = {"checked_in": "Entrée enregistrée.", "checked_out": "Sortie enregistrée."}
    flash(done.get(result.outcome.value, "Rien à changer : c'était déjà le cas."), "saved")
    return redirect(url_for("staff.member", member_id=member_id))


def _when(text: str | None, site: Site, now: datetime) -> datetime:
    if not text:
        return now
    hours, minutes = (int(part) for part in text.replace("h", ":").split(":"))
    zone = presence.opening_hours(site).zone
    return datetime.combine(now.astimezone(zone).date(), time(hours, minutes), zone)


@blp.get("/audit")
def audit_trail() -> str:
    with runtime().session() as session:
        entries: Any = audit.latest(session)
        zone = session.scalar(select(Site.timezone).order_by(Site.id).limit(1)) or "UTC"
        return render_template("staff/audit.html", entries=entries, zone=zone)


class EditForm(MemberForm):
    skills = StringField("Compétences (séparées par des virgules)", validators=[Length(max=600)])
    working_on = StringField("Travaille sur", validators=[Length(max=500)])
    open_to_chat_about = StringField("Envie de parler de", validators=[Length(max=500)])


@blp.route("/members/<int:member_id>/edit", methods=["GET", "POST"])
def member_edit(member_id: int) -> Response | str:
    app = runtime()
    with app.transaction() as session:
        found = _member(session, member_id)
        form = EditForm(obj=found)
        if request.method == "GET":
            form.skills.data = ", ".join(str(skill) for skill in found.skills)
            form.plan.data = found.plans[-1].plan.value if found.plans else Plan.PAYG.value
            form.visibility.data = found.visibility.value
        elif form.validate_on_submit():
            email = (form.email.data or "").strip().lower() or None
            owner = email and session.scalar(select(Member).where(Member.email == email))
            if owner and owner.id != member_id:
                flash(f"{email} est déjà l'adresse d'un autre membre.", "problem")
                return render_template("staff/member_edit.html", form=form, member=found)
            found.given_name = (form.given_name.data or "").strip()
            found.family_name = (form.family_name.data or "").strip()
            found.email = email
            found.skills = [s.strip() for s in (form.skills.data or "").split(",") if s.strip()]
            found.working_on = form.working_on.data or ""
            found.open_to_chat_about = form.open_to_chat_about.data or ""
            found.visibility = Visibility(form.visibility.data)
            audit.record(session, app.now(), actor(), "member.edit", f"member:{member_id}")
            flash("Modifications enregistrées.", "saved")
            return redirect(url_for("staff.member", member_id=member_id))
        return render_template("staff/member_edit.html", form=form, member=found)


@blp.post("/members/<int:member_id>/<any('archive', 'erase'):action>")
def member_retire(member_id: int, action: str) -> Response:
    """Archive a member (their badges stop working), or erase them (GDPR): the person is
    removed and their visits stay as anonymous counts, so past figures do not change."""
    app = runtime()
    now = app.now()
    with app.transaction() as session:
        found = _member(session, member_id)
        if action == "erase":
            erase_member(session, found, now)
        else:
            found.archived_at = found.archived_at or now
        audit.record(session, now, actor(), f"member.{action}", f"member:{member_id}",
                     request.form.get("reason", ""))  # fmt: skip
    if action == "erase":
        flash("Membre effacé : ses passages restent comptés, sans nom.", "saved")
        return redirect(url_for("staff.members"))
    flash("Membre archivé : ses badges n'ouvrent plus rien.", "saved")
    return redirect(url_for("staff.member", member_id=member_id))


@blp.get("/members.csv")
def members_csv() -> Response:
    with runtime().session() as session:
        rows = session.scalars(
            select(Member).where(Member.erased_at.is_(None)).order_by(Member.id)
        ).all()
        body = export_csv(rows)
    return FlaskResponse(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="membres.csv"'},
    )


@blp.get("/directory")
def directory() -> str:
    """The members' directory: those at `profile` level, with their skills."""
    skill = request.args.get("skill", "").strip()
    with runtime().session() as session:
        shown = session.scalars(
            select(Member)
            .where(
                Member.visibility == Visibility.PROFILE,
                Member.archived_at.is_(None),
                Member.erased_at.is_(None),
            )
            .order_by(Member.given_name, Member.family_name)
        ).all()
        if skill:
            wanted = skill.casefold()
            shown = [m for m in shown if any(wanted in str(s).casefold() for s in m.skills)]
        return render_template("staff/directory.html", members=shown, skill=skill)
