"""Billing in the staff pages: a month's statements and totals, a member's detail, the
CSV files, a pack bought at the desk, and closing a month (admins only)."""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.domain.staff import add_staff
from server.store.models import MemberPlan, PackPurchase, Plan, StaffRole, Statement
from tests.factories import badge_tap, make_badge, make_kiosk, make_member, make_site, submit

PASSWORD = "correct horse battery staple"
PARIS = ZoneInfo("Europe/Paris")
HOSTILE = "<img src=x onerror=alert(1)>"


def text(page: Any) -> str:
    """A page as a reader sees it: text only, spaces squeezed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.get_data(as_text=True))).split())


def arrange(session: Session, clock: Any) -> tuple[int, int]:
    """Two members with October visits: a payg full day, and a pack member's half day."""
    site = make_site(session, opening_hours={})
    kiosk, _token = make_kiosk(session, site)
    carla = make_member(session, given_name=HOSTILE, family_name="Payg")
    paul = make_member(session, given_name="Paul", family_name="Pack")
    paul.plans.append(MemberPlan(plan=Plan.PACK, starts_on=datetime(2026, 10, 1).date()))
    for member, hours in ((carla, (9, 15)), (paul, (9, 11))):
        badge = make_badge(session, member)
        for hour in hours:
            badge_tap(session, kiosk, badge, datetime(2026, 10, 6, hour, tzinfo=PARIS))
    for role, email in (
        (StaffRole.ADMIN, "nadine@example.org"),
        (StaffRole.STAFF, "desk@example.org"),
    ):
        add_staff(session, email, email, role, PASSWORD, clock())
    session.commit()
    return carla.id, paul.id


def log_in(client: FlaskClient, email: str) -> None:
    submit(client, "/staff/login", {"email": email, "password": PASSWORD})


def test_a_months_statements_their_detail_and_the_csv(
    client: FlaskClient, session: Session, clock: Any
) -> None:
    carla, paul = arrange(session, clock)
    log_in(client, "desk@example.org")
    page = text(client.get("/staff/billing?month=2026-10"))
    assert f"{HOSTILE} Payg 0 1 0 0 15,00 € 3,00 € 18,00 €" in page
    assert "Paul Pack 1 0 0 0 8,33 € 1,67 € 10,00 €" in page  # no pack bought: payg
    assert "Total 23,33 € 4,67 € 28,00 €" in page
    assert "Relevés provisoires" in page and "Clore le mois" not in page  # staff, not admin
    assert HOSTILE not in client.get("/staff/billing?month=2026-10").get_data(as_text=True)

    detail = text(client.get(f"/staff/billing/2026-10/members/{carla}"))
    assert "mardi 6 octobre 6 h 00 journée à l'unité 18,00 €" in detail
    plain = client.get("/staff/billing/2026-10.csv")
    assert (
        plain.mimetype == "text/csv"
        and f"2026-10,{paul},Paul Pack,1,0,0,0,8.33,1.67,10.00" in plain.text
    )
    excel = client.get("/staff/billing/2026-10.csv?excel=1").data.decode("utf-8")
    assert excel.startswith("\ufeffmois;n° membre;") and ";8,33;1,67;10,00;provisoire" in excel
    assert client.get("/staff/billing?month=2026-13").status_code == 404


def test_a_pack_bought_at_the_desk_then_the_month_closed_by_an_admin(
    client: FlaskClient, session: Session, clock: Any
) -> None:
    _carla, paul = arrange(session, clock)
    log_in(client, "desk@example.org")
    token = client.get(f"/staff/members/{paul}").get_data(as_text=True)
    token = token.split('name="csrf_token" value="')[1].split('"')[0]
    assert (
        client.post(f"/staff/members/{paul}/packs", data={"csrf_token": token}).status_code == 302
    )
    (purchase,) = session.scalars(select(PackPurchase)).all()
    assert (purchase.credits, purchase.price_cents, purchase.bought_on.day) == (10, 9000, 24)
    session.rollback()
    member_page = text(client.get(f"/staff/members/{paul}"))
    assert "carnet : 10 crédits restants" in member_page

    refused = client.post("/staff/billing/2026-10/close", data={"csrf_token": token})
    assert refused.status_code == 403  # closing is for admins
    client.post("/staff/logout", data={"csrf_token": token})
    log_in(client, "nadine@example.org")
    page = client.get("/staff/billing?month=2026-10").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert "Clore le mois" in page
    closed = client.post("/staff/billing/2026-10/close", data={"csrf_token": token})
    assert closed.status_code == 302
    assert "Mois clos : 2 relevés, définitifs." in text(client.get("/staff/billing?month=2026-10"))
    assert len(session.scalars(select(Statement)).all()) == 2
    session.rollback()
    # November is not over: it cannot be closed, and says so.
    client.post("/staff/billing/2026-11/close", data={"csrf_token": token})
    assert "Ce mois n'est pas encore fini" in text(client.get("/staff/billing?month=2026-11"))
    assert "a clos un mois de facturation" in client.get("/staff/audit").get_data(as_text=True)
