"""The public announcements page (the seeds' "mur virtuel d'annonces")."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import select

from server.domain.announcements import current
from server.domain.sites import home_zone
from server.runtime import runtime
from server.store.models import Site

blp = Blueprint("wall", __name__)


@blp.get("/announcements")
def announcements() -> str:
    app = runtime()
    with app.session() as session:
        sites = {site.id: site.name for site in session.scalars(select(Site))}
        return render_template(
            "announcements.html",
            notes=current(session, app.now()),
            sites=sites,
            zone=str(home_zone(session)),
        )
