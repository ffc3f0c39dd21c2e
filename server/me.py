"""A member's own page, reached through a signed link: choose what the board shows."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from server.links import LinkError, read_member_token
from server.models import Member, Visibility
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


def _refusal(error: LinkError) -> tuple[str, int]:
    if error.expired:
        message = "Ce lien a expiré. Demandez-en un nouveau à l'accueil."
        return render_template("me_error.html", message=message), 410
    message = "Ce lien n'est pas valide. Vérifiez qu'il est complet, ou demandez-en un à l'accueil."
    return render_template("me_error.html", message=message), 404


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
                member.visibility = Visibility(choice)
                # Consent is dated, and only a visible choice is a consent.
                member.visibility_consent_at = (
                    None if member.visibility is Visibility.HIDDEN else app.now()
                )
                saved = True
        page = render_template(
            "me.html", member=member, choices=CHOICES, saved=saved, problem=problem
        )
    return page, status
