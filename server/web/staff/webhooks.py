"""Webhooks (admins): the URLs told of check-ins, check-outs, unknown badges and events,
in the format their tool reads, and the log of what was sent to them."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import Field, SelectField, SelectMultipleField, URLField, widgets
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]
from wtforms.validators import DataRequired, Length, Regexp, ValidationError

from server.domain import audit, outbound
from server.domain.sites import home_zone
from server.domain.webhooks import CHECK_IN, CHECK_OUT, EVENT_CHECK_IN, UNKNOWN_BADGE, new_secret
from server.i18n import refusal_text
from server.runtime import runtime
from server.store.models import Delivery, Site, Webhook
from server.web.staff import actor, admin_only, blp

EVENT_NAMES = {
    CHECK_IN: _l("arrivées"),
    CHECK_OUT: _l("départs"),
    UNKNOWN_BADGE: _l("badges inconnus"),
    EVENT_CHECK_IN: _l("entrées aux événements"),
}
FORMAT_NAMES = {
    "json": _l("JSON (pour vos outils)"),
    "slack": _l("Slack ou Mattermost (une phrase)"),
    "matrix": _l("Matrix, webhook hookshot (une phrase)"),
}
#: What a failed call left (`Delivery.last_error`), said to people; never the answer's text.
ERROR_NAMES = {
    outbound.INVALID_ADDRESS: _l("adresse invalide"),
    outbound.REFUSED_ADDRESS: _l("adresse interne refusée (locale, privée ou réservée)"),
    outbound.UNRESOLVABLE: _l("nom de machine introuvable"),
    outbound.TIMEOUT: _l("pas de réponse à temps"),
    outbound.TLS_FAILED: _l("échec de la connexion sécurisée (certificat ?)"),
    outbound.CONNECTION_FAILED: _l("connexion impossible"),
}
RECENT = 50


def error_text(code: str) -> str:
    """A delivery's error code as a phrase: "http_404" says who answered what."""
    if code.startswith("http_") and code[5:].isdigit():
        return str(_("le destinataire a répondu %(status)s", status=code[5:]))
    return str(ERROR_NAMES.get(code, _l("échec")))


def callable_address(_form: FlaskForm, field: Field) -> None:
    """Refuse an address the server will not call (see `server.domain.outbound`)."""
    if field.errors:  # not even an http(s) address: that error says it
        return
    app = runtime()
    allowed = outbound.networks(app.settings.webhooks.allowed_networks)
    try:
        outbound.check(field.data or "", allowed, app.resolve)
    except outbound.AddressRefused as refusal:
        raise ValidationError(refusal_text(refusal)) from None


class WebhookForm(FlaskForm):  # type: ignore[misc]
    url = URLField(
        _l("Adresse (URL)"),
        validators=[
            DataRequired(),
            Length(max=500),
            Regexp(r"^https?://[^\s]+$", message=_l("Une adresse http:// ou https://.")),
            callable_address,
        ],
    )
    events = SelectMultipleField(
        _l("Prévenir de"),
        choices=[SelectChoice(value, label) for value, label in EVENT_NAMES.items()],
        default=[CHECK_IN, CHECK_OUT],
        validators=[DataRequired(message=_l("Choisissez au moins un événement."))],
        option_widget=widgets.CheckboxInput(),
        widget=widgets.ListWidget(prefix_label=False),
    )
    format = SelectField(
        _l("Format"),
        choices=[SelectChoice(value, label) for value, label in FORMAT_NAMES.items()],
        default="json",
    )
    site = SelectField(_l("Lieu"), default="")


@blp.route("/webhooks", methods=["GET", "POST"])
@admin_only
def webhooks() -> str | Response:
    app = runtime()
    form = WebhookForm()
    with app.session() as session:
        sites = session.scalars(select(Site).order_by(Site.name)).all()
        form.site.choices = [SelectChoice("", _("Tous les lieux"))] + [
            SelectChoice(str(site.id), site.name) for site in sites
        ]
    if form.validate_on_submit():
        with app.transaction() as session:
            hook = Webhook(
                url=form.url.data,
                events=list(form.events.data or []),
                format=form.format.data,
                secret=new_secret(),
                site_id=int(form.site.data) if form.site.data else None,
                created_at=app.now(),
                created_by=actor(),
            )
            session.add(hook)
            session.flush()
            audit.record(
                session,
                app.now(),
                actor(),
                "webhook.add",
                f"webhook:{hook.id}",
                url=hook.url,
                events=hook.events,
            )
        flash(_("Webhook ajouté : chaque envoi est signé avec sa clé (ci-dessous)."))
        return redirect(url_for("staff.webhooks"))
    with app.session() as session:
        hooks = session.scalars(select(Webhook).order_by(Webhook.id)).all()
        sent = session.scalars(
            select(Delivery)
            .where(Delivery.channel == "webhook", Delivery.webhook_id.is_not(None))
            .order_by(Delivery.id.desc())
            .limit(RECENT)
        ).all()
        return render_template(
            "staff/webhooks.html",
            form=form,
            hooks=hooks,
            sent=sent,
            sites={site.id: site.name for site in sites},
            event_names=EVENT_NAMES,
            format_names=FORMAT_NAMES,
            error_text=error_text,
            default_tz=str(home_zone(session)),
        )


@blp.post("/webhooks/<int:hook_id>/<any('disable', 'enable'):action>")
@admin_only
def webhook_action(hook_id: int, action: str) -> Response:
    app = runtime()
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    with app.transaction() as session:
        hook = session.get(Webhook, hook_id)
        if hook is None:
            abort(404)
        hook.disabled_at = app.now() if action == "disable" else None
        audit.record(session, app.now(), actor(), f"webhook.{action}", f"webhook:{hook.id}")
    return redirect(url_for("staff.webhooks"))
