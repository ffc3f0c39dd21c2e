"""The wall board page (`/board/<site>`), and who may open it.

Presence data is for the people of the space, not the internet (CNIL): a board needs
the site's display token in its URL, or a client address inside `[board]
allowed_networks` (the space's own LAN). The page itself is a shell: it draws the state
embedded in it, then follows the live changes over Socket.IO (`server.web.live`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_time
from flask import Blueprint, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from presence.errors import error_body
from server.domain.announcements import current
from server.domain.board import BoardAccess, board_state, find_board_site
from server.domain.meetups import today_at
from server.runtime import Runtime, runtime
from server.store.models import Site

blp = Blueprint("board", __name__)


def _client(app: Runtime) -> tuple[str | None, list[str]]:
    """This request's address and the networks that may open a board without a token."""
    return request.remote_addr, app.settings.board.allowed_networks


#: What the board says, per language. Counts use the plural forms of Intl.PluralRules.
#: (The board speaks the language of its screen, `?lang=` or `[board] language`, not the
#: reader's: these are not in the gettext catalogue.)
STRINGS: dict[str, dict[str, Any]] = {
    "fr": {
        "here_since": "ici depuis {time}",
        "people_here": {"one": "{n} personne ici", "other": "{n} personnes ici"},
        "others": {"one": "+{n} autre", "other": "+{n} autres"},
        "only_hidden": {
            "one": "{n} personne est là, en toute discrétion",
            "other": "{n} personnes sont là, en toute discrétion",
        },
        "empty": "Personne pour l'instant.",
        "empty_hint": (
            "Badgez à l'entrée\u202f: vous serez la première personne de la journée\u202f!"
        ),
        "opens_at": "Ouverture à {time}.",
        "reopens_at": "Réouverture à {time}.",
        "all_gone": "Tout le monde est parti — à bientôt\u202f!",
        "closed_for_today": "Fermé pour aujourd'hui.",
        "capacity": "{n} / {capacity} places",
        "open": "Ouvert",
        "closed": "Fermé",
        "closed_but_here": {
            "one": "Fermé — {n} personne encore là",
            "other": "Fermé — {n} personnes encore là",
        },
        "hours": "Aujourd'hui\u202f: {hours}",
        "no_hours": "Fermé aujourd'hui",
        # French puts a narrow no-break space before a colon; English puts none.
        "label": "{label}\u202f: ",
        "working_on": "Travaille sur",
        "chat_about": "Envie de parler de",
        "skills_line": {
            "one": "{n} personne ici s'y connaît en {skill}",
            "other": "{n} personnes ici s'y connaissent en {skill}",
        },
        "skills_more": "et aussi\u202f: {skills}",
        "tap_hint": "Badgez à l'entrée pour apparaître ici",
        "offline": "Connexion perdue, reconnexion…",
        "refused": (
            "Cet écran n'a plus accès au tableau\u202f: demandez un nouveau lien à l'accueil."
        ),
        "tonight": "Aujourd'hui",
        "notices": "Annonces",
    },
    "en": {
        "here_since": "here since {time}",
        "people_here": {"one": "{n} person here", "other": "{n} people here"},
        "others": {"one": "+{n} other", "other": "+{n} others"},
        "only_hidden": {
            "one": "{n} person is here, keeping a low profile",
            "other": "{n} people are here, keeping a low profile",
        },
        "empty": "Nobody here right now.",
        "empty_hint": "Tap your badge at the door: be the first one today!",
        "opens_at": "Opens at {time}.",
        "reopens_at": "Reopens at {time}.",
        "all_gone": "Everyone has left — see you soon!",
        "closed_for_today": "Closed for the day.",
        "capacity": "{n} of {capacity} seats",
        "open": "Open",
        "closed": "Closed",
        "closed_but_here": {
            "one": "Closed — {n} person still here",
            "other": "Closed — {n} people still here",
        },
        "hours": "Today: {hours}",
        "no_hours": "Closed today",
        "label": "{label}: ",
        "working_on": "Working on",
        "chat_about": "Happy to chat about",
        "skills_line": {
            "one": "{n} person here knows about {skill}",
            "other": "{n} people here know about {skill}",
        },
        "skills_more": "and also: {skills}",
        "tap_hint": "Tap your badge at the door to show up here",
        "offline": "Connection lost, reconnecting…",
        "refused": "This screen can no longer show the board: ask the front desk for a new link.",
        "tonight": "Today",
        "notices": "Notices",
    },
}

