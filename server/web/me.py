"""A member's own page, reached through a signed link: their recent visits, what the
board shows of them, and a download of everything stored about them."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms import BooleanField, StringField
from wtforms.validators import Length
from wtforms.validators import ValidationError as InvalidField

from badges.cards import qr_png
from server.domain import outbound
from server.domain.announcements import AnnouncementError, propose
from server.domain.billing import MonthStatement, previous_month, statement
from server.domain.board import board_name, card_key, initials
from server.domain.credentials import token_of
from server.domain.guests import GuestError, invite
from server.domain.invoice_documents import invoice_pdf
from server.domain.links import LinkError, check_current, read_member_link, read_member_token
from server.domain.photos import PhotoError, delete_photo, store_photo
from server.domain.privacy import member_data, visit_history
from server.domain.sites import local_today
from server.domain.text import EMAIL
from server.domain.webhooks import may_watch, member_secret
from server.i18n import refusal_text, use_language
from server.runtime import runtime
from server.store.models import (
    Announcement,
    ArrivalWatch,
    Badge,
    BadgeKind,
    Invoice,
    Member,
    Site,
    Visibility,
)
from server.web.passes import mail_pass, pass_link
from server.web.photos import send_photo

blp = Blueprint("me", __name__, url_prefix="/me")

CHOICES = [
    (
        Visibility.HIDDEN,
        _l("Discret"),
        _l("Compté parmi les présents (« +3 autres »), jamais nommé."),
    ),
    (Visibility.FIRST_NAME, _l("Prénom"), _l("Votre prénom apparaît sur l'écran de la Cantine.")),
    (
        Visibility.PROFILE,
        _l("Profil"),
        _l(
            "Prénom, ce sur quoi vous travaillez, vos compétences et les sujets dont vous "
            "aimeriez parler : pour que les autres viennent vous dire bonjour."
        ),
    ),
]

NO_QR_BADGE = _l("Vous n'avez pas encore de badge QR : demandez-en un à l'accueil.")

#: What a member's link answers never stays in a cache: the link is all it takes.
PRIVATE = {"Cache-Control": "no-store"}


def _record_choice(member: Member, level: Visibility, internet: bool, now: datetime) -> None:
    """Store what the member chose; each consent is dated, and kept while it holds.

    Being named on the internet (SpaceAPI) is a consent of its own, and needs being
    named in the space first: a hidden member is named nowhere.
    """
    if level is not member.visibility or member.visibility_consent_at is None:
        member.visibility_consent_at = None if level is Visibility.HIDDEN else now
    member.visibility = level
    internet = internet and level is not Visibility.HIDDEN
    if not internet:
        member.internet_consent_at = None
    elif member.internet_consent_at is None:
        member.internet_consent_at = now


@blp.errorhandler(LinkError)
def _refusal(error: LinkError) -> tuple[str, int]:
    """A link that is expired, forged or for an erased member, on any of these pages."""
    title, status = (_("Lien expiré"), 410) if error.expired else (_("Lien inutilisable"), 404)
    if error.replaced:
        title, status = _("Lien remplacé"), 410
    return render_template("message.html", title=title, message=refusal_text(error)), status


def _member_id(token: str) -> int:
    """The id of the member a link was made for, or LinkError."""
    return read_member_token(str(current_app.config["SECRET_KEY"]), token)


def _holder(session: Session, member_id: int) -> Member:
    """The link's member, who then sets the page's language; or LinkError.

    An erased member's link is no better than a forged one: it shows nothing.
    """
    member = session.get(Member, member_id)
    if member is None or member.erased_at is not None:
        raise LinkError("link_invalid")
    # Every page here takes the link as `token`; one replaced by staff is refused.
    token = (request.view_args or {}).get("token", "")
    check_current(member, read_member_link(str(current_app.config["SECRET_KEY"]), token))
    use_language(member.language)
    return member


def hours_minutes(span: timedelta) -> str:
    """A length of time as "2 h 05"."""
    minutes = int(span.total_seconds() // 60)
    return str(_("%(hours)d h %(minutes)02d", hours=minutes // 60, minutes=minutes % 60))


@blp.get("/<token>/badge.png")
def badge_png(token: str) -> Response | tuple[str, int]:
    """The member's QR badge as an image, to show on a phone at the door."""
    member_id = _member_id(token)
    with runtime().session() as session:
        member = _holder(session, member_id)
        badge = session.scalar(
            select(Badge)
            .where(
                Badge.member_id == member.id,
                Badge.kind == BadgeKind.QR,
                Badge.revoked_at.is_(None),
            )
            .order_by(Badge.issued_at.desc(), Badge.id.desc())
            .limit(1)
        )
        shown = None if badge is None else token_of(session, badge, runtime().badge_private_key)
        if shown is None:
            return render_template("message.html", message=NO_QR_BADGE), 404
        image = qr_png(shown)
    return Response(image, mimetype="image/png", headers=PRIVATE)


