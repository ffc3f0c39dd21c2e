"""A guest's one-day pass, reached through the link it was sent with: the QR code to
show at the kiosk, the day and the place."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, abort, current_app, render_template, url_for
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session

from badges.cards import qr_png
from server.domain.credentials import token_of
from server.runtime import external_url, runtime
from server.store.models import Badge, Delivery, GuestDay

blp = Blueprint("passes", __name__, url_prefix="/passes")

PRIVATE = {"Cache-Control": "no-store"}


def _keys() -> URLSafeSerializer:
    return URLSafeSerializer(str(current_app.config["SECRET_KEY"]), salt="guest-pass")


def pass_link(guest_day: GuestDay) -> str:
    return external_url("passes.page", key=_keys().dumps(guest_day.id))


def mail_pass(session: Session, guest_day: GuestDay, email: str, now: datetime) -> None:
    """Queue the pass's e-mail (sent by server.jobs.outbox, retried if the server is down)."""
    site = guest_day.site
    body = _(
        "Bonjour %(name)s,\n\nVous êtes attendu·e à %(site)s le %(day)s. Votre pass du "
        "jour : %(link)s\nMontrez son code QR à la borne, à l'arrivée et au départ.\n",
        name=guest_day.guest.given_name,
        site=site.name,
        day=guest_day.day.strftime("%d/%m/%Y"),
        link=pass_link(guest_day),
    )
    subject = _("Votre pass pour %(site)s", site=site.name)
    session.add(
        Delivery(
            channel="email",
            target=email,
            event="guest_pass",
            payload={"subject": subject, "body": body},
            created_at=now,
            next_attempt_at=now,
        )
    )


def _guest_day(key: str) -> int:
    try:
        return int(_keys().loads(key))
    except (BadSignature, ValueError, TypeError):
        abort(404)


@blp.get("/<key>")
def page(key: str) -> tuple[str, int, dict[str, str]]:
    with runtime().session() as session:
        found = session.get(GuestDay, _guest_day(key))
        if found is None or found.badge_id is None:
            abort(404)
        html = render_template(
            "pass.html", guest_day=found, site=found.site, png=url_for("passes.png", key=key)
        )
    return html, 200, PRIVATE


@blp.get("/<key>.png")
def png(key: str) -> Response:
    with runtime().session() as session:
        found = session.get(GuestDay, _guest_day(key))
        badge = session.get(Badge, found.badge_id) if found and found.badge_id else None
        if badge is None or badge.revoked_at is not None:
            abort(404)
        token = token_of(session, badge, runtime().badge_private_key)
        if token is None:
            abort(404)
        return Response(qr_png(token), mimetype="image/png", headers=PRIVATE)
