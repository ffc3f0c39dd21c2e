"""Staff pages for members: list and search, create, a member's page with their badges,
and corrections (check in or out by hand, with the time and why), each in the audit
trail. Views stay thin: the rules are in server.domain.members, server.domain.credentials and
server.domain.presence."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from flask import Response as FlaskResponse
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from marshmallow import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from werkzeug.wrappers import Response
from wtforms import DateField, EmailField, SelectField, StringField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import DataRequired, Length, Optional, Regexp
from wtforms.validators import ValidationError as InvalidField

from server.domain import audit, corrections, presence
from server.domain.billing import BillingError, statement
from server.domain.credentials import cards_sheet, issue_qr, printable_badges
from server.domain.desk import find_at_desk
from server.domain.guests import became_member
from server.domain.invoices import check_siren, member_invoices
from server.domain.links import LINK_DAYS, make_member_token, replace_member_link
from server.domain.members import (
    CSV_COLUMNS,
    MAX_CELL,
    MAX_ROWS,
    ImportProblem,
    ImportReport,
    MemberError,
    MemberSchema,
    add_member,
    change_plan,
    erase_member,
    export_csv,
    first_error,
    import_csv,
    matching,
    plan_on,
)
from server.domain.photos import PhotoError, delete_photo, store_photo
from server.domain.sites import home_zone, local_today
from server.i18n import refusal_text
from server.runtime import external_url, runtime
from server.store.models import GuestDay, Member, MemberPlan, Plan, Site, TapKind, Visibility
from server.web import scroll_tables
from server.web.photos import send_photo
from server.web.staff import LEVEL_NAMES, PLAN_NAMES, actor, admin_only, audit_words, blp
from server.web.staff.dashboard import pack_warning
from server.web.staff.days import day_words
from server.web.staff.paging import counted

PLANS = [SelectChoice(plan.value, PLAN_NAMES[plan]) for plan in Plan]
LEVELS = [
    SelectChoice(Visibility.HIDDEN.value, _l("Discret (compté, jamais nommé)")),
    SelectChoice(Visibility.FIRST_NAME.value, LEVEL_NAMES[Visibility.FIRST_NAME]),
    SelectChoice(Visibility.PROFILE.value, LEVEL_NAMES[Visibility.PROFILE]),
]


class MemberForm(FlaskForm):  # type: ignore[misc]
    given_name = StringField(_l("Prénom"), validators=[DataRequired(), Length(max=100)])
    family_name = StringField(_l("Nom"), validators=[Optional(), Length(max=100)])
    email = EmailField(
        _l("E-mail"), validators=[Optional(), Length(max=254)]
    )  # checked by MemberSchema
    plan = SelectField(_l("Formule"), choices=PLANS, default=Plan.PAYG.value)
    visibility = SelectField(
        _l("Sur l'écran (choisi par le membre)"), choices=LEVELS, default=Visibility.HIDDEN.value
    )


class CorrectionForm(FlaskForm):  # type: ignore[misc]
    site = SelectField(_l("Lieu"), coerce=int)
    at = StringField(
        _l("Heure (aujourd'hui, vide : maintenant)"),
        validators=[Optional(), Regexp(r"^([01]?\d|2[0-3])[:h][0-5]\d$", message="HH:MM")],
    )
    reason = StringField(
        _l("Raison de la correction"), validators=[DataRequired(), Length(max=500)]
    )


def _member(session: Session, member_id: int) -> Member:
    """The member a staff page is about; an erased one is gone (404)."""
    found = session.get(Member, member_id)
    if found is None or found.erased_at is not None:
        abort(404)
    return found


FILTERS = {
    "state": ("active", "archived", "guests", "all"),
    "presence": ("", "present", "absent"),
    "plan": ("", *(plan.value for plan in Plan)),
}


def _filters() -> dict[str, str]:
    """The list's filters from the query string; anything unknown means "no filter"."""
    chosen = {name: request.args.get(name, "") for name in FILTERS}
    return {name: v if v in FILTERS[name] else FILTERS[name][0] for name, v in chosen.items()}