@blp.get("/<token>/data.json")
def data_file(token: str) -> Response | tuple[str, int]:
    """Everything stored about the member, as a file to keep (GDPR access, portability)."""
    app = runtime()
    now = app.now()
    member_id = _member_id(token)
    with app.session() as session:
        member = _holder(session, member_id)
        data = member_data(session, member, now)
    name = f"presence-member-{data['member']['id']}-{now.date().isoformat()}.json"
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2),
        mimetype="application/json",
        headers={**PRIVATE, "Content-Disposition": f'attachment; filename="{name}"'},
    )


def recent_statements(session: Session, member: Member, now: datetime) -> list[MonthStatement]:
    """The member's statements of the last twelve months that have something on them,
    the latest first (this month's is provisional)."""
    app = runtime()
    month = local_today(session, now).replace(day=1)
    found = []
    for _step in range(12):
        one = statement(session, member, month, now, app.settings.billing)
        if not one.is_empty:
            found.append(one)
        month = previous_month(month)
    return found


@blp.get("/<token>/statements/<month>")
def statement_page(token: str, month: str) -> tuple[str, int, dict[str, str]] | tuple[str, int]:
    """One of the member's monthly statements, day by day."""
    app = runtime()
    try:
        first = datetime.strptime(month, "%Y-%m").date()
    except ValueError:
        return render_template(
            "message.html", title=_("Relevé introuvable"), message=_("Ce mois n'existe pas.")
        ), 404
    member_id = _member_id(token)
    with app.session() as session:
        member = _holder(session, member_id)
        invoices = session.scalars(
            select(Invoice)
            .where(Invoice.member_id == member_id, Invoice.month == first)
            .order_by(Invoice.issued_on, Invoice.id)
        ).all()
        page = render_template(
            "me_statement.html",
            statement=statement(session, member, first, app.now(), app.settings.billing),
            currency=app.settings.billing.currency,
            back=url_for("me.visibility", token=token),
            invoices=invoices,
            token=token,
        )
    return page, 200, PRIVATE


@blp.get("/<token>/invoices/<int:invoice_id>.pdf")
def invoice_file(token: str, invoice_id: int) -> Response | tuple[str, int]:
    """One of the member's own invoices (or credit notes) as a PDF."""
    member_id = _member_id(token)
    with runtime().session() as session:
        _holder(session, member_id)
        found = session.get(Invoice, invoice_id)
        if found is None or found.member_id != member_id:
            return render_template(
                "message.html",
                title=_("Facture introuvable"),
                message=_("Cette facture n'existe pas."),
            ), 404
        return Response(
            invoice_pdf(found),
            mimetype="application/pdf",
            headers={**PRIVATE, "Content-Disposition": f'attachment; filename="{found.label}.pdf"'},
        )


