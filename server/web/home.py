"""`GET /`: what this server is and where to go next."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import func, select

from server.domain import presence
from server.runtime import runtime
from server.store.models import Kiosk, Member, Site

blp = Blueprint("home", __name__)


@blp.get("/")
def index() -> str:
    app = runtime()
    now = app.now()
    with app.session() as session:
        sites = [
            (site, presence.head_count(session, site.id, now))
            for site in session.scalars(select(Site).order_by(Site.name))
        ]
        members = session.scalar(
            select(func.count()).select_from(Member).where(Member.erased_at.is_(None))
        )
        kiosks = session.scalar(select(func.count()).select_from(Kiosk))
    return render_template("home.html", sites=sites, members=members, kiosks=kiosks)
