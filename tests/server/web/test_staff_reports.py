"""Reports in the staff pages: the occupancy page, its CSV, bad periods, and the funders'
monthly summary beside the month before."""

from __future__ import annotations

import html
import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from server.domain.billing import close_month
from server.domain.staff import add_staff
from server.settings import BillingSection
from server.store.models import StaffRole
from tests.factories import badge_tap, make_badge, make_kiosk, make_member, make_site, submit

PASSWORD = "correct horse battery staple"
PARIS = ZoneInfo("Europe/Paris")
HOSTILE = "<img src=x onerror=alert(1)>"


def text(page: Any) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.get_data(as_text=True))).split())


def arrange(session: Session, clock: Any) -> None:
    """October: Ana on the 5th and 6th; November: Ana and Hostile on the 2nd."""
    site = make_site(session, slug="cantine", capacity=10)  # weekdays 9:00-19:00
    kiosk, _token = make_kiosk(session, site)
    ana, other = make_member(session, given_name="Ana"), make_member(session, given_name=HOSTILE)
    badges = {ana.id: make_badge(session, ana), other.id: make_badge(session, other)}
    for member, month, day in [(ana, 10, 5), (ana, 10, 6), (ana, 11, 2), (other, 11, 2)]:
        for hour in (9, 13):
            badge_tap(
                session, kiosk, badges[member.id], datetime(2026, month, day, hour, tzinfo=PARIS)
            )
    add_staff(session, "nadine@example.org", "Nadine", StaffRole.STAFF, PASSWORD, clock())
    session.commit()


def test_the_occupancy_page_its_csv_and_a_bad_period(
    client: FlaskClient, session: Session, clock: Any
) -> None:
    arrange(session, clock)
    submit(client, "/staff/login", {"email": "nadine@example.org", "password": PASSWORD})
    page = client.get("/staff/reports?site=cantine&from=2026-10-01&to=2026-10-31")
    assert page.status_code == 200
    words = text(page)
    assert "Visites 2 Membres différents 1 Heures de présence 8,0" in words
    assert "Durée moyenne d'une visite 4 h 00" in words
    assert "chart.umd.min.js" in page.get_data(as_text=True)  # served by the app, no CDN
    days = client.get("/staff/reports/days.csv?site=cantine&from=2026-10-01&to=2026-10-31")
    assert days.mimetype == "text/csv" and "2026-10-05,1,1,4.00,1,09:00" in days.text
    heatmap = client.get("/staff/reports/heatmap.csv?site=cantine&from=2026-10-01&to=2026-10-31")
    assert heatmap.text.splitlines()[1].split(",")[10] == "0.25"  # 4 Mondays, one at 9:00
    november = client.get("/staff/reports?site=cantine&from=2026-11-01&to=2026-11-24")
    assert HOSTILE not in november.get_data(as_text=True)  # regulars' names are text
    bad = client.get("/staff/reports?site=cantine&from=2026-11-30&to=2026-11-01")
    assert bad.status_code == 400 and "avant son début" in text(bad)
    assert client.get("/staff/reports?from=someday").status_code == 400
    assert client.get("/staff/reports?site=nowhere").status_code == 404


def test_the_funders_summary_compares_with_the_month_before(
    client: FlaskClient, session: Session, clock: Any
) -> None:
    arrange(session, clock)
    submit(client, "/staff/login", {"email": "nadine@example.org", "password": PASSWORD})
    words = text(client.get("/staff/reports/funders?month=2026-11"))
    assert "Coworkers différents 2 1 +100 %" in words
    assert "Visites 2 2 +0 %" in words
    # 9:00 to 13:00 is exactly 4 hours: a payg half day (10.00), twice each month.
    assert "Recettes du coworking (TTC) 20,00 € 20,00 € +0 %" in words
    assert "lundi 2 novembre : 2 personnes en même temps, 2 visites" in words

    # October closed: its revenue is read from the stored statements, and is the same.
    close_month(session, date(2026, 10, 1), date(2026, 11, 24), clock(), "nadine", BillingSection())
    session.commit()
    words = text(client.get("/staff/reports/funders?month=2026-11"))
    assert "Recettes du coworking (TTC) 20,00 € 20,00 € +0 %" in words