def _notes() -> dict[str, str]:
    """The confirmations waiting to be shown, by the section of the page they belong to."""
    flashed: list[tuple[str, str]] = get_flashed_messages(with_categories=True)  # type: ignore[assignment]
    return dict(flashed)


#: The together page's forms, by action -> the section their confirmation shows in.
SECTIONS = {
    "consents": "consents-title",
    "watch": "watch-title",
    "unwatch": "watch-title",
    "propose": "notice-title",
}


@blp.route("/<token>/together", methods=["GET", "POST"])
def together(token: str) -> WerkzeugResponse | tuple[str, int, dict[str, str]]:
    """Between members: being named as a guests' host at the kiosk, letting others be
    told of one's arrival, and asking to be told of others' (each side must agree)."""
    app = runtime()
    now = app.now()
    member_id = _member_id(token)
    with app.transaction() as session:
        member = _holder(session, member_id)
        problem, status, problem_at = None, 200, "top"
        if request.method == "POST":
            action = request.form.get("action", "")
            problem = _change_together(session, member, request.form, now)
            if problem is None:
                flash(_("C'est enregistré."), SECTIONS.get(action, "top"))
                anchor = SECTIONS.get(action, "top")
                return redirect(url_for("me.together", token=token, _anchor=anchor), 303)
            status = 400
            problem_at = SECTIONS.get(action, "top")
        watching = session.scalars(
            select(ArrivalWatch).where(ArrivalWatch.watcher_id == member.id)
        ).all()
        watched = {watch.watched_id: session.get(Member, watch.watched_id) for watch in watching}
        page = render_template(
            "me_together.html",
            member=member,
            token=token,
            notes=_notes(),
            problem=(problem_at, problem) if problem else None,
            watched=[m for m in watched.values() if m is not None and m.erased_at is None],
            may_watch=[m for m in may_watch(session, member) if m.id not in watched],
            signing_key=member_secret(str(current_app.config["SECRET_KEY"]), member.id),
            sites=session.scalars(select(Site).order_by(Site.name)).all(),
            today=local_today(session, now),
            proposed=session.scalars(
                select(Announcement)
                .where(Announcement.proposed_by_id == member.id)
                .order_by(Announcement.created_at.desc())
                .limit(10)
            ).all(),
        )
    return page, status, PRIVATE


@blp.post("/<token>/invite")
def invite_guest(
    token: str,
) -> WerkzeugResponse | tuple[str, int] | tuple[str, int, dict[str, str]]:
    """A member invites someone for a day: their pass, shown at once (and e-mailed)."""
    app = runtime()
    now = app.now()
    member_id = _member_id(token)
    with app.transaction() as session:
        member = _holder(session, member_id)
        site = session.get(Site, request.form.get("site", type=int) or 0) or session.scalar(
            select(Site).order_by(Site.id).limit(1)
        )
        name = request.form.get("name", "").strip()
        email = request.form.get("email", "").strip().lower() or None
        try:
            day = date.fromisoformat(request.form.get("day", ""))
        except ValueError:
            day = None
        problem = None
        if site is None:
            problem = _("Aucun lieu n'est encore ouvert.")
        elif not 1 <= len(name) <= 100:
            problem = _("Donnez le prénom de votre invité·e.")
        elif email is not None and not EMAIL.fullmatch(email):
            problem = _("Cet e-mail ne semble pas valide.")
        elif day is None:
            problem = _("Choisissez le jour.")
        if problem is None and site is not None and day is not None:
            try:
                invited = invite(
                    session,
                    site,
                    day,
                    name,
                    email,
                    member,
                    f"member:{member.id}",
                    now,
                    app.badge_private_key,
                )
            except GuestError as error:
                problem = refusal_text(error)
            else:
                if email and app.settings.mail.host:
                    mail_pass(session, invited, email, now)
                return redirect(pass_link(invited))
        message = render_template("message.html", title=_("Invitation"), message=problem)
        return message, 400, PRIVATE


