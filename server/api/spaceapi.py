"""SpaceAPI (v15): the space's public status, for maps, bots and dashboards.

Public by design, so it says only what anyone at the door could see: open or not, and
how many people are in. Presence data belongs to the people of the space (CNIL): a name
appears only for a member who gave a separate consent to be named on the internet, on
top of letting the board name them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import ColumnElement, select, true

from presence.errors import error_body
from server.domain import presence
from server.domain.board import board_name, is_named
from server.runtime import external_url, runtime
from server.store.models import Site

blp = Blueprint("spaceapi", __name__)


def spaceapi_document(
    site: Site, head_count: int, is_open: bool, base_url: str, names: Sequence[str] = ()
) -> dict[str, Any]:
    """The SpaceAPI v15 document of a site; `names` of present members who consented."""
    people: dict[str, Any] = {"value": head_count, "location": site.name}
    if names:
        people["names"] = list(names)
    document: dict[str, Any] = {
        "api_compatibility": ["15"],
        "space": site.name,
        "logo": site.logo_url or external_url("static", filename="logo.svg"),
        "url": site.url or base_url,
        "contact": {"email": site.contact_email} if site.contact_email else {},
        "state": {"open": is_open},
        "sensors": {"people_now_present": [people]},
    }
    if site.lat is not None and site.lon is not None:
        location: dict[str, Any] = {"lat": site.lat, "lon": site.lon, "timezone": site.timezone}
        if site.address:
            location["address"] = site.address
        document["location"] = location
    return document


def _answer(where: ColumnElement[bool]) -> Response:
    app = runtime()
    now = app.now()
    with app.session() as session:
        site = session.scalar(select(Site).where(where).order_by(Site.id).limit(1))
        if site is None:
            response = jsonify(error_body("not_found", "No such site."))
            response.status_code = 404
            return response
        visits = presence.present_visits(session, site.id, now)
        names = [
            board_name(visit.member)
            for visit in visits
            if is_named(visit.member) and visit.member.internet_consent_at is not None
        ]
        # Open during opening hours, and also when people are in after hours: the same
        # answer as the board's header ("Fermé — 3 personnes encore là"), from one function.
        state = presence.open_state(presence.opening_hours(site), now, len(visits))
        is_open = state.is_open
        document = spaceapi_document(site, len(visits), is_open, external_url("home.index"), names)
    response = jsonify(document)
    response.headers["Access-Control-Allow-Origin"] = "*"  # public, read-only, no cookies
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


@blp.get("/spaceapi.json")
def main_site() -> Response:
    """The installation's first site (each site also has its own address)."""
    return _answer(true())


@blp.get("/sites/<slug>/spaceapi.json")
def one_site(slug: str) -> Response:
    return _answer(Site.slug == slug)
