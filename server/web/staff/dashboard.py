"""The staff dashboard, the desk's home: what the desk must act on, a search that checks
a member in or out in a few keystrokes, who is here, today's arrivals, kiosks, badges
waiting to be enrolled; and the printable roll call of a site (every person present,
for a fire drill: the hidden ones too, since staff are the people entitled to know)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from server.domain import audit, presence
from server.domain.credentials import UnknownBadge, unknown_badges
from server.domain.desk import (
    DESK_REASON,
    find_at_desk,
    is_present,
    pack_empty,
    to_do,
    toggle_at_desk,
)
from server.domain.kiosks import clock_wrong, health
from server.domain.presence import TapResult
from server.domain.sites import find_site, local_today
from server.runtime import runtime
from server.settings import BillingSection
from server.store.models import Kiosk, Member, Site, Visit
from server.web import scroll_tables
from server.web.staff import actor, blp


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


#: The most unknown badges the dashboard lists (the latest first).
UNKNOWN_SHOWN = 20


def dashboard_now(
    session: Session, now: datetime, clock_tolerance: timedelta, billing: BillingSection
) -> dict[str, Any]:
    """What the dashboard shows, for the whole page and for its live fragment alike
    (`clock_tolerance`: how far off a kiosk's clock may be and still be called right)."""
    sites = [site_now(session, site, now) for site in session.scalars(select(Site))]
    kiosks = [
        KioskNow(kiosk, health(kiosk, now), clock_wrong(kiosk, now, clock_tolerance))
        for kiosk in session.scalars(select(Kiosk).order_by(Kiosk.name))
    ]
    waiting: list[UnknownBadge] = list(unknown_badges(session, now - timedelta(days=7)))
    return {
        "sites": sites,
        "kiosks": kiosks,
        "unknown": waiting[:UNKNOWN_SHOWN],
        "unknown_more": max(0, len(waiting) - UNKNOWN_SHOWN),
        "to_do": to_do(session, local_today(session, now), now, billing),
        "now": now,
        "default_tz": sites[0].site.timezone if sites else "UTC",
    }


def _desk_site(sites: list[Site]) -> Site | None:
    """The site the desk checks people in at: the one it chose last, else the first."""
    chosen = request.values.get("site", "") or str(session.get("desk_site", ""))
    return next((site for site in sites if str(site.id) == chosen), sites[0] if sites else None)


def _desk(db: Session, now: datetime, find: str) -> dict[str, Any]:
    """The desk search's part of the page: the sites, the chosen one, the matches."""
    sites = list(db.scalars(select(Site).order_by(Site.id)))
    site = _desk_site(sites)
    matches = find_at_desk(db, find)
    return {
        "find": find,
        "desk_sites": sites,
        "desk_site": site,
        "matches": matches,
        "inside": {m.id for m in matches if site and is_present(db, m.id, site.id, now)},
    }


@blp.get("/")
def dashboard() -> str:
    app = runtime()
    now = app.now()
    with app.session() as db:
        shown = dashboard_now(db, now, app.rules.future_tolerance, app.settings.billing)
        desk = _desk(db, now, request.args.get("find", "").strip())
        return render_template("staff/dashboard.html", **shown, **desk)


@blp.get("/live")
def dashboard_live() -> str:
    """The changing part of the dashboard alone: staff.js asks for it when the `/staff`
    socket says something changed, and swaps it into the page."""
    app = runtime()
    with app.session() as db:
        shown = dashboard_now(db, app.now(), app.rules.future_tolerance, app.settings.billing)
        # Its tables in their scroll boxes, as on the page it is swapped into.
        return scroll_tables(render_template("staff/_dashboard_live.html", **shown))


@blp.get("/desk")
def desk_matches() -> str:
    """The desk search's matches alone, for staff_desk.js as one types."""
    app = runtime()
    with app.session() as db:
        desk = _desk(db, app.now(), request.args.get("find", "").strip())
        return render_template("staff/_desk_matches.html", **desk)


@blp.post("/desk")
def desk_toggle() -> Response | tuple[Response, int]:
    """Check a member in at the desk's site, or out if they are there (reason "accueil").
    A browser's form is sent back to the dashboard with the answer; staff_desk.js asks
    for JSON (`{"said": ..., "warning": ...}`) and says it in the page."""
    app = runtime()
    wants_json = request.accept_mimetypes.best == "application/json"
    member_id = request.form.get("member", "")
    now = app.now()
    with app.transaction() as db:
        sites = list(db.scalars(select(Site).order_by(Site.id)))
        site = _desk_site(sites)
        found = db.get(Member, int(member_id)) if member_id.isdigit() else None
        if found is None and not member_id:  # the plain form: the first match
            found = next(iter(find_at_desk(db, request.form.get("find", ""), 1)), None)
        if found is None or found.erased_at is not None or site is None:
            said = _("Aucun membre ne correspond.")
            if wants_json:
                return jsonify(said=said, warning=None), 404
            flash(said, "problem")
            return redirect(url_for("staff.dashboard"))
        session["desk_site"] = site.id
        result = _toggle_and_log(db, found, site, now, app)
        name = f"{found.given_name} {found.family_name}".strip()
        if result.outcome.value == "checked_in":
            said = _("%(name)s : entrée enregistrée à %(site)s.", name=name, site=site.name)
        elif result.outcome.value == "checked_out":
            said = _("%(name)s : sortie enregistrée à %(site)s.", name=name, site=site.name)
        else:
            said = _("Rien à changer : c'était déjà le cas.")
        warning = None
        if result.outcome.value == "checked_in":
            warning = pack_warning(db, found, now, app.settings.billing)
    if wants_json:
        return jsonify(said=said, warning=warning, outcome=result.outcome.value)
    flash(said, "saved")
    if warning:
        flash(warning, "problem")
    return redirect(url_for("staff.dashboard"))


def _toggle_and_log(db: Session, member: Member, site: Site, now: datetime, app: Any) -> TapResult:
    """Check in or out, and write it in the audit trail like a correction by hand."""
    result = toggle_at_desk(db, member, site, actor(), now, app.rules)
    if result.outcome.value not in ("checked_in", "checked_out"):
        return result  # nothing changed: nothing to log
    direction = "check-in" if result.outcome.value == "checked_in" else "check-out"
    audit.record(
        db,
        now,
        actor(),
        f"visit.{direction}",
        f"member:{member.id}",
        DESK_REASON,
        site=site.slug,
        when=now.isoformat(),
        zone=site.timezone,
        outcome=result.outcome.value,
    )
    return result


def pack_warning(db: Session, member: Member, now: datetime, billing: BillingSection) -> str | None:
    """What the desk must tell a member just checked in whose pack is used up."""
    if not pack_empty(db, [member.id], local_today(db, now), now, billing):
        return None
    return str(
        _(
            "Carnet épuisé : %(name)s n'a plus de crédit, cette journée sera facturée à la "
            "demi-journée. Proposez un nouveau carnet.",
            name=member.given_name,
        )
    )


@blp.get("/roll-call/<slug>")
def roll_call(slug: str) -> str:
    app = runtime()
    now = app.now()
    with app.session() as session:
        site = find_site(session, slug)
        if site is None:
            abort(404)
        return render_template("staff/roll_call.html", here=site_now(session, site, now), now=now)
