"""The annual activity report in the staff pages: the demo's year as a page and as a PDF,
in French and English, who may see it, and years it cannot show."""

from __future__ import annotations

import html
import io
import re
from datetime import date
from typing import Any

import pytest
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.cli.demo import build_demo
from server.domain.annual import annual_report
from server.domain.staff import add_staff
from server.runtime import Runtime
from server.store.models import Member, StaffRole
from tests.factories import PASSWORD, log_in, make_site


def text(page: Any) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.get_data(as_text=True))).split())


def plain(words: str) -> str:
    """Babel's narrow and plain no-break spaces as spaces."""
    return " ".join(words.replace("\u202f", " ").replace("\xa0", " ").split())


@pytest.fixture
def demo(session: Session, runtime: Runtime, clock: Any) -> Any:
    """The demo Cantine (a week of taps up to the clock's day, 24 November 2026), and a
    staff member who is not an admin."""
    build_demo(session, clock(), runtime.rules, seed=2026)
    add_staff(session, "nadine@example.org", "Nadine", StaffRole.STAFF, PASSWORD, clock())
    session.commit()
    settings = runtime.settings
    return annual_report(
        session,
        2026,
        None,
        date(2026, 11, 24),
        clock(),
        settings.reports.regular_days,
        settings.billing,
    )


def test_the_demo_year_as_a_page_and_as_a_pdf(
    client: FlaskClient, session: Session, demo: Any
) -> None:
    log_in(client, "nadine@example.org")
    totals = demo.current.totals
    assert totals.visits > 50 and totals.new_members > 0 and demo.previous.totals.new_members > 0

    page = client.get("/staff/reports/annual?year=2026")
    assert page.status_code == 200
    words = plain(text(page))
    assert "Rapport d'activité 2026 — tout le réseau" in words
    for heading in ("L'année en bref", "La fréquentation, mois par mois", "Les événements"):
        assert heading in words
    assert "La communauté" in words and "Les recettes par formule" in words
    assert f"Visites {totals.visits} 0 —" in words  # no visit the year before
    assert f"Personnes venues (différentes) {totals.members} 0 —" in words
    assert "novembre" in words and "décembre" in words
    body = page.get_data(as_text=True)
    assert "chart.umd.min.js" in body and "annual.js" in body and 'id="annual-data"' in body
    # Counts only: no member is ever named in the report.
    for member in session.scalars(select(Member)):
        assert member.family_name not in body

    one_site = plain(text(client.get("/staff/reports/annual?year=2026&site=cantine")))
    assert "Rapport d'activité 2026 — La Cantine" in one_site
    assert "Nouveaux membres (tous lieux)" in one_site

    pdf = client.get("/staff/reports/annual.pdf?year=2026&site=cantine")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf.data))
    assert len(reader.pages) >= 3
    printed = plain(" ".join(page.extract_text() for page in reader.pages))
    assert "Rapport d'activité" in printed and "2026" in printed and "La Cantine" in printed
    assert f"Visites {totals.visits} 0" in printed
    assert "Les recettes par formule" in printed and "provisoire" in printed

    english = plain(text(client.get("/staff/reports/annual?year=2026&lang=en")))
    assert "Annual activity report 2026 — whole network" in english
    assert "November" in english and f"Visits {totals.visits} 0 —" in english
    printed = " ".join(
        page.extract_text()
        for page in PdfReader(io.BytesIO(client.get("/staff/reports/annual.pdf").data)).pages
    )
    assert "Activity report" in printed and "November" in printed


def test_the_reports_and_funders_pages_link_to_it(client: FlaskClient, demo: Any) -> None:
    log_in(client, "nadine@example.org")
    for page in ("/staff/reports", "/staff/reports/funders"):
        assert "/staff/reports/annual" in client.get(page).get_data(as_text=True), page


def test_only_staff_who_logged_in(client: FlaskClient, session: Session) -> None:
    make_site(session)
    session.commit()
    for url in ("/staff/reports/annual?year=2026", "/staff/reports/annual.pdf?year=2026"):
        answer = client.get(url)
        assert answer.status_code == 302 and "/staff/login" in answer.headers["Location"]


@pytest.mark.parametrize(
    ("year", "says"),
    [
        ("deux-mille", "L'année s'écrit en chiffres, par exemple 2026."),
        ("-1", "L'année s'écrit en chiffres"),
        ("2026.5", "L'année s'écrit en chiffres"),
        ("99999999999999999999", "L'année s'écrit en chiffres"),
        ("1999", "Une année de 2000 à 2026."),
        ("2027", "Une année de 2000 à 2026."),
    ],
)
def test_a_year_it_cannot_show_is_a_400_that_says_why(
    client: FlaskClient, session: Session, clock: Any, year: str, says: str
) -> None:
    make_site(session)
    add_staff(session, "nadine@example.org", "Nadine", StaffRole.STAFF, PASSWORD, clock())
    session.commit()
    log_in(client, "nadine@example.org")
    for url in ("/staff/reports/annual", "/staff/reports/annual.pdf"):
        answer = client.get(f"{url}?year={year}")
        assert answer.status_code == 400 and says in text(answer), url
    assert client.get("/staff/reports/annual?year=2026&site=nowhere").status_code == 404
