"""Invoices in the staff pages: closing a month issues them, the billing page lists them
with their files and the unpaid ones, an invoice's page takes payments (staff) and credit
notes (admins), the accountant's CSV, a member's billing details and their checks."""

from __future__ import annotations

from typing import Any

import pytest
from facturx import get_xml_from_pdf
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.domain.links import make_member_token
from server.settings import InvoicingSection, ServerSection, Settings
from server.store.models import AuditEntry, Invoice, Member, Payment, Statement
from tests.server.web.test_staff_billing import arrange, log_in, text

SPACE = InvoicingSection(
    issue_invoices=True,
    legal_name="La Cantine du Port",
    street="3 quai des Antilles",
    postcode="44200",
    city="Nantes",
    siret="12345678200010",
    vat_number="FR32123456782",
)


@pytest.fixture
def settings(tmp_path: Any, database_url: str) -> Settings:
    return Settings(
        server=ServerSection(
            data_dir=str(tmp_path), database_url=database_url, secret_key="test-secret"
        ),
        invoicing=SPACE,
    )


def token_of(client: FlaskClient, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def test_closing_issues_invoices_then_payments_credit_notes_and_files(
    client: FlaskClient, session: Session, clock: Any
) -> None:
    carla, paul = arrange(session, clock)
    log_in(client, "nadine@example.org")
    token = token_of(client, "/staff/billing?month=2026-10")
    assert (
        client.post("/staff/billing/2026-10/close", data={"csrf_token": token}).status_code == 302
    )
    page = text(client.get("/staff/billing?month=2026-10"))
    assert "Mois clos : 2 relevés, définitifs." in page and "2 factures émises." in page
    (other, first) = session.scalars(select(Invoice).order_by(Invoice.number)).all()
    assert (other.label, other.member_id) == ("F-2026-000001", paul)  # by family name
    assert (first.label, first.member_id) == ("F-2026-000002", carla)
    assert "F-2026-000002 <img src=x onerror=alert(1)> Payg 18,00 € à payer PDF · Factur-X" in page
    assert "Factures impayées" in page and "pas encore échue 18,00 €" in page
    first_id = first.id
    session.rollback()  # the test's session holds SQLite's write lock while it reads

    pdf = client.get(f"/staff/invoices/{first_id}.pdf")
    assert pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF-1.7")
    facturx = client.get(f"/staff/invoices/{first_id}/factur-x.pdf")
    assert facturx.mimetype == "application/pdf"
    assert get_xml_from_pdf(facturx.data)[0] == "factur-x.xml"
    assert b"<ram:GrandTotalAmount>18.00<" in client.get(f"/staff/invoices/{first_id}.xml").data

    url = f"/staff/invoices/{first_id}"
    token = token_of(client, url)
    paid = {"csrf_token": token, "paid_on": "2026-11-20", "method": "card", "amount": "8,00"}
    client.post(f"{url}/payments", data=paid)
    assert "Reste à payer : 10,00 €" in text(client.get(url))
    client.post(f"{url}/payments", data={**paid, "amount": "12,00"})
    assert "au plus ce qui reste dû (10,00 €)" in text(client.get(url))
    client.post(f"{url}/payments", data={**paid, "amount": "douze"})
    assert "Montant illisible : douze" in text(client.get(url))
    assert session.scalar(select(func.count()).select_from(Payment)) == 1
    session.rollback()

    client.post(f"{url}/credit-notes", data={"csrf_token": token, "amount": "5", "reason": ""})
    assert "Un avoir demande un motif." in text(client.get(url))
    note = client.post(
        f"{url}/credit-notes", data={"csrf_token": token, "amount": "5", "reason": "Geste"}
    )
    note_page = text(client.get(note.headers["Location"]))
    assert "Avoir A-2026-000001" in note_page and "Corrige F-2026-000002" in note_page
    note_id = int(note.headers["Location"].rsplit("/", 1)[1])
    client.post(f"/staff/invoices/{note_id}/payments", data={**paid, "csrf_token": token})
    assert "Un avoir ne se paie pas" in text(client.get(f"/staff/invoices/{note_id}"))
    client.post(f"{url}/payments", data={**paid, "amount": ""})  # the rest: 5,00
    assert "Rien ne reste à payer." in text(client.get(url))
    actions = session.scalars(select(AuditEntry.action)).all()
    session.rollback()
    assert {"billing.close", "invoice.payment", "invoice.credit_note"} <= set(actions)

    csv = client.get("/staff/billing/2026-10/invoices.csv").text.splitlines()
    assert csv[0].startswith("kind,number,date,due_on,member_id,buyer")
    assert sum(line.startswith("payment,") for line in csv) == 2
    excel = client.get("/staff/billing/2026-10/invoices.csv?excel=1").data.decode("utf-8")
    assert excel.startswith("\ufefftype;numéro;") and ";avoir;" not in excel  # kinds lead
    assert "\r\navoir;A-2026-000001;" in excel and ";5,00;carte;F-2026-000002" in excel


def test_desk_staff_record_payments_but_only_admins_issue_credit_notes(
    client: FlaskClient, session: Session, clock: Any
) -> None:
    arrange(session, clock)
    log_in(client, "nadine@example.org")
    token = token_of(client, "/staff/billing?month=2026-10")
    client.post("/staff/billing/2026-10/close", data={"csrf_token": token})
    client.post("/staff/logout", data={"csrf_token": token})
    log_in(client, "desk@example.org")
    invoice_id = session.scalars(select(Invoice.id)).first()
    session.rollback()
    url = f"/staff/invoices/{invoice_id}"
    token = token_of(client, url)
    assert "Émettre l'avoir" not in text(client.get(url))
    refused = client.post(f"{url}/credit-notes", data={"csrf_token": token, "full": "1"})
    assert refused.status_code == 403
    no_token = client.post(f"{url}/payments", data={"paid_on": "2026-11-20", "method": "cash"})
    assert no_token.status_code == 400  # CSRF
    paid = {"csrf_token": token, "paid_on": "2026-11-20", "method": "cash"}
    client.post(f"{url}/payments", data=paid)
    assert "payée" in text(client.get(url))


def test_closing_without_the_legal_identity_says_what_is_missing_and_closes_nothing(
    client: FlaskClient, session: Session, clock: Any, app: Any
) -> None:
    arrange(session, clock)
    app.extensions["presence"].settings = app.extensions["presence"].settings.model_copy(
        update={"invoicing": SPACE.model_copy(update={"siret": "", "vat_number": ""})}
    )
    log_in(client, "nadine@example.org")
    token = token_of(client, "/staff/billing?month=2026-10")
    client.post("/staff/billing/2026-10/close", data={"csrf_token": token})
    page = text(client.get("/staff/billing?month=2026-10"))
    assert "l'identité légale de l'espace est incomplète" in page
    assert "[invoicing] siret, [invoicing] vat_number / vat_exempt" in page
    assert session.scalar(select(func.count()).select_from(Statement)) == 0


def test_a_members_billing_details_are_checked_on_the_edit_form(
    client: FlaskClient, session: Session, clock: Any
) -> None:
    carla, _paul = arrange(session, clock)
    log_in(client, "desk@example.org")
    url = f"/staff/members/{carla}/edit"
    form = {
        "csrf_token": token_of(client, url),
        "given_name": "Carla",
        "plan": "payg",
        "visibility": "hidden",
        "billing_company": "Carla SAS",
        "billing_siren": "732 829 321",
    }
    page = text(client.post(url, data=form))
    assert "« 732 829 321 » n'est ni un SIREN" in page
    assert "Une société ou un SIREN demande une adresse de facturation." in page
    fixed = {
        **form,
        "billing_siren": "732 829 320",
        "billing_street": "1 rue Haute",
        "billing_postcode": "44000",
        "billing_city": "Nantes",
    }
    saved = client.post(url, data=fixed)
    assert saved.status_code == 302, text(saved)
    session.expire_all()
    member = session.get(Member, carla)
    assert member is not None
    assert (member.billing_company, member.billing_siren) == ("Carla SAS", "732829320")


def test_a_member_downloads_their_own_invoice_from_their_statement_page(
    client: FlaskClient, session: Session, clock: Any
) -> None:
    carla, paul = arrange(session, clock)
    log_in(client, "nadine@example.org")
    token = token_of(client, "/staff/billing?month=2026-10")
    client.post("/staff/billing/2026-10/close", data={"csrf_token": token})
    theirs, others = (
        session.scalar(select(Invoice.id).where(Invoice.member_id == who)) for who in (carla, paul)
    )
    session.rollback()
    link = "/me/" + make_member_token("test-secret", carla)
    page = text(client.get(f"{link}/statements/2026-10"))
    assert "Vos factures Facture F-2026-000002 (PDF) — 18,00 €" in page
    pdf = client.get(f"{link}/invoices/{theirs}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert client.get(f"{link}/invoices/{others}.pdf").status_code == 404  # not theirs


def test_the_read_api_gives_the_months_invoices_as_the_staff_pages_do(
    client: FlaskClient, session: Session, clock: Any
) -> None:
    """`/api/v1/invoices` for an integration (the accountant's tool): the invoices issued
    at closing with the statements' totals, then a payment and a credit note as recorded
    on the staff pages."""
    from tests.server.api.test_api_read import bearer, make_token

    carla, _paul = arrange(session, clock)
    api = make_token(client)
    log_in(client, "nadine@example.org")
    client.post(
        "/staff/billing/2026-10/close",
        data={"csrf_token": token_of(client, "/staff/billing?month=2026-10")},
    )
    statements = {
        one.member_id: one.total_cents
        for one in session.scalars(select(Statement).where(Statement.total_cents > 0))
    }
    first = session.scalar(select(Invoice).where(Invoice.member_id == carla))
    assert first is not None
    url = f"/staff/invoices/{first.id}"
    session.rollback()

    issued = client.get("/api/v1/invoices?month=2026-10", headers=bearer(api)).json
    paid = {"csrf_token": token_of(client, url), "paid_on": "2026-11-20", "method": "card"}
    client.post(f"{url}/payments", data={**paid, "amount": "8,00"})
    client.post(
        f"{url}/credit-notes",
        data={"csrf_token": token_of(client, url), "full": "1", "reason": "erreur de formule"},
    )
    later = client.get("/api/v1/invoices?month=2026-10", headers=bearer(api)).json

    assert issued["total"] == len(statements) == 2
    assert {one["member_id"]: one["total_cents"] for one in issued["items"]} == statements
    assert [one["number"] for one in issued["items"]] == ["F-2026-000001", "F-2026-000002"]
    assert {one["status"] for one in issued["items"]} == {"unpaid"}
    by_number = {one["number"]: one for one in later["items"]}
    invoice = by_number["F-2026-000002"]
    assert (invoice["paid_cents"], invoice["status"]) == (800, "paid")
    assert invoice["balance_cents"] == -800  # credited in full after 8 € were paid
    assert [p["method"] for p in invoice["payments"]] == ["card"]
    [credit_note] = [one for one in later["items"] if one["kind"] == "credit_note"]
    assert credit_note["corrects"] == "F-2026-000002"
    assert client.get("/api/v1/invoices?month=2026-10").status_code == 401
