"""Staff pages for badges and kiosks: enrol an unknown badge in one click, revoke a badge,
add a kiosk (its token shown once), rotate a token. Each action is in the audit trail."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import DataRequired, Length

from badges.uid import BadUid
from server.domain import audit
from server.domain.credentials import revoke
from server.domain.desk import find_at_desk
from server.domain.kiosks import add_kiosk, health, rotate_token
from server.domain.members import MemberError, assign_badge
from server.i18n import refusal_text
from server.runtime import runtime
from server.store.models import Badge, BadgeKind, Kiosk, KioskMode, Member, Site
from server.web.staff import actor, admin_only, blp

MODES = [
    SelectChoice(KioskMode.TOGGLE.value, _l("Entrée et sortie (bascule)")),
    SelectChoice(KioskMode.IN.value, _l("Entrée seulement")),
    SelectChoice(KioskMode.OUT.value, _l("Sortie seulement")),
]


class KioskSettingsForm(FlaskForm):  # type: ignore[misc]
    site = SelectField(_l("Lieu"))
    mode = SelectField(_l("Mode"), choices=MODES, default=KioskMode.TOGGLE.value)


class KioskForm(KioskSettingsForm):
    name = StringField(_l("Nom de la borne"), validators=[DataRequired(), Length(max=100)])


@blp.post("/badges/enrol")
def badge_enrol() -> Response:
    """Give an unknown badge, just tapped at a kiosk, to a member: the next tap greets."""
    app = runtime()
    kind, value = request.form.get("kind", ""), request.form.get("value", "")
    who = request.form.get("member", "").strip()  # an id, or words of a name or e-mail
    with app.transaction() as session:
        if who.isdigit():
            member = session.get(Member, int(who))
        else:
            found = find_at_desk(session, who, limit=2)
            if len(found) > 1:
                flash(
                    _("Plusieurs membres correspondent à « %(who)s » : précisez.", who=who),
                    "problem",
                )
                return redirect(url_for("staff.dashboard"))
            member = found[0] if found else None
        if member is None or member.erased_at is not None or kind not in ("nfc", "qr"):
            flash(_("Choisissez un membre pour ce badge."), "problem")
            return redirect(url_for("staff.dashboard"))
        try:
            badge = assign_badge(session, member, BadgeKind(kind), value, "", app.now())
        except (BadUid, MemberError) as error:
            # BadUid's text comes from the badges library, in English only.
            flash(refusal_text(error) if isinstance(error, MemberError) else str(error), "problem")
            return redirect(url_for("staff.dashboard"))
        audit.record(
            session,
            app.now(),
            actor(),
            "badge.assign",
            f"member:{member.id}",
            badge=badge.id,
            hint=badge.value_hint,  # never the value: the audit trail outlives retention
        )
        name = member.given_name
    flash(_("Badge attribué à %(name)s : son prochain passage l'accueille.", name=name), "saved")
    return redirect(url_for("staff.dashboard"))


@blp.post("/badges/<int:badge_id>/revoke")
def badge_revoke(badge_id: int) -> Response:
    app = runtime()
    with app.transaction() as session:
        badge = session.get(Badge, badge_id)
        if badge is None:
            abort(404)
        revoke(badge, app.now())
        audit.record(
            session,
            app.now(),
            actor(),
            "badge.revoke",
            f"member:{badge.member_id}",
            request.form.get("reason", ""),
            badge=badge.id,
        )
        member_id = badge.member_id
    flash(_("Badge révoqué : il n'ouvre plus rien dès son prochain passage."), "saved")
    return redirect(url_for("staff.member", member_id=member_id))


def _with_sites(form: KioskSettingsForm, sites: list[Site]) -> KioskSettingsForm:
    form.site.choices = [SelectChoice(site.slug, site.name) for site in sites]
    return form


@blp.route("/kiosks", methods=["GET", "POST"])
def kiosks() -> str | tuple[str, int]:
    """The kiosks with their health; a new kiosk's token is shown here once."""
    app = runtime()
    now = app.now()
    new_token = None
    with app.session() as session:
        sites = list(session.scalars(select(Site).order_by(Site.id)))
    form = _with_sites(KioskForm(), sites)
    if request.method == "POST" and not current_user.is_admin:
        return render_template("staff/refused.html"), 403
    if form.validate_on_submit():
        name = (form.name.data or "").strip()
        with app.transaction() as session:
            site = session.scalar(select(Site).where(Site.slug == form.site.data))
            taken = session.scalar(select(Kiosk).where(Kiosk.name == name))
            if site is None or taken is not None:
                flash(_("Ce nom de borne existe déjà.") if taken else _("Lieu inconnu."), "problem")
            else:
                kiosk, new_token = add_kiosk(session, name, site, KioskMode(form.mode.data), now)
                audit.record(session, now, actor(), "kiosk.add", f"kiosk:{kiosk.id}")
    with app.session() as session:
        rows = [
            (kiosk, health(kiosk, now))
            for kiosk in session.scalars(select(Kiosk).order_by(Kiosk.name))
        ]
        settings = {kiosk.id: _settings_form(kiosk, sites) for kiosk, _state in rows}
        return render_template(
            "staff/kiosks.html", kiosks=rows, form=form, token=new_token, settings=settings
        )


def _settings_form(kiosk: Kiosk, sites: list[Site]) -> KioskSettingsForm:
    form = _with_sites(KioskSettingsForm(prefix=f"k{kiosk.id}"), sites)
    form.site.data, form.mode.data = kiosk.site.slug, kiosk.mode.value
    return form


@blp.post("/kiosks/<int:kiosk_id>")
@admin_only
def kiosk_edit(kiosk_id: int) -> Response:
    """Move a kiosk to another site or change its mode; its next tap follows."""
    app = runtime()
    with app.session() as session:
        sites = list(session.scalars(select(Site).order_by(Site.id)))
    form = _with_sites(KioskSettingsForm(prefix=f"k{kiosk_id}"), sites)
    if not form.validate_on_submit():
        flash(_("Choisissez un lieu et un mode."), "problem")
        return redirect(url_for("staff.kiosks"))
    with app.transaction() as session:
        kiosk = session.get(Kiosk, kiosk_id)
        site = session.scalar(select(Site).where(Site.slug == form.site.data))
        if kiosk is None or site is None:
            abort(404)
        kiosk.site_id, kiosk.mode = site.id, KioskMode(form.mode.data)
        audit.record(
            session,
            app.now(),
            actor(),
            "kiosk.edit",
            f"kiosk:{kiosk.id}",
            site=site.slug,
            mode=kiosk.mode.value,
        )
        name = kiosk.name
    flash(_("Borne %(name)s enregistrée.", name=name), "saved")
    return redirect(url_for("staff.kiosks"))


@blp.post("/kiosks/<int:kiosk_id>/rotate")
@admin_only
def kiosk_rotate(kiosk_id: int) -> str:
    app = runtime()
    with app.transaction() as session:
        kiosk = session.get(Kiosk, kiosk_id)
        if kiosk is None:
            abort(404)
        token = rotate_token(kiosk, app.now())
        audit.record(session, app.now(), actor(), "kiosk.rotate_token", f"kiosk:{kiosk.id}")
        name = kiosk.name
    return render_template("staff/kiosk_token.html", name=name, token=token)