def _change_together(session: Session, member: Member, form: Any, now: datetime) -> str | None:
    """Apply one of the page's forms; a message when the form is wrong."""
    action = form.get("action")
    if action == "propose":
        try:
            days = int(form.get("days", ""))
        except ValueError:
            days = 0
        if not 1 <= days <= 30:
            return str(_("Affichée de 1 à 30 jours."))
        try:
            propose(session, member, form.get("text", ""), now + timedelta(days=days), now)
        except AnnouncementError as error:
            return (
                str(_("Écrivez l'annonce, en 280 caractères au plus."))
                if error.code in ("empty", "long")
                else str(_("Affichée de 1 à 30 jours."))
            )
        return None
    if action == "consents":
        url = form.get("webhook", "").strip()
        if url:
            app = runtime()
            allowed = outbound.networks(app.settings.webhooks.allowed_networks)
            try:
                outbound.check(url, allowed, app.resolve)
            except outbound.AddressRefused as refusal:
                return refusal_text(refusal)
        member.host_consent_at = (member.host_consent_at or now) if form.get("host") else None
        member.arrival_alerts_at = (member.arrival_alerts_at or now) if form.get("alerts") else None
        member.alert_webhook_url = url or None
        return None
    try:
        other = int(form.get("member", ""))
    except ValueError:
        return str(_("Choisissez quelqu'un dans la liste."))
    if action == "watch":
        if other not in {m.id for m in may_watch(session, member)}:
            return str(_("Cette personne n'a pas accepté que l'on soit prévenu de son arrivée."))
        exists = session.scalar(
            select(ArrivalWatch).where(
                ArrivalWatch.watcher_id == member.id, ArrivalWatch.watched_id == other
            )
        )
        if exists is None:
            session.add(ArrivalWatch(watcher_id=member.id, watched_id=other, created_at=now))
        return None
    if action == "unwatch":
        session.execute(
            delete(ArrivalWatch).where(
                ArrivalWatch.watcher_id == member.id, ArrivalWatch.watched_id == other
            )
        )
        return None
    return str(_("Ce formulaire n'est pas reconnu : rechargez la page."))


@blp.route("/<token>", methods=["GET", "POST"])
def visibility(token: str) -> WerkzeugResponse | tuple[str, int, dict[str, str]]:
    """Show the member's page; a POST changes their visibility choice, then comes back to
    the form (post/redirect/get), where the confirmation is."""
    app = runtime()
    now = app.now()
    member_id = _member_id(token)
    with app.transaction() as session:
        member = _holder(session, member_id)
        if request.method == "POST":
            choice = request.form.get("visibility", "")
            if choice not in {level.value for level in Visibility}:
                problem = _("Choisissez l'une des trois possibilités.")
                return _page(session, member, token, ("screen", problem)), 400, PRIVATE
            _record_choice(member, Visibility(choice), "internet" in request.form, now)
            flash(_("C'est enregistré."), "screen")
            return redirect(url_for("me.visibility", token=token, _anchor="screen"), 303)
        return _page(session, member, token), 200, PRIVATE


def _page(
    session: Session, member: Member, token: str, problem: tuple[str, str] | None = None
) -> str:
    """The member's page; `problem`: (the section it belongs to, what is wrong)."""
    app = runtime()
    now = app.now()
    has_qr = any(b.kind is BadgeKind.QR and b.revoked_at is None for b in member.badges)
    form = ProfileForm(
        data={
            "working_on": member.working_on,
            "open_to_chat_about": member.open_to_chat_about,
            "skills": ", ".join(str(skill) for skill in member.skills),
        }
    )
    return render_template(
        "me.html",
        member=member,
        choices=CHOICES,
        notes=_notes(),
        problem=problem,
        has_qr=has_qr,
        history=visit_history(session, member.id, now),
        hours_minutes=hours_minutes,
        badge_url=url_for("me.badge_png", token=token),
        data_url=url_for("me.data_file", token=token),
        token=token,
        statements=recent_statements(session, member, now),
        currency=app.settings.billing.currency,
        form=form,
        card=preview(member),
    )


