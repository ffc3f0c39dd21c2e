"""The members' CSV in its two variants: plain (stable English columns) and for a French
Excel (`;`, BOM, French headers), each of which imports back."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from server.domain.members import export_csv, import_csv
from server.domain.staff import add_staff
from server.store.models import Member, StaffRole
from tests.factories import PASSWORD, log_in, make_member

PLAIN_HEADER = (
    "given_name,family_name,display_name,email,language,plan,plan_starts_on,skills,"
    "working_on,open_to_chat_about"
)
EXCEL_HEADER = (
    "\ufeffprénom;nom;nom affiché;e-mail;langue;formule;début de la formule;compétences;"
    "travaille sur;pour parler de"
)


def test_the_members_csv_in_both_variants(
    client: FlaskClient, session: Session, clock: Any
) -> None:
    add_staff(session, "nadine@example.org", "Nadine", StaffRole.ADMIN, PASSWORD, clock())
    make_member(session, given_name="Hélène", family_name="=Dupont", skills=["vélo", "Python"])
    session.commit()
    log_in(client, "nadine@example.org")
    page = client.get("/staff/members").get_data(as_text=True)
    assert 'href="/staff/members.csv"' in page and 'href="/staff/members.csv?excel=1"' in page

    plain = client.get("/staff/members.csv")
    assert plain.text.splitlines()[0] == PLAIN_HEADER  # columns only grow
    assert "Hélène,'=Dupont," in plain.text and ",payg,2026-01-01,vélo|Python," in plain.text

    excel = client.get("/staff/members.csv?excel=1")
    assert excel.mimetype == "text/csv"
    assert 'filename="membres-excel.csv"' in excel.headers["Content-Disposition"]
    lines = excel.data.decode("utf-8").splitlines()
    assert lines[0] == EXCEL_HEADER
    assert lines[1].startswith("Hélène;'=Dupont;Hélène;")


def test_the_excel_variant_imports_back(session: Session) -> None:
    make_member(session, given_name="Zoé", email="zoe@example.org", skills=["couture"])
    session.commit()
    members = session.scalars(select(Member)).all()
    text = export_csv(members, excel=True)
    session.execute(delete(Member))
    session.commit()
    session.expunge_all()  # the deleted members' plans are gone too

    report = import_csv(session, text, date(2026, 11, 24))
    assert not report.errors
    (zoe,) = report.created
    assert (zoe.given_name, zoe.email, list(zoe.skills)) == ("Zoé", "zoe@example.org", ["couture"])
