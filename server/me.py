"""A member's own page, reached through a signed link: choose what the board shows."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, current_app, render_template, request
from sqlalchemy import select

from badges.cards import qr_png
from server.links import LinkError, read_member_token
from server.models import Badge, BadgeKind, Member, Visibility
from server.runtime import runtime

blp = Blueprint("me", __name__, url_prefix="/me")

CHOICES = [
    (Visibility.HIDDEN, "Discret", "Compté parmi les présents (« +3 autres »), jamais nommé."),
    (Visibility.FIRST_NAME, "Prénom", "Votre prénom apparaît sur l'écran de la Cantine."),
    (
        Visibility.PROFILE,
        "Profil",
        "Prénom, ce sur quoi vous travaillez, vos compétences et les sujets dont vous "
        "aimeriez parler : pour que les autres viennent vous dire bonjour.",
    ),
]


NO_QR_BADGE = "Vous n'avez pas encore de badge QR : demandez-en un à l'accueil."


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


def _refusal(error: LinkError) -> tuple[str, int]:
    if error.expired:
        message = "Ce lien a expiré. Demandez-en un nouveau à l'accueil."
        return render_template("message.html", message=message), 410
    message = "Ce lien n'est pas valide. Vérifiez qu'il est complet, ou demandez-en un à l'accueil."
    return render_template("message.html", message=message), 404


@blp.get("/<token>/badge.png")
def badge_png(token: str) -> Response | tuple[str, int]:
    """The member's QR badge as an image, to show on a phone at the door."""
    try:
        member_id = read_member_token(str(current_app.config["SECRET_KEY"]), token)
    except LinkError as error:
        return _refusal(error)
    with runtime().session() as session:
        badge = session.scalar(
            select(Badge)
            .where(
                Badge.member_id == member_id,
                Badge.kind == BadgeKind.QR,
                Badge.revoked_at.is_(None),
            )
            .order_by(Badge.issued_at.desc(), Badge.id.desc())
            .limit(1)
        )
        if badge is None:
            return render_template("message.html", message=NO_QR_BADGE), 404
        image = qr_png(badge.value)
    return Response(image, mimetype="image/png", headers={"Cache-Control": "no-store"})


@blp.route("/<token>", methods=["GET", "POST"])
def visibility(token: str) -> tuple[str, int]:
    """Show the member's visibility choice; a POST changes it."""
    try:
        member_id = read_member_token(str(current_app.config["SECRET_KEY"]), token)
    except LinkError as error:
        return _refusal(error)
    app = runtime()
    with app.transaction() as session:
        member = session.get(Member, member_id)
        if member is None or member.erased_at is not None:
            return _refusal(LinkError(expired=False))
        saved, problem, status = False, None, 200
        if request.method == "POST":
            choice = request.form.get("visibility", "")
            if choice not in {level.value for level in Visibility}:
                problem, status = "Choisissez l'une des trois possibilités.", 400
            else:
                _record_choice(member, Visibility(choice), "internet" in request.form, app.now())
                saved = True
        has_qr = any(b.kind is BadgeKind.QR and b.revoked_at is None for b in member.badges)
        page = render_template(
            "me.html",
            member=member,
            choices=CHOICES,
            saved=saved,
            problem=problem,
            has_qr=has_qr,
        )
    return page, status