#: Members on a page of the list; audit entries on a page of the trail.
MEMBERS_PAGE = 50
AUDIT_PAGE = 100


@blp.get("/members")
def members() -> str:
    """Members, searched by names or e-mail (every word, any order, accents or not) and
    filtered by state, presence and plan, a page at a time. `?part=results` answers the
    results alone, for the search as one types (staff_search.js)."""
    app = runtime()
    now = app.now()
    query = request.args.get("q", "").strip()
    chosen = _filters()
    with app.session() as session:
        found = select(Member).where(Member.erased_at.is_(None), matching(query))
        if chosen["state"] == "guests":  # people who came as guests and did not join
            found = found.where(Member.is_guest.is_(True))
        elif chosen["state"] != "all":
            archived = chosen["state"] == "archived"
            found = found.where(
                Member.archived_at.is_not(None) if archived else Member.archived_at.is_(None),
                Member.is_guest.is_(False),
            )
        present = {
            visit.member_id
            for site in session.scalars(select(Site))
            for visit in presence.present_visits(session, site.id, now)
        }
        if chosen["presence"]:
            inside = Member.id.in_(present)
            found = found.where(inside if chosen["presence"] == "present" else ~inside)
        today = local_today(session, now)
        if chosen["plan"]:
            found = found.where(current_plan(today) == Plan(chosen["plan"]))
        total = session.scalar(select(func.count()).select_from(found.subquery())) or 0
        paging = counted(total, MEMBERS_PAGE)
        rows = session.scalars(
            found.order_by(Member.family_name, Member.given_name, Member.id)
            .options(selectinload(Member.plans))
            .limit(paging.size)
            .offset(paging.offset)
        ).all()
        part = bool(request.args.get("part"))
        page = render_template(
            "staff/_members_results.html" if part else "staff/members.html",
            members=rows,
            paging=paging,
            q=query,
            chosen=chosen,
            plans=PLANS,
            present=present,
            plan_of={member.id: plan_on(member, today) for member in rows},
        )
        # The results alone: their table in its scroll box, as in the page they go into.
        return scroll_tables(page) if part else page


def current_plan(day: date) -> Any:
    """A member's plan on `day`, as a SQL expression (correlated to Member)."""
    return (
        select(MemberPlan.plan)
        .where(MemberPlan.member_id == Member.id, MemberPlan.starts_on <= day)
        .order_by(MemberPlan.starts_on.desc())
        .limit(1)
        .scalar_subquery()
    )


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
            flash(refusal_text(error), "problem")
        else:
            flash(_("Membre créé."), "saved")
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
        today = local_today(session, now)
        sites = list(session.scalars(select(Site).order_by(Site.id)))
        here = [visit for site in sites for visit in presence.present_visits(session, site.id, now)]
        here = [visit for visit in here if visit.member_id == member_id]
        days, older = corrections.timeline(session, member_id, _before(request.args.get("before")))
        return render_template(
            "staff/member.html",
            member=found,
            here=here,
            days=days,
            older=older,
            zones={site.id: site.timezone for site in sites},
            **day_words(session, now),
            form=_correction_form(sites),
            photo_form=PhotoForm(),
            sites={site.id: site for site in sites},
            member_link=external_url(
                "me.visibility",
                token=make_member_token(
                    str(current_app.config["SECRET_KEY"]), member_id, found.link_generation
                ),
            ),
            link_days=LINK_DAYS,
            this_month=statement(session, found, today, now, app.settings.billing),
            current_plan=plan_on(found, today),
            billing=app.settings.billing,
            invoices=member_invoices(session, member_id),
        )


