"""Staff pages for reports: a site's occupancy over a period (tables, charts, CSV), the
funders' monthly summary, printable, and the export of every visit of a period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

from flask import Response as FlaskResponse
from flask import abort, render_template, request
from flask_babel import format_date
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.domain.reports import (
    BadPeriod,
    Occupancy,
    check_period,
    days_csv,
    funders_summary,
    headcount_curve,
    heatmap_csv,
    occupancy,
)
from server.domain.sites import home_zone, local_today
from server.domain.sponsorship import community
from server.domain.visits import VisitFilter, visit_records, visits_csv
from server.i18n import clock, refusal_text
from server.runtime import runtime
from server.store.models import Site
from server.web.staff import blp


@dataclass(frozen=True)
class Asked:
    site: Site
    start: date
    end: date


def _asked(session: Session, today: date) -> Asked:
    """The site and period of the query string: the first site and this month by default."""
    slug = request.args.get("site")
    query = select(Site).order_by(Site.id)
    site = session.scalar(query.where(Site.slug == slug) if slug else query.limit(1))
    if site is None:
        abort(404)
    start, end = _period(today)
    return Asked(site, start, end)


def _report(session: Session) -> tuple[Asked, Occupancy]:
    app = runtime()
    now = app.now()
    asked = _asked(session, local_today(session, now))
    report = occupancy(
        session, asked.site, asked.start, asked.end, now, app.settings.reports.regular_days
    )
    return asked, report


@blp.get("/reports")
def reports() -> str | tuple[str, int]:
    app = runtime()
    with app.session() as session:
        sites = list(session.scalars(select(Site).order_by(Site.id)))
        if not sites:
            return render_template("staff/reports.html", sites=[], report=None)
        try:
            asked, report = _report(session)
        except BadPeriod as error:
            return render_template(
                "staff/reports.html", sites=sites, report=None, problem=refusal_text(error)
            ), 400
        busiest = max(report.days, key=lambda figures: (figures.peak, figures.visits))
        curve_day = min(asked.end, local_today(session, app.now()))
        chart = {
            # Labels as the reader writes them ("sam. 7 nov.", "09:00" / "Sat 7 Nov", "9:00 AM").
            "days": [format_date(f.day, "EEE d MMM") for f in report.days],
            "visits": [f.visits for f in report.days],
            "peaks": [f.peak for f in report.days],
            "curve": [
                (clock(time.fromisoformat(at)), count)
                for at, count in headcount_curve(session, asked.site, curve_day, app.now())
            ],
            "labels": {
                "visits": _("Visites"),
                "peaks": _("Pic de présence"),
                "present": _("Présents"),
            },
        }
        return render_template(
            "staff/reports.html",
            sites=sites,
            asked=asked,
            report=report,
            busiest=busiest,
            curve_day=curve_day,
            chart=chart,
            query=request.query_string.decode(),
        )


@blp.get("/reports/<any('days', 'heatmap'):table>.csv")
def reports_csv(table: str) -> FlaskResponse | tuple[str, int]:
    """The report's numbers for a spreadsheet: per day, or the weekday x hour heatmap;
    `?excel=1` for a French Excel."""
    with runtime().session() as session:
        try:
            asked, report = _report(session)
        except BadPeriod as error:
            return render_template(
                "message.html", title=_("Période invalide"), message=refusal_text(error)
            ), 400
    excel = request.args.get("excel") == "1"
    body = (days_csv if table == "days" else heatmap_csv)(report, excel=excel)
    name = f"{table}-{asked.site.slug}-{asked.start}-{asked.end}{'-excel' if excel else ''}.csv"
    disposition = f'attachment; filename="{name}"'
    return FlaskResponse(
        body.encode("utf-8"), mimetype="text/csv", headers={"Content-Disposition": disposition}
    )


@blp.get("/reports/visits.csv")
def visits_export() -> FlaskResponse | tuple[str, int]:
    """Every visit of a period, at one site (`site`) or all (no `site`), with how it
    ended, its hours and its day as billing counts it; `?excel=1` for a French Excel."""
    app = runtime()
    now = app.now()
    with app.session() as session:
        today = local_today(session, now)
        slug = request.args.get("site", "")
        site = session.scalar(select(Site).where(Site.slug == slug)) if slug else None
        if slug and site is None:
            return _refused(_("Lieu inconnu."))
        try:
            start, end = _period(today)
        except BadPeriod as error:
            return _refused(refusal_text(error))
        which = VisitFilter(start, end, None if site is None else (site.id,))
        records = visit_records(session, which, now, app.settings.billing)
    excel = request.args.get("excel") == "1"
    name = f"visites-{slug or 'tous-lieux'}-{start}-{end}{'-excel' if excel else ''}.csv"
    return FlaskResponse(
        visits_csv(records, excel=excel).encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _period(today: date) -> tuple[date, date]:
    """The period of the query string (`from`, `to`): this month so far by default."""
    try:
        start = date.fromisoformat(request.args.get("from") or today.replace(day=1).isoformat())
        end = date.fromisoformat(request.args.get("to") or today.isoformat())
    except ValueError:
        raise BadPeriod("bad_date") from None
    check_period(start, end)
    return start, end


def _refused(message: str) -> tuple[str, int]:
    return render_template("message.html", title=_("Export impossible"), message=message), 400


@blp.get("/reports/funders")
def funders() -> str | tuple[str, int]:
    """The month's figures a Cantine sends its funders, beside the month before."""
    app = runtime()
    now = app.now()
    with app.session() as session:
        today = local_today(session, now)
        try:
            month = date.fromisoformat((request.args.get("month") or f"{today:%Y-%m}") + "-01")
        except ValueError:
            abort(404)
        sites = session.scalars(select(Site).order_by(Site.id)).all()
        slug = request.args.get("site")
        site = next((one for one in sites if one.slug == slug), None) if slug else None
        site = site or (None if slug else next(iter(sites), None))
        if site is None:
            abort(404)
        regular = app.settings.reports.regular_days
        previous, current = funders_summary(
            session, site, month, now, regular, app.settings.billing
        )
        days = current.occupancy.days
        busiest = sorted(days, key=lambda f: (-f.peak, -f.visits, f.day))[:3]
        return render_template(
            "staff/funders.html",
            site=site,
            sites=sites,
            month=month,
            current=current,
            previous=previous,
            busiest=busiest,
            regular_days=regular,
            currency=app.settings.billing.currency,
        )


@blp.get("/reports/community")
def community_report() -> str:
    """Sponsors, guests who joined, guests month by month."""
    with runtime().session() as session:
        zone = str(home_zone(session))
        return render_template("staff/community.html", found=community(session), default_tz=zone)