class ProfileForm(FlaskForm):  # type: ignore[misc]
    """What a member writes about themself for the board: the limits of the staff's form."""

    working_on = StringField(_l("Je travaille sur"), validators=[Length(max=500)])
    open_to_chat_about = StringField(_l("J'aimerais parler de"), validators=[Length(max=500)])
    skills = StringField(
        _l("Mes compétences (séparées par des virgules)"), validators=[Length(max=600)]
    )
    photo = FileField(_l("Une photo (JPEG, PNG ou WebP), facultatif"))
    remove_photo = BooleanField(_l("Retirer ma photo"))

    def validate_skills(self, field: Any) -> None:
        if any(len(skill) > MAX_SKILL for skill in split_skills(field.data)):
            raise InvalidField(
                _("Chaque compétence tient en %(num)d caractères au plus.", num=MAX_SKILL)
            )


#: The longest skill, as members.MemberSchema takes it (the board shows them as tags).
MAX_SKILL = 60


def split_skills(text: str | None) -> list[str]:
    return [skill.strip() for skill in (text or "").split(",") if skill.strip()]


def preview(member: Member) -> dict[str, Any] | None:
    """The member's card as the board shows it when they are here (None: not named)."""
    if member.visibility is Visibility.HIDDEN:
        return None
    name = board_name(member)
    shown: dict[str, Any] = {"name": name, "initials": initials(name), "profile": False}
    key = card_key(str(current_app.config["SECRET_KEY"]), member.id)
    total = 0
    for char in key:  # the colour board.js gives the same card, among its eight
        total = (total * 31 + ord(char)) & 0xFFFFFFFF
    shown["colour"] = total % 8
    if member.visibility is Visibility.PROFILE:
        shown.update(
            profile=True,
            working_on=member.working_on,
            chat_about=member.open_to_chat_about,
            skills=[str(skill) for skill in member.skills][:4],
            photo=bool(member.photo),
        )
    return shown


@blp.post("/<token>/profile")
def profile(token: str) -> WerkzeugResponse | tuple[str, int, dict[str, str]]:
    """The member writes their own board profile (what they work on, skills, what they
    would chat about, a photo); then back to the form, where the confirmation is."""
    app = runtime()
    member_id = _member_id(token)
    form = ProfileForm()
    old_photo, problem = None, None
    with app.transaction() as session:
        member = _holder(session, member_id)
        if not form.validate_on_submit():
            problem = next(iter(form.errors.values()))[0] if form.errors else None
            problem = problem or _("Ce formulaire n'est pas reconnu : rechargez la page.")
            return _page(session, member, token, ("card", problem)), 400, PRIVATE
        upload = form.photo.data
        address = None
        if upload and getattr(upload, "filename", ""):
            try:
                address = store_photo(app.settings.data_path, upload.read())
            except PhotoError as error:
                message = refusal_text(error)
                return _page(session, member, token, ("card", message)), 400, PRIVATE
        member.working_on = (form.working_on.data or "").strip()
        member.open_to_chat_about = (form.open_to_chat_about.data or "").strip()
        member.skills = split_skills(form.skills.data)
        if address is not None or form.remove_photo.data:
            old_photo, member.photo = member.photo, address
    delete_photo(app.settings.data_path, old_photo)
    flash(_("C'est enregistré."), "card")
    return redirect(url_for("me.visibility", token=token, _anchor="card"), 303)


@blp.get("/<token>/photo")
def own_photo(token: str) -> WerkzeugResponse:
    """The member's own photo, for the preview of their card (whatever their level)."""
    member_id = _member_id(token)
    with runtime().session() as session:
        address = _holder(session, member_id).photo
    response = send_photo(address)
    response.headers["Cache-Control"] = "no-store"
    return response
