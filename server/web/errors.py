"""Our page for an error: in the reader's language, with what to do, never a traceback."""

from __future__ import annotations

import logging

from flask import Response, render_template
from flask_babel import lazy_gettext as _l

log = logging.getLogger(__name__)


#: The title and the advice of an error page, by status.
PAGES = {
    400: (
        _l("Demande incomprise"),
        _l("Cette demande est incomplète ou mal formée : revenez en arrière et recommencez."),
    ),
    403: (_l("Accès refusé"), _l("Cette page ne vous est pas ouverte.")),
    404: (
        _l("Page introuvable"),
        _l(
            "Aucune page à cette adresse : le lien est peut-être incomplet, "
            "ou la page a été retirée."
        ),
    ),
    405: (
        _l("Action impossible ici"),
        _l("Cette page ne permet pas cette action : revenez en arrière et recommencez."),
    ),
    413: (
        _l("Envoi trop volumineux"),
        _l("Ce que vous envoyez est trop lourd : essayez avec un fichier plus petit."),
    ),
    429: (
        _l("Trop de demandes"),
        _l("Trop de demandes d'affilée : attendez une minute et recommencez."),
    ),
    500: (
        _l("Erreur de notre côté"),
        _l(
            "Quelque chose n'a pas marché de notre côté ; l'équipe peut le retrouver "
            "dans le journal. Réessayez dans un moment."
        ),
    ),
    503: (
        _l("Un instant"),
        _l(
            "La base de données ne répond pas pour le moment ; rien n'a été enregistré. "
            "Réessayez dans un moment."
        ),
    ),
}


def error_page(status: int) -> tuple[Response | str, int]:
    """Our page for an error status; plain text if even that cannot be drawn."""
    title, advice = PAGES.get(status, PAGES[400] if status < 500 else PAGES[500])
    try:
        return render_template("message.html", title=title, message=advice), status
    except Exception:  # the page itself failed (a template needing the database...)
        log.exception("the error page for %d could not be drawn", status)
        return str(advice), status