def _before(text: str | None) -> date | None:
    """The `before` of the member's page (its days before that date), if a date."""
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@blp.post("/members/<int:member_id>/link")
def member_replace_link(member_id: int) -> Response:
    """Give the member a new personal link: the ones given before stop working (a link
    forwarded by mistake, a lost phone)."""
    app = runtime()
    with app.transaction() as session:
        replace_member_link(_member(session, member_id))
        audit.record(session, app.now(), actor(), "member.link_replace", f"member:{member_id}")
    flash(
        _("Nouveau lien créé : l'ancien ne fonctionne plus. Envoyez celui-ci au membre."), "saved"
    )
    return redirect(url_for("staff.member", member_id=member_id) + "#member-link")


@blp.post("/members/<int:member_id>/badges/qr")
def member_issue_qr(member_id: int) -> Response:
    app = runtime()
    with app.transaction() as session:
        found = _member(session, member_id)
        badge = issue_qr(session, found, "", app.now(), app.badge_private_key)
        audit.record(
            session, app.now(), actor(), "badge.issue_qr", f"member:{member_id}", badge=badge.id
        )
    flash(
        _("Badge QR créé : imprimez sa carte (PDF) ou envoyez au membre son lien personnel."),
        "saved",
    )
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
            flash(_("Cette heure n'est pas encore passée."), "problem")
            return redirect(url_for("staff.member", member_id=member_id))
        kind = TapKind.STAFF_IN if direction == "check-in" else TapKind.STAFF_OUT
        reason = form.reason.data or ""
        result = presence.record_staff_entry(
            session, found, site, kind, at, actor(), reason, now, app.rules
        )
        if result.outcome.value in ("checked_in", "checked_out"):  # else nothing changed
            audit.record(
                session,
                now,
                actor(),
                f"visit.{direction}",
                f"member:{member_id}",
                form.reason.data or "",
                site=site.slug,
                when=at.isoformat(),
                zone=site.timezone,
                outcome=result.outcome.value,
            )
        warning = None
        if result.outcome.value == "checked_in" and at.date() == now.date():
            warning = pack_warning(session, found, now, app.settings.billing)
    done = {"checked_in": _("Entrée enregistrée."), "checked_out": _("Sortie enregistrée.")}
    flash(done.get(result.outcome.value, _("Rien à changer : c'était déjà le cas.")), "saved")
    if warning:
        flash(warning, "problem")
    return redirect(url_for("staff.member", member_id=member_id))


def _when(text: str | None, site: Site, now: datetime) -> datetime:
    if not text:
        return now
    hours, minutes = (int(part) for part in text.replace("h", ":").split(":"))
    zone = presence.opening_hours(site).zone
    return datetime.combine(now.astimezone(zone).date(), time(hours, minutes), zone)


@blp.get("/audit")
def audit_trail() -> str:
    """The audit trail, latest first, a page at a time."""
    with runtime().session() as session:
        zone = home_zone(session).key
        paging = counted(audit.count(session), AUDIT_PAGE)
        latest = audit.latest(session, paging.size, paging.offset)
        entries = audit_words.lines(session, latest, zone)
        return render_template("staff/audit.html", entries=entries, zone=zone, paging=paging)


