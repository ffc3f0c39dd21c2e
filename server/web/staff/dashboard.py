"""The staff dashboard: who is here, today's arrivals, kiosks, badges waiting to be
enrolled; and the printable roll call of a site (every person present, for a fire
drill: the hidden ones too, since staff are the people entitled to know)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from flask import abort, render_template
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.domain import presence
from server.domain.credentials import UnknownBadge, unknown_badges
from server.domain.kiosks import clock_wrong, health
from server.domain.sites import find_site
from server.runtime import runtime
from server.store.models import Kiosk, Member, Site, Visit
from server.web import scroll_tables
from server.web.staff import blp


@dataclass(frozen=True)
class SiteNow:
    site: Site
    present: list[Visit]
    arrivals_today: int


def site_now(session: Session, site: Site, now: datetime) -> SiteNow:
    hours = presence.opening_hours(site)
    midnight = datetime.combine(hours.local_date(now), time(0), hours.zone)
    arrivals = session.scalar(
        select(func.count())
        .select_from(Visit)
        .where(Visit.site_id == site.id, Visit.checked_in_at >= midnight)
    )
    return SiteNow(site, list(presence.present_visits(session, site.id, now)), int(arrivals or 0))


@dataclass(frozen=True)
class KioskNow:
    """A kiosk's line: its health, and whether its clock needs putting right (see
    `kiosks.clock_wrong`); its badge reader is on the kiosk itself."""

    kiosk: Kiosk
    state: str
    clock_wrong: bool


def dashboard_now(session: Session, now: datetime, clock_tolerance: timedelta) -> dict[str, Any]:
    """What the dashboard shows, for the whole page and for its live fragment alike
    (`clock_tolerance`: how far off a kiosk's clock may be and still be called right)."""
    sites = [site_now(session, site, now) for site in session.scalars(select(Site))]
    kiosks = [
        KioskNow(kiosk, health(kiosk, now), clock_wrong(kiosk, now, clock_tolerance))
        for kiosk in session.scalars(select(Kiosk).order_by(Kiosk.name))
    ]
    waiting: list[UnknownBadge] = list(unknown_badges(session, now - timedelta(days=7)))
    members = session.scalars(
        select(Member)
        .where(Member.archived_at.is_(None))
        .order_by(Member.given_name, Member.family_name)
    ).all()
    return {
        "sites": sites,
        "kiosks": kiosks,
        "unknown": waiting,
        "now": now,
        "default_tz": sites[0].site.timezone if sites else "UTC",
        "members": members,
    }


@blp.get("/")
def dashboard() -> str:
    app = runtime()
    with app.session() as session:
        shown = dashboard_now(session, app.now(), app.rules.future_tolerance)
        return render_template("staff/dashboard.html", **shown)


@blp.get("/live")
def dashboard_live() -> str:
    """The changing part of the dashboard alone: staff.js asks for it when the `/staff`
    socket says something changed, and swaps it into the page."""
    app = runtime()
    with app.session() as session:
        shown = dashboard_now(session, app.now(), app.rules.future_tolerance)
        # Its tables in their scroll boxes, as on the page it is swapped into.
        return scroll_tables(render_template("staff/_dashboard_live.html", **shown))


@blp.get("/roll-call/<slug>")
def roll_call(slug: str) -> str:
    app = runtime()
    now = app.now()
    with app.session() as session:
        site = find_site(session, slug)
        if site is None:
            abort(404)
        return render_template("staff/roll_call.html", here=site_now(session, site, now), now=now)
