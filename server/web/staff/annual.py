"""The annual activity report: a page with charts, and the same as a PDF to hand out.

Both show the same rows, made here once (`summary_rows`, `month_table`...), formatted in
the reader's language by Babel; the figures come from `server.domain.annual`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Response as FlaskResponse
from flask import abort, render_template, request
from flask_babel import format_date, format_decimal, format_percent
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.domain.annual import (
    FIRST_YEAR,
    REVENUE_KINDS,
    AnnualReport,
    Figures,
    YearFigures,
    annual_report,
    change,
)
from server.domain.refusals import N_, Refusal
from server.domain.sites import local_today
from server.i18n import money, refusal_text
from server.runtime import runtime
from server.store.models import Site
from server.web.staff import PLAN_NAMES, blp
from server.web.staff.meetups import BROUGHT_BY_NAMES


class BadYear(Refusal):
    """A year asked for in the address that the annual report cannot show."""

    MESSAGES = {
        "bad_year": N_("L'année s'écrit en chiffres, par exemple %(example)d."),
        "year_out_of_range": N_("Une année de %(first)d à %(last)d."),
    }


REVENUE_NAMES = {
    **{plan.value: name for plan, name in PLAN_NAMES.items()},
    "guests": _l("Invité·es (facturé·es à l'hôte)"),
}


def number(value: float, digits: int = 0) -> str:
    """A number as the reader writes it: "1 234,5" or "1,234.5"."""
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return str(format_decimal(value, format=pattern))


def percent(value: float | None) -> str:
    return "—" if value is None else str(format_percent(value))


def evolution(now: float, before: float) -> str:
    """ "+12 %", "−5 %", or "—" when there was nothing the year before."""
    ratio = change(now, before)
    if ratio is None:
        return "—"
    sign = "+" if ratio >= 0 else "−"
    return sign + str(format_percent(abs(ratio)))


def month_name(month: date, width: str = "MMMM") -> str:
    return str(format_date(month, width))


@dataclass(frozen=True)
class Row:
    label: str
    current: str
    previous: str
    change: str
    up: bool | None  # None: no comparison


def summary_rows(report: AnnualReport, currency: str) -> list[Row]:
    """The year in brief, beside the year before: what the first page says."""
    now, before = report.current.totals, report.previous.totals
    suffix = "" if report.site is None else " " + _("(tous lieux)")

    def row(label: str, value: Any, shown: Any = number) -> Row:
        a, b = value(now), value(before)
        if a is None or b is None:  # capacity use without a capacity
            return Row(label, shown(a), shown(b), "—", None)
        ratio = change(a, b)
        return Row(label, shown(a), shown(b), evolution(a, b), None if ratio is None else a >= b)

    def cents(value: int) -> str:
        return money(value, currency)

    return [
        row(_("Personnes venues (différentes)"), lambda f: f.members),
        row(
            _("Habitués (%(num)d jours ou plus dans un mois)", num=report.regular_days),
            lambda f: f.regulars,
        ),
        row(_("Nouveaux membres") + suffix, lambda f: f.new_members),
        row(_("Visites"), lambda f: f.visits),
        row(_("Heures de présence"), lambda f: f.person_hours),
        row(
            _("Présents en moyenne (heures d'ouverture)"),
            lambda f: f.average_present,
            lambda v: number(v, 1),
        ),
        row(_("Pic de présence"), lambda f: f.peak),
        row(_("Taux d'occupation"), lambda f: f.capacity_use, percent),
        row(_("Événements"), lambda f: f.events),
        row(_("Participants aux événements"), lambda f: f.attendance),
        row(_("Nouveaux membres parrainés") + suffix, lambda f: f.sponsored),
        row(_("Invité·es devenu·es membres") + suffix, lambda f: f.guests_joined),
        row(_("Recettes du coworking (TTC)") + suffix, lambda f: f.revenue_cents, cents),
    ]


def occupancy_table(year: YearFigures) -> tuple[list[str], list[list[str]]]:
    """Month by month: the people, the hours, the room."""
    head = [
        _("Mois"),
        _("Personnes"),
        _("Habitués"),
        _("Nouveaux membres"),
        _("Visites"),
        _("Heures"),
        _("Moyenne"),
        _("Pic"),
        _("Occupation"),
    ]
    rows = []
    for one in [*year.months, year.totals]:
        label = month_name(one.month) if hasattr(one, "month") else _("Année")
        if not getattr(one, "begun", True):
            rows.append([label, *["—"] * (len(head) - 1)])
            continue
        rows.append(
            [
                label,
                number(one.members),
                number(one.regulars),
                number(one.new_members),
                number(one.visits),
                number(one.person_hours),
                number(one.average_present, 1),
                number(one.peak),
                percent(one.capacity_use),
            ]
        )
    return head, rows


def community_table(year: YearFigures) -> tuple[list[str], list[list[str]]]:
    head = [
        _("Mois"),
        _("Nouveaux membres"),
        _("dont parrainés"),
        _("Invité·es devenu·es membres"),
        _("Événements"),
        _("Participants"),
    ]
    rows = []
    for one in [*year.months, year.totals]:
        label = month_name(one.month) if hasattr(one, "month") else _("Année")
        if not getattr(one, "begun", True):
            rows.append([label, *["—"] * (len(head) - 1)])
            continue
        rows.append(
            [
                label,
                number(one.new_members),
                number(one.sponsored),
                number(one.guests_joined),
                number(one.events),
                number(one.attendance),
            ]
        )
    return head, rows


def revenue_table(year: YearFigures, currency: str) -> tuple[list[str], list[list[str]]]:
    head = [_("Mois"), *(str(REVENUE_NAMES[kind]) for kind in REVENUE_KINDS), _("Total")]
    head.append(_("Statut"))
    rows = []
    for one in [*year.months, year.totals]:
        label = month_name(one.month) if hasattr(one, "month") else _("Année")
        if not getattr(one, "begun", True):
            rows.append([label, *["—"] * (len(head) - 1)])
            continue
        status = _("provisoire") if one.provisional else _("clos")
        rows.append(
            [
                label,
                *(money(one.revenue[kind], currency) for kind in REVENUE_KINDS),
                money(one.revenue_cents, currency),
                status,
            ]
        )
    return head, rows


def events_rows(report: AnnualReport) -> list[list[str]]:
    return [
        [
            str(format_date(line.day, "d MMM")),
            line.title,
            line.site,
            str(BROUGHT_BY_NAMES.get(line.brought_by, line.brought_by)),
            number(line.attendance),
        ]
        for line in report.current.events
    ]


def by_whom_text(figures: Figures) -> str:
    by = figures.by_whom
    return str(
        _(
            "Proposés par des partenaires : %(partner)d ; par des communautés : %(community)d ; "
            "par la Cantine : %(cantine)d.",
            partner=by.get("partner", 0),
            community=by.get("community", 0),
            cantine=by.get("cantine", 0),
        )
    )


def chart_data(report: AnnualReport) -> dict[str, Any]:
    """What the page's charts draw (the same numbers are in its tables)."""
    this, last = report.current, report.previous

    def series(year: YearFigures, value: Any) -> list[Any]:
        return [value(m) if m.begun else None for m in year.months]

    return {
        "months": [month_name(m.month, "MMM") for m in this.months],
        "year": report.year,
        "previous_year": report.year - 1,
        "members": series(this, lambda m: m.members),
        "regulars": series(this, lambda m: m.regulars),
        "members_before": series(last, lambda m: m.members),
        "hours": series(this, lambda m: round(m.person_hours, 1)),
        "hours_before": series(last, lambda m: round(m.person_hours, 1)),
        "attendance": series(this, lambda m: m.attendance),
        "attendance_before": series(last, lambda m: m.attendance),
        "revenue": {
            kind: series(this, lambda m, kind=kind: m.revenue[kind] / 100) for kind in REVENUE_KINDS
        },
        "revenue_before": series(last, lambda m: m.revenue_cents / 100),
        "labels": {
            "members": _("Personnes venues"),
            "regulars": _("Habitués"),
            "hours": _("Heures de présence"),
            "attendance": _("Participants aux événements"),
            "before": str(report.year - 1),
            **{kind: str(REVENUE_NAMES[kind]) for kind in REVENUE_KINDS},
        },
    }