class EditForm(MemberForm):
    plan_from = DateField(_l("Nouvelle formule à partir du"), validators=[Optional()])
    skills = StringField(
        _l("Compétences (séparées par des virgules)"), validators=[Length(max=600)]
    )
    working_on = StringField(_l("Travaille sur"), validators=[Length(max=500)])
    open_to_chat_about = StringField(_l("Envie de parler de"), validators=[Length(max=500)])
    # Not `sponsor` (the relationship the form would read from the member); a form sent
    # without it keeps the sponsor as it was. Typed, not chosen from a list of everyone.
    sponsor_text = StringField(
        _l("Parrainé·e par (nom, e-mail ou n° de membre ; vide : personne)"),
        validators=[Length(max=200)],
    )
    # Who invoices are made out to (empty: the member's own name, as a private person).
    billing_name = StringField(_l("Facturer au nom de"), validators=[Length(max=200)])
    billing_company = StringField(_l("Société ou organisme"), validators=[Length(max=200)])
    billing_siren = StringField(_l("SIREN ou SIRET"), validators=[Length(max=20)])
    billing_street = StringField(_l("Adresse de facturation"), validators=[Length(max=200)])
    billing_postcode = StringField(_l("Code postal"), validators=[Length(max=16)])
    billing_city = StringField(_l("Ville"), validators=[Length(max=100)])

    def validate_billing_siren(self, field: Any) -> None:
        try:
            check_siren(field.data or "")
        except BillingError as error:
            raise InvalidField(refusal_text(error)) from None

    def validate_billing_street(self, field: Any) -> None:
        business = (self.billing_company.data or "").strip() or (self.billing_siren.data or "")
        if business and not (field.data or "").strip():
            raise InvalidField(_("Une société ou un SIREN demande une adresse de facturation."))

    def validate_billing_city(self, field: Any) -> None:
        business = (self.billing_company.data or "").strip() or (self.billing_siren.data or "")
        if business and not ((field.data or "").strip() and (self.billing_postcode.data or "")):
            raise InvalidField(_("Une société ou un SIREN demande un code postal et une ville."))


class NoSingleMember(Exception):
    """What was typed to name a member names nobody, or several."""


def _sponsor_text(sponsor: Member | None) -> str:
    """The sponsor as the edit form shows it: their number, then their name."""
    if sponsor is None:
        return ""
    return f"{sponsor.id} {sponsor.given_name} {sponsor.family_name}".strip()


def _sponsor(session: Session, member: Member, text: str) -> Member | None:
    """The sponsor the edit form names: the same text as shown keeps them, a number or
    the words of one member's name or e-mail names another, nothing names nobody; a
    NoSingleMember when it names nobody or several."""
    text = text.strip()
    if text == _sponsor_text(member.sponsor):
        return member.sponsor
    if not text:
        return None
    number = text.split()[0]
    if number.isdigit():
        found = session.get(Member, int(number))
        candidates = [found] if found is not None else []
    else:
        candidates = list(find_at_desk(session, text, limit=3))
    candidates = [c for c in candidates if c.id != member.id and not c.is_guest]
    if len(candidates) != 1 or candidates[0].erased_at is not None:
        raise NoSingleMember(text)
    return candidates[0]


@blp.route("/members/<int:member_id>/edit", methods=["GET", "POST"])
def member_edit(member_id: int) -> Response | str:
    app = runtime()
    now = app.now()
    with app.transaction() as session:
        found = _member(session, member_id)
        today = local_today(session, now)
        form = EditForm(obj=found)
        if request.method == "GET":
            form.sponsor_text.data = _sponsor_text(found.sponsor)
            form.skills.data = ", ".join(str(skill) for skill in found.skills)
            current = plan_on(found, today)
            form.plan.data = current.plan.value if current else Plan.PAYG.value
            form.plan_from.data = today
            form.visibility.data = found.visibility.value
        elif form.validate_on_submit():
            email = (form.email.data or "").strip().lower() or None
            owner = email and session.scalar(select(Member).where(Member.email == email))
            if owner and owner.id != member_id:
                flash(_("%(email)s est déjà l'adresse d'un autre membre.", email=email), "problem")
                return render_template("staff/member_edit.html", form=form, member=found)
            try:
                sponsor = _sponsor(session, found, form.sponsor_text.data or "")
            except NoSingleMember:
                who = form.sponsor_text.data
                flash(
                    _("« %(who)s » ne désigne pas un seul autre membre : précisez.", who=who),
                    "problem",
                )
                return render_template("staff/member_edit.html", form=form, member=found)
            found.given_name = (form.given_name.data or "").strip()
            found.family_name = (form.family_name.data or "").strip()
            found.email = email
            found.skills = [s.strip() for s in (form.skills.data or "").split(",") if s.strip()]
            found.working_on = form.working_on.data or ""
            found.open_to_chat_about = form.open_to_chat_about.data or ""
            found.visibility = Visibility(form.visibility.data)
            found.billing_name = (form.billing_name.data or "").strip()
            found.billing_company = (form.billing_company.data or "").strip()
            found.billing_siren = check_siren(form.billing_siren.data or "")
            found.billing_street = (form.billing_street.data or "").strip()
            found.billing_postcode = (form.billing_postcode.data or "").strip()
            found.billing_city = (form.billing_city.data or "").strip()
            if "sponsor_text" in request.form:
                found.sponsor_id = sponsor.id if sponsor is not None else None
            starts_on = form.plan_from.data or today
            if change_plan(found, Plan(form.plan.data), starts_on):
                audit.record(
                    session,
                    now,
                    actor(),
                    "member.plan",
                    f"member:{member_id}",
                    plan=form.plan.data,
                    starts_on=starts_on.isoformat(),
                )
            audit.record(session, now, actor(), "member.edit", f"member:{member_id}")
            flash(_("Modifications enregistrées."), "saved")
            return redirect(url_for("staff.member", member_id=member_id))
        return render_template("staff/member_edit.html", form=form, member=found)