REFUSALS = {
    "fr": {
        BoardAccess.NO_SUCH_SITE: "Il n'y a pas de lieu à cette adresse.",
        BoardAccess.TOKEN_REQUIRED: (
            "Le tableau des présences est réservé aux écrans du lieu. "
            "Ouvrez le lien d'écran donné par l'accueil (il contient une clé)."
        ),
        BoardAccess.TOKEN_INVALID: (
            "Ce lien d'écran n'est plus valide : l'accueil en a peut-être créé un nouveau."
        ),
    },
    "en": {
        BoardAccess.NO_SUCH_SITE: "There is no space at this address.",
        BoardAccess.TOKEN_REQUIRED: (
            "The presence board is for the space's own screens. "
            "Open the screen link from the front desk (it holds a key)."
        ),
        BoardAccess.TOKEN_INVALID: (
            "This screen link is no longer valid: the front desk may have made a new one."
        ),
    },
}


def _language() -> str:
    asked = request.args.get("lang", "")
    return asked if asked in STRINGS else runtime().settings.board.language


def strip(
    session: Session, site: Site, now: datetime, language: str
) -> dict[str, list[dict[str, str]]]:
    """The board's strip: today's events still to come or under way, and announcements.

    Times are on the 24-hour clock in both languages, as everywhere on the board."""
    zone = ZoneInfo(site.timezone)
    return {
        "events": [
            {"title": event.title, "at": format_time(event.starts_at, "HH:mm", zone, language)}
            for event in today_at(session, site, now)
        ],
        "announcements": [{"text": note.text} for note in current(session, now, site.id)],
    }


@blp.get("/board/<slug>/strip")
def strip_json(slug: str) -> tuple[dict[str, Any], int, dict[str, str]]:
    """The strip again (a board asks every few minutes): under the board's own access."""
    app = runtime()
    headers = {"Cache-Control": "no-store"}
    with app.session() as session:
        token = request.args.get("token") or None
        access, site = find_board_site(session, slug, token, *_client(app))
        if site is None:
            status = 404 if access is BoardAccess.NO_SUCH_SITE else 403
            return error_body(access.value, REFUSALS[_language()][access]), status, headers
        return strip(session, site, app.now(), _language()), 200, headers


@blp.get("/board")
def first_site() -> Response | tuple[str, int]:
    """The board of the installation's first site (each site has its own address)."""
    with runtime().session() as session:
        slug = session.scalar(select(Site.slug).order_by(Site.id).limit(1))
    if slug is None:
        language = _language()
        message = REFUSALS[language][BoardAccess.NO_SUCH_SITE]
        return render_template("board_refused.html", message=message, lang=language), 404
    query: dict[str, Any] = request.args.to_dict()
    return redirect(url_for("board.page", slug=slug, **query))


@blp.get("/board/<slug>")
def page(slug: str) -> tuple[str, int, dict[str, str]]:
    app = runtime()
    language = _language()
    token = request.args.get("token") or None
    headers = {"Cache-Control": "no-store"}
    with app.session() as session:
        access, site = find_board_site(session, slug, token, *_client(app))
        if site is None:
            status = 404 if access is BoardAccess.NO_SUCH_SITE else 403
            message = REFUSALS[language][access]
            page = render_template("board_refused.html", message=message, lang=language)
            return page, status, headers
        state = board_state(session, site, app.now(), app.board.secret)
        setup = {
            "site": slug,
            "token": token,
            "lang": language,
            "strings": STRINGS[language],
            "strip": strip(session, site, app.now(), language),
        }
    return render_template("board.html", state=state, setup=setup, lang=language), 200, headers