@dataclass(frozen=True)
class Asked:
    year: int
    site: Site | None
    sites: list[Site]
    latest: int  # this year


def _asked(session: Session, today: date) -> Asked:
    """The year and the site of the query string: this year and every site by default."""
    typed = (request.args.get("year") or str(today.year)).strip()
    if not typed.isdigit() or len(typed) > 6:
        raise BadYear("bad_year", example=today.year)
    year = int(typed)
    if not FIRST_YEAR <= year <= today.year:
        raise BadYear("year_out_of_range", first=FIRST_YEAR, last=today.year)
    sites = list(session.scalars(select(Site).order_by(Site.id)))
    slug = request.args.get("site")
    site = None
    if slug:
        site = next((one for one in sites if one.slug == slug), None)
        if site is None:
            abort(404)
    return Asked(year, site, sites, today.year)


def _report(session: Session) -> tuple[Asked, AnnualReport]:
    app = runtime()
    now = app.now()
    today = local_today(session, now)
    asked = _asked(session, today)
    rules, regular = app.settings.billing, app.settings.reports.regular_days
    report = annual_report(session, asked.year, asked.site, today, now, regular, rules)
    return asked, report


def _refused(error: BadYear) -> tuple[str, int]:
    return render_template(
        "message.html", title=_("Année invalide"), message=refusal_text(error)
    ), 400


def _title(report: AnnualReport) -> str:
    where = report.site.name if report.site is not None else _("tout le réseau")
    return str(_("Rapport d'activité %(year)d — %(where)s", year=report.year, where=where))


@blp.get("/reports/annual")
def annual() -> str | tuple[str, int]:
    """The year month by month, beside the year before, with charts."""
    app = runtime()
    currency = app.settings.billing.currency
    with app.session() as session:
        try:
            asked, report = _report(session)
        except BadYear as error:
            return _refused(error)
        return render_template(
            "staff/annual.html",
            asked=asked,
            report=report,
            title=_title(report),
            summary=summary_rows(report, currency),
            occupancy=occupancy_table(report.current),
            community=community_table(report.current),
            revenue=revenue_table(report.current, currency),
            events=events_rows(report),
            by_whom=by_whom_text(report.current.totals),
            chart=chart_data(report),
            query=request.query_string.decode(),
        )


@blp.get("/reports/annual.pdf")
def annual_pdf() -> FlaskResponse | tuple[str, int]:
    """The same report as a PDF, charts drawn in it, for the general assembly."""
    from server.web.staff.annual_pdf import render

    app = runtime()
    currency = app.settings.billing.currency
    with app.session() as session:
        try:
            _asked_, report = _report(session)
        except BadYear as error:
            return _refused(error)
        body = render(report, _title(report), currency, local_today(session, app.now()))
    where = report.site.slug if report.site is not None else "reseau"
    name = f"rapport-activite-{report.year}-{where}.pdf"
    disposition = f'inline; filename="{name}"'
    return FlaskResponse(
        body, mimetype="application/pdf", headers={"Content-Disposition": disposition}
    )