@blp.post("/members/<int:member_id>/join")
def member_join(member_id: int) -> Response:
    """A guest becomes a member: the same person, their guest days stay theirs, and the
    host of their last guest day is recorded as their sponsor."""
    app = runtime()
    now = app.now()
    with app.transaction() as session:
        found = _member(session, member_id)
        if found.is_guest:
            became_member(found, now)
            host = session.scalar(
                select(GuestDay.host_id)
                .where(GuestDay.guest_id == found.id, GuestDay.host_id.is_not(None))
                .order_by(GuestDay.day.desc())
                .limit(1)
            )
            found.sponsor_id = found.sponsor_id or host
            if not found.plans:
                change_plan(found, Plan.PAYG, local_today(session, now))
            audit.record(
                session,
                now,
                actor(),
                "member.join",
                f"member:{member_id}",
                sponsor=found.sponsor_id,
            )
    flash(
        _("C'est maintenant un membre : modifiez sa fiche pour sa formule et son badge."), "saved"
    )
    return redirect(url_for("staff.member", member_id=member_id))


@blp.post("/members/<int:member_id>/archive")
def member_archive(member_id: int) -> Response:
    """Archive a member: their badges stop working, their history stays."""
    app = runtime()
    now = app.now()
    with app.transaction() as session:
        found = _member(session, member_id)
        found.archived_at = found.archived_at or now
        audit.record(
            session,
            now,
            actor(),
            "member.archive",
            f"member:{member_id}",
            request.form.get("reason", ""),
        )
    flash(_("Membre archivé : ses badges n'ouvrent plus rien."), "saved")
    return redirect(url_for("staff.member", member_id=member_id))


@blp.post("/members/<int:member_id>/erase")
@admin_only
def member_erase(member_id: int) -> Response:
    """Erase a member (GDPR): the person is removed, photo file included; their visits
    stay as anonymous counts, so past figures do not change."""
    app = runtime()
    now = app.now()
    with app.transaction() as session:
        found = _member(session, member_id)
        photo = found.photo
        erase_member(session, found, now)
        audit.record(
            session,
            now,
            actor(),
            "member.erase",
            f"member:{member_id}",
            request.form.get("reason", ""),
        )
    delete_photo(app.settings.data_path, photo)
    flash(_("Membre effacé : ses passages restent comptés, sans nom."), "saved")
    return redirect(url_for("staff.members"))


class PhotoForm(FlaskForm):  # type: ignore[misc]
    photo = FileField(_l("Photo (JPEG, PNG ou WebP)"), validators=[FileRequired()])