def test_the_funders_summary_of_each_site_of_a_network(
    client: FlaskClient, session: Session, clock: Any
) -> None:
    arrange(session, clock)
    labo = make_site(session, slug="labo", name="Le Labo")
    kiosk, _token = make_kiosk(session, labo)
    zoe = make_member(session, given_name="Zoé")
    badge = make_badge(session, zoe)
    for hour in (9, 13):
        badge_tap(session, kiosk, badge, datetime(2026, 11, 3, hour, tzinfo=PARIS))
    session.commit()
    submit(client, "/staff/login", {"email": "nadine@example.org", "password": PASSWORD})

    cantine = text(client.get("/staff/reports/funders?month=2026-11"))  # the first by default
    assert "Coworkers différents 2 1 +100 %" in cantine
    words = text(client.get("/staff/reports/funders?site=labo&month=2026-11"))
    assert "Le Labo — synthèse de novembre 2026" in words
    assert "Coworkers différents 1 0 —" in words
    # Statements are per member, across sites: the revenue says it is the network's.
    assert "Recettes du coworking (TTC), tous lieux 30,00 €" in words
    assert client.get("/staff/reports/funders?site=nowhere").status_code == 404


OCTOBER = "site=cantine&from=2026-10-01&to=2026-10-31"


def test_the_report_in_french_writes_french_numbers_dates_and_weeks(
    client: FlaskClient, session: Session, clock: Any
) -> None:
    arrange(session, clock)
    submit(client, "/staff/login", {"email": "nadine@example.org", "password": PASSWORD})
    page = client.get(f"/staff/reports?{OCTOBER}&lang=fr")
    words = text(page)
    assert "Heures de présence 8,0" in words and "8.0" not in words
    assert "Taux d'occupation 0,4 %" in words  # 8 h of 10 places x 22 days x 10 h
    assert "lundi 5 octobre : 1 personne en même temps" in words
    assert "lun. 5 oct. 1 1 4,0 1 09:00" in words  # the table by day
    assert "semaine 41 (5–11 oct.) : 1 membre" in words and "2026-W41" not in words
    assert "octobre 2026 : 1 membre" in words
    chart = page.get_data(as_text=True)
    assert '"lun. 5 oct."' in chart and '"2026-10-05"' not in chart  # the chart's labels


def test_the_report_in_english_writes_english_numbers_dates_and_weeks(
    client: FlaskClient, session: Session, clock: Any
) -> None:
    arrange(session, clock)
    submit(client, "/staff/login", {"email": "nadine@example.org", "password": PASSWORD})
    words = text(client.get(f"/staff/reports?{OCTOBER}&lang=en"))
    assert "Person-hours 8.0" in words
    assert "Capacity use 0.4%" in words
    assert "Monday 5 October: 1 person at once" in words
    assert "Mon 5 Oct 1 1 4.0 1 9:00 AM" in words
    assert "week 41 (5–11 Oct): 1 member" in words
    assert "October 2026: 1 member" in words


def test_the_days_and_heatmap_csv_in_both_variants(
    client: FlaskClient, session: Session, clock: Any
) -> None:
    arrange(session, clock)
    submit(client, "/staff/login", {"email": "nadine@example.org", "password": PASSWORD})
    page = client.get(f"/staff/reports?{OCTOBER}").get_data(as_text=True)
    for table in ("days", "heatmap"):  # both variants are offered on the page
        assert f"/staff/reports/{table}.csv?{OCTOBER.replace('&', '&amp;')}&amp;excel=1" in page

    days = client.get(f"/staff/reports/days.csv?{OCTOBER}").text.splitlines()
    assert days[0] == "day,visits,members,person_hours,peak,peak_at"  # columns only grow
    excel = client.get(f"/staff/reports/days.csv?{OCTOBER}&excel=1")
    assert "days-cantine-2026-10-01-2026-10-31-excel.csv" in excel.headers["Content-Disposition"]
    lines = excel.data.decode("utf-8").splitlines()
    assert lines[0] == "\ufeffjour;visites;membres;heures de présence;pic;heure du pic"
    assert "2026-10-05;1;1;4,00;1;09:00" in lines

    heatmap = client.get(f"/staff/reports/heatmap.csv?{OCTOBER}").text.splitlines()
    assert heatmap[0] == "weekday," + ",".join(f"{hour:02d}h" for hour in range(24))
    assert heatmap[1].startswith("0,0.00,")
    french = client.get(f"/staff/reports/heatmap.csv?{OCTOBER}&excel=1").data.decode("utf-8")
    rows = french.splitlines()
    assert rows[0] == "\ufeffjour;" + ";".join(f"{hour:02d}h" for hour in range(24))
    assert rows[1].split(";")[10] == "0,25" and rows[1].startswith("lundi;")
    assert rows[7].startswith("dimanche;")