@blp.route("/members/<int:member_id>/photo", methods=["GET", "POST"])
def member_photo(member_id: int) -> Response:
    """The member's photo (GET), or a new one (POST, kept as a small JPEG)."""
    app = runtime()
    if request.method == "GET":
        with app.session() as session:
            return send_photo(_member(session, member_id).photo)
    form = PhotoForm()
    if not form.validate_on_submit():
        flash(_("Choisissez une image."), "problem")
        return redirect(url_for("staff.member", member_id=member_id))
    try:
        address = store_photo(app.settings.data_path, form.photo.data.read())
    except PhotoError as error:
        flash(refusal_text(error), "problem")
        return redirect(url_for("staff.member", member_id=member_id))
    return _set_photo(member_id, address, "member.photo", _("Photo enregistrée."))


@blp.post("/members/<int:member_id>/photo/remove")
def member_photo_remove(member_id: int) -> Response:
    return _set_photo(member_id, None, "member.photo_remove", _("Photo retirée."))


def _set_photo(member_id: int, address: str | None, action: str, done: str) -> Response:
    """Put a stored photo (or none) on the member's record, then drop the previous file."""
    app = runtime()
    with app.transaction() as session:
        found = _member(session, member_id)
        old, found.photo = found.photo, address
        audit.record(session, app.now(), actor(), action, f"member:{member_id}")
    delete_photo(app.settings.data_path, old)
    flash(done, "saved")
    return redirect(url_for("staff.member", member_id=member_id))


class ImportForm(FlaskForm):  # type: ignore[misc]
    file = FileField(_l("Fichier CSV"), validators=[FileRequired()])


#: What each column of an import must hold, for whoever fixes the file.
COLUMN_RULES = {
    "given_name": _l("un prénom (obligatoire, 100 caractères au plus)"),
    "family_name": _l("100 caractères au plus"),
    "display_name": _l("100 caractères au plus"),
    "email": _l("une adresse e-mail valide"),
    "language": _l("fr ou en"),
    "plan": _l("payg, pack, monthly ou free"),
    "plan_starts_on": _l("une date AAAA-MM-JJ"),
    "skills": _l("des compétences de 60 caractères au plus, séparées par « | »"),
    "working_on": _l("500 caractères au plus"),
    "open_to_chat_about": _l("500 caractères au plus"),
    "visibility": _l("hidden, first_name ou profile"),
}


def describe(problem: ImportProblem) -> str:
    """An import problem in the reader's language."""
    if problem.kind == "header":
        return str(_("Ligne 1 : l'en-tête doit nommer au moins la colonne given_name."))
    if problem.kind == "column":
        return str(_("Ligne 1 : colonne inconnue « %(name)s ».", name=problem.value))
    if problem.kind == "not_text":
        return str(
            _(
                "Ligne %(line)d : ce fichier n'est pas du texte en UTF-8 ou en Windows-1252 "
                "(celui d'Excel) : enregistrez-le en « CSV UTF-8 ».",
                line=problem.line,
            )
        )
    if problem.kind == "cell_too_long":
        return str(
            _(
                "Ligne %(line)d : une cellule dépasse %(limit)d caractères.",
                line=problem.line,
                limit=MAX_CELL,
            )
        )
    if problem.kind == "malformed":
        return str(_("Ligne %(line)d : le CSV est mal formé à cet endroit.", line=problem.line))
    if problem.kind == "too_many":
        return str(
            _(
                "Ligne %(line)d : %(limit)d membres au plus par import ; "
                "coupez le fichier en plusieurs.",
                line=problem.line,
                limit=MAX_ROWS,
            )
        )
    if problem.kind == "taken":
        return str(
            _(
                "Ligne %(line)d : %(email)s est déjà l'adresse d'un membre.",
                line=problem.line,
                email=problem.value,
            )
        )
    rule = COLUMN_RULES.get(problem.column.split(".")[0])
    if rule is None:
        return str(problem)
    return str(
        _(
            "Ligne %(line)d, colonne %(column)s : il faut %(rule)s.",
            line=problem.line,
            column=problem.column,
            rule=rule,
        )
    )


class NotText(ValueError):
    """An upload that is not text in UTF-8 or Windows-1252, from `line` on."""

    def __init__(self, line: int) -> None:
        super().__init__(f"not text from line {line}")
        self.line = line


def decode_upload(data: bytes) -> str:
    """Text from an uploaded CSV: UTF-8 (with or without BOM), else Windows-1252, which
    is what a French Excel saves as "CSV (séparateur : point-virgule)"; anything else
    (a spreadsheet, a picture: NUL bytes, bytes Windows-1252 has no letter for) is
    refused (`NotText`) with the line it starts on."""
    if b"\x00" in data:
        raise NotText(data.count(b"\n", 0, data.index(b"\x00")) + 1)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as error:
        raise NotText(data.count(b"\n", 0, error.start) + 1) from None


@blp.route("/members/import", methods=["GET", "POST"])
def members_import() -> Response | tuple[str, int]:
    """Create members from a CSV file; nothing is created if any line is wrong."""
    form = ImportForm()
    errors: list[str] = []
    status = 200
    if form.validate_on_submit():
        app = runtime()
        now = app.now()
        with app.transaction() as session:
            try:
                text = decode_upload(form.file.data.read())
            except NotText as refused:
                report = ImportReport(errors=[ImportProblem(refused.line, "not_text")])
            else:
                report = import_csv(session, text, now.date())
            if not report.errors:
                audit.record(
                    session, now, actor(), "member.import", "members", created=len(report.created)
                )
        if not report.errors:
            count = len(report.created)
            flash(ngettext("%(num)d membre importé.", "%(num)d membres importés.", count), "saved")
            return redirect(url_for("staff.members"))
        errors, status = [describe(problem) for problem in report.errors], 400
    elif request.method == "POST":
        errors, status = [_("Choisissez un fichier CSV.")], 400
    page = render_template(
        "staff/members_import.html", form=form, errors=errors, columns=CSV_COLUMNS
    )
    return page, status


def _pdf(body: bytes, name: str) -> Response:
    return FlaskResponse(
        body,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "no-store"},
    )


@blp.get("/members/<int:member_id>/cards.pdf")
def member_cards_pdf(member_id: int) -> Response:
    """The member's QR badge card(s), ready to print on an A4 sheet of CR80 cards."""
    app = runtime()
    with app.session() as session:
        _member(session, member_id)
        printable = printable_badges(session, app.badge_private_key, [member_id])
        if not printable:
            flash(_("Aucun badge QR actif à imprimer : créez-en un."), "problem")
            return redirect(url_for("staff.member", member_id=member_id))
        sheet = cards_sheet(session, app.settings.cards, [card for _b, card in printable])
    return _pdf(sheet, f"badge-{member_id}.pdf")


@blp.get("/cards.pdf")
def cards_pdf() -> Response:
    """Every active member's QR badge card, ten to an A4 sheet."""
    app = runtime()
    with app.session() as session:
        printable = printable_badges(session, app.badge_private_key)
        if not printable:
            flash(_("Aucun badge QR actif à imprimer."), "problem")
            return redirect(url_for("staff.members"))
        sheet = cards_sheet(session, app.settings.cards, [card for _b, card in printable])
    return _pdf(sheet, "badges.pdf")


@blp.get("/members.csv")
def members_csv() -> Response:
    """Every member not erased; `?excel=1` for a French Excel (`;`, BOM, French headers)."""
    excel = request.args.get("excel") == "1"
    with runtime().session() as session:
        rows = session.scalars(
            select(Member).where(Member.erased_at.is_(None)).order_by(Member.id)
        ).all()
        body = export_csv(rows, excel=excel)
    name = f"membres{'-excel' if excel else ''}.csv"
    return FlaskResponse(
        body.encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
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
