"""Invoices issued when a month is closed, their numbers, credit notes, payments, the
accountant's CSV, and their files: the CII XML (checked against the official Factur-X
XSD), the PDF/A-3 and the Factur-X (read back as text and as XML)."""

from __future__ import annotations

import io
import multiprocessing
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.domain.billing import BillingError, month_statements
from server.domain.invoice_documents import cii_xml, facturx_pdf, invoice_pdf
from server.domain.invoices import (
    balance_cents,
    check_siren,
    close_and_invoice,
    invoices_csv,
    issue_credit_note,
    lines_of,
    month_invoices,
    record_payment,
    unpaid_invoices,
)
from server.runtime import Runtime
from server.settings import BillingSection, InvoicingSection, Settings
from server.store import migrate
from server.store.models import (
    Base,
    BillingClosure,
    Invoice,
    InvoiceCounter,
    InvoiceKind,
    Member,
    MemberPlan,
    Plan,
    Statement,
)
from tests.factories import badge_tap, make_badge, make_kiosk, make_member, make_site

PARIS = ZoneInfo("Europe/Paris")
RULES = BillingSection()
NOV, DEC = date(2026, 11, 1), date(2026, 12, 1)
CLOSING = datetime(2026, 12, 1, 10, tzinfo=PARIS)
SPACE = InvoicingSection(
    issue_invoices=True,
    legal_name="La Cantine du Port",
    legal_form="Association loi 1901",
    street="3 quai des Antilles",
    postcode="44200",
    city="Nantes",
    siret="12345678200010",
    vat_number="FR32123456782",
    iban="FR7630006000011234567890189",
)
EXEMPT = SPACE.model_copy(update={"vat_number": "", "vat_exempt": True})
RAM = "{urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100}"


def paris(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=PARIS)


@pytest.fixture
def month(session: Session) -> dict[str, Member]:
    """November: Alice (payg) two full days and a half day; Bob's company (payg) a half
    day; Zoé (free) a day, who owes nothing."""
    site = make_site(session, opening_hours={})
    kiosk, _token = make_kiosk(session, site)
    alice = make_member(session, given_name="Alice", family_name="Martin")
    bob = make_member(
        session,
        given_name="Bob",
        family_name="Durand",
        billing_company="Durand Conseil SARL",
        billing_siren="732829320",
        billing_street="12 rue de la Paix",
        billing_postcode="75002",
        billing_city="Paris",
    )
    zoe = make_member(session, given_name="Zoé", family_name="Zed")
    zoe.plans.append(MemberPlan(plan=Plan.FREE, starts_on=NOV))
    for member, days in ((alice, ((3, 9, 15), (4, 9, 15), (5, 9, 11))), (bob, ((3, 9, 11),))):
        badge = make_badge(session, member)
        for n, start, end in days:
            badge_tap(session, kiosk, badge, paris(date(2026, 11, n), start).astimezone(UTC))
            badge_tap(session, kiosk, badge, paris(date(2026, 11, n), end).astimezone(UTC))
    badge = make_badge(session, zoe)
    badge_tap(session, kiosk, badge, paris(date(2026, 11, 6), 9).astimezone(UTC))
    badge_tap(session, kiosk, badge, paris(date(2026, 11, 6), 16).astimezone(UTC))
    session.flush()
    return {"alice": alice, "bob": bob, "zoe": zoe}


def close(session: Session, invoicing: InvoicingSection = SPACE, **rules: Any) -> list[Invoice]:
    _statements, invoices = close_and_invoice(
        session, NOV, DEC, CLOSING, "nadine", RULES.model_copy(update=rules), invoicing
    )
    return invoices


# -- issuing -----------------------------------------------------------------------------------


def test_closing_issues_one_invoice_per_member_who_owes_numbered_from_one(
    session: Session, month: dict[str, Member]
) -> None:
    statements = {s.member_id: s for s in month_statements(session, NOV, CLOSING, RULES)}
    invoices = close(session)
    assert [(i.label, i.member_id) for i in invoices] == [
        ("F-2026-000001", month["bob"].id),  # in the statements' order: by family name
        ("F-2026-000002", month["alice"].id),
    ]
    for invoice in invoices:
        stated = statements[invoice.member_id]
        assert (invoice.total_cents, invoice.vat_cents) == (stated.total_cents, stated.vat_cents)
        lines = lines_of(invoice)
        assert sum(line.total_cents for line in lines) == invoice.total_cents
        assert sum(line.net_cents for line in lines) == invoice.total_cents - invoice.vat_cents
        assert invoice.statement_id is not None and invoice.kind is InvoiceKind.INVOICE
        assert (invoice.issued_on, invoice.due_on) == (DEC, DEC + timedelta(days=30))
    alice = invoices[1]
    assert [(line.label, line.quantity, line.unit_cents) for line in lines_of(alice)] == [
        ("Journée de coworking", 2, 1800),
        ("Demi-journée de coworking", 1, 1000),
    ]
    counter = session.get(InvoiceCounter, ("123456782", "F"))
    assert counter is not None and counter.last_number == 2


def test_without_issue_invoices_closing_stores_statements_only(
    session: Session, month: dict[str, Member]
) -> None:
    assert close(session, InvoicingSection()) == []
    assert session.scalar(select(func.count()).select_from(Invoice)) == 0
    assert (
        session.scalar(select(func.count()).select_from(Statement)) == 3
    )  # Zoé owes nothing: a statement, no invoice


def nothing_written(runtime: Runtime) -> bool:
    with runtime.session() as session:
        return not any(
            session.scalar(select(func.count()).select_from(table))
            for table in (Statement, BillingClosure, Invoice, InvoiceCounter)
        )


def refused_closing(runtime: Runtime, invoicing: InvoicingSection, **rules: Any) -> BillingError:
    with pytest.raises(BillingError) as refused:  # noqa: PT012 (the transaction rolls back)
        with runtime.transaction() as session:
            close(session, invoicing, **rules)
    return refused.value


def test_closing_without_the_legal_identity_names_the_missing_settings_and_writes_nothing(
    session: Session, runtime: Runtime, month: dict[str, Member]
) -> None:
    session.commit()
    incomplete = SPACE.model_copy(update={"siret": "", "city": "", "vat_number": ""})
    refusal = refused_closing(runtime, incomplete)
    assert refusal.code == "no_identity"
    assert "[invoicing] city" in str(refusal) and "[invoicing] siret" in str(refusal)
    assert "[invoicing] vat_number / vat_exempt" in str(refusal)
    assert nothing_written(runtime)
    assert refused_closing(runtime, EXEMPT).code == "vat_mismatch"  # 20 % VAT, exempt
    assert nothing_written(runtime)


def test_a_company_without_an_address_stops_the_closing_and_nothing_is_kept(
    session: Session, runtime: Runtime, month: dict[str, Member]
) -> None:
    month["bob"].billing_street = ""
    month["bob"].billing_city = ""
    session.commit()
    refusal = refused_closing(runtime, SPACE)
    assert refusal.code == "buyer_address"
    assert "Bob Durand (adresse, ville)" in str(refusal)
    assert nothing_written(runtime)  # the statements written first went with the rollback
    with runtime.transaction() as again:  # a private person needs no address
        bob = again.get(Member, month["bob"].id)
        assert bob is not None
        bob.billing_company, bob.billing_siren = "", ""
        assert len(close(again)) == 2


def test_closing_twice_is_refused_and_issues_nothing_more(
    session: Session, month: dict[str, Member]
) -> None:
    close(session)
    with pytest.raises(BillingError) as twice:
        close(session)
    assert twice.value.code == "already_closed"
    assert session.scalar(select(func.count()).select_from(Invoice)) == 2


def test_sirens_and_sirets_are_checked_by_their_luhn_key() -> None:
    assert check_siren("732 829 320") == "732829320"
    assert check_siren("12345678200010") == "12345678200010"
    assert check_siren("") == ""
    for wrong in ("732829321", "12345", "1234567820001X"):
        with pytest.raises(BillingError) as refused:
            check_siren(wrong)
        assert refused.value.code == "bad_siren"
    with pytest.raises(ValueError, match="one or the other"):
        InvoicingSection(vat_number="FR32123456782", vat_exempt=True)
    with pytest.raises(ValueError, match="not a SIRET"):
        InvoicingSection(siret="12345678200011")


# -- credit notes and payments -----------------------------------------------------------------


def test_a_credit_note_refers_to_its_invoice_in_its_own_series(
    session: Session, month: dict[str, Member]
) -> None:
    _bob, alice = close(session)
    later = CLOSING + timedelta(days=3)
    note = issue_credit_note(
        session, alice, 1000, "Demi-journée offerte", later.date(), later, "nadine", SPACE
    )
    assert (note.label, note.corrects_id) == ("A-2026-000001", alice.id)
    assert note.kind is InvoiceKind.CREDIT_NOTE
    assert (note.total_cents, note.vat_cents) == (1000, 167)
    assert balance_cents(session, alice) == alice.total_cents - 1000
    refusals = [
        (lambda: issue_credit_note(session, note, 100, "x", DEC, later, "n", SPACE)),
        (lambda: issue_credit_note(session, alice, 100, "  ", DEC, later, "n", SPACE)),
        (lambda: issue_credit_note(session, alice, 999_99, "trop", DEC, later, "n", SPACE)),
        (lambda: issue_credit_note(session, alice, 0, "rien", DEC, later, "n", SPACE)),
    ]
    codes = []
    for attempt in refusals:
        with pytest.raises(BillingError) as refused:
            attempt()
        codes.append(refused.value.code)
    assert codes == ["credit_on_credit_note", "no_reason", "credit_amount", "credit_amount"]
    full = issue_credit_note(session, alice, None, "Erreur de formule", DEC, later, "n", SPACE)
    assert (full.label, full.total_cents) == ("A-2026-000002", alice.total_cents - 1000)
    assert balance_cents(session, alice) == 0
    assert alice.total_cents == 4600 and lines_of(alice)[0].quantity == 2  # never changed


def test_payments_in_parts_the_unpaid_list_and_their_refusals(
    session: Session, month: dict[str, Member]
) -> None:
    bob, alice = close(session)
    today = date(2027, 1, 10)
    now = paris(today, 12)
    late = {row.invoice.label: row.days_late(today) for row in unpaid_invoices(session, today)}
    assert late == {"F-2026-000001": 10, "F-2026-000002": 10}  # due December 31st
    record_payment(session, alice, date(2026, 12, 5), "cash", 1000, today, now, "desk")
    rows = {row.invoice.label: row for row in month_invoices(session, NOV)}
    assert rows["F-2026-000002"].status == "partly_paid"
    assert rows["F-2026-000002"].balance_cents == 3600
    record_payment(session, alice, today, "transfer", None, today, now, "desk")
    record_payment(session, bob, today, "helloasso", None, today, now, "desk")
    assert unpaid_invoices(session, today) == []
    note = issue_credit_note(session, bob, None, "Annulée", today, now, "nadine", SPACE)
    attempts = {
        "payment_on_credit_note": lambda: record_payment(
            session, note, today, "cash", 100, today, now, "d"
        ),
        "already_paid": lambda: record_payment(session, alice, today, "cash", 1, today, now, "d"),
        "bad_method": lambda: record_payment(session, alice, today, "bitcoin", 1, today, now, "d"),
    }
    for code, attempt in attempts.items():
        with pytest.raises(BillingError) as refused:
            attempt()
        assert refused.value.code == code
    rows = {row.invoice.label: row for row in month_invoices(session, NOV)}
    assert rows["F-2026-000002"].status == "paid"
    assert rows["A-2027-000001"].status == "credit_note"  # issued in 2027
    assert rows["F-2026-000001"].balance_cents == -1000  # paid, then credited: to give back


def test_the_accountants_csv_in_both_formats(session: Session, month: dict[str, Member]) -> None:
    month["bob"].billing_company = '=HYPERLINK("x")'
    _bob, alice = close(session)
    record_payment(session, alice, DEC, "cheque", 1000, DEC, CLOSING, "desk")
    rows = month_invoices(session, NOV)
    plain = invoices_csv(rows).splitlines()
    assert plain[0] == (
        "kind,number,date,due_on,member_id,buyer,company,siren,total_excl_vat,vat,"
        "total_incl_vat,payment_method,refers_to"
    )
    assert plain[1].startswith("invoice,F-2026-000001,2026-12-01,2026-12-31,")
    assert ',"\'=HYPERLINK(""x"")",' in plain[1]  # text, not a formula
    assert plain[2].endswith(",38.33,7.67,46.00,,")
    assert plain[3] == (
        f"payment,,2026-12-01,,{alice.member_id},Alice Martin,,,,,10.00,cheque,F-2026-000002"
    )
    excel = invoices_csv(rows, excel=True)
    assert excel.startswith("\ufefftype;numéro;date;échéance;")
    assert ";38,33;7,67;46,00;;" in excel and ";10,00;chèque;F-2026-000002" in excel


# -- the files -----------------------------------------------------------------------------------


def _xsd_valid(xml: bytes) -> None:
    from facturx import xml_check_xsd

    assert xml_check_xsd(xml, flavor="factur-x", level="en16931") is True


def _amounts(xml: bytes) -> dict[str, str]:
    root = ET.fromstring(xml)
    sums = root.find(f".//{RAM}SpecifiedTradeSettlementHeaderMonetarySummation")
    assert sums is not None
    found = {child.tag.removeprefix(RAM): child.text or "" for child in sums}
    found["type"] = root.findtext(".//{*}ExchangedDocument/{*}TypeCode") or ""
    found["number"] = root.findtext(".//{*}ExchangedDocument/{*}ID") or ""
    return found


def test_the_cii_xml_is_valid_en16931_and_carries_the_statements_totals(
    session: Session, month: dict[str, Member]
) -> None:
    bob, alice = close(session)
    xml = cii_xml(alice)
    _xsd_valid(xml)
    assert _amounts(xml) == {
        "type": "380",
        "number": "F-2026-000002",
        "LineTotalAmount": "38.33",
        "TaxBasisTotalAmount": "38.33",
        "TaxTotalAmount": "7.67",
        "GrandTotalAmount": "46.00",
        "DuePayableAmount": "46.00",
    }
    root = ET.fromstring(cii_xml(bob))
    assert root.findtext(f".//{RAM}BuyerTradeParty/{RAM}SpecifiedLegalOrganization/{RAM}ID") == (
        "732829320"
    )
    assert root.findtext(f".//{RAM}SellerTradeParty/{RAM}SpecifiedTaxRegistration/{RAM}ID") == (
        "FR32123456782"
    )
    note = issue_credit_note(session, alice, 1000, "Geste", DEC, CLOSING, "nadine", SPACE)
    credit = cii_xml(note)
    _xsd_valid(credit)
    assert _amounts(credit)["type"] == "381" and _amounts(credit)["GrandTotalAmount"] == "10.00"
    referenced = f".//{RAM}InvoiceReferencedDocument/{RAM}IssuerAssignedID"
    assert ET.fromstring(credit).findtext(referenced) == "F-2026-000002"


def test_an_exempt_space_invoices_without_vat_and_says_why(
    session: Session, month: dict[str, Member]
) -> None:
    _bob, alice = close(session, EXEMPT, vat_percent=0.0)
    assert (alice.total_cents, alice.vat_cents) == (4600, 0)
    xml = cii_xml(alice)
    _xsd_valid(xml)
    root = ET.fromstring(xml)
    reason = f".//{RAM}ApplicableHeaderTradeSettlement/{RAM}ApplicableTradeTax/{RAM}ExemptionReason"
    assert root.findtext(reason) == "TVA non applicable, art. 293 B du CGI"
    assert _amounts(xml)["GrandTotalAmount"] == "46.00"
    assert "TVA non applicable, art. 293 B du CGI" in pdf_text(invoice_pdf(alice))


def pdf_text(pdf: bytes) -> str:
    import pypdfium2

    document = pypdfium2.PdfDocument(pdf)
    try:
        return " ".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


def test_the_pdf_shows_the_number_the_totals_and_the_mentions(
    session: Session, month: dict[str, Member]
) -> None:
    bob, alice = close(session)
    text = " ".join(pdf_text(invoice_pdf(bob)).split())
    for expected in (
        "FACTURE F-2026-000001",
        "La Cantine du Port",
        "SIRET 12345678200010",
        "TVA intracommunautaire FR32123456782",
        "Durand Conseil SARL",
        "SIREN 732829320",
        "Demi-journée de coworking",
        "Total HT 8,33 €",
        "TVA 20 % sur 8,33 € 1,67 €",
        "Total TTC 10,00 €",
        "Date d'échéance : 31 décembre 2026",
        "Pas d'escompte pour paiement anticipé.",
        "trois fois le taux d'intérêt légal",
        "40 €",
        "du 1 novembre 2026 au 30 novembre 2026",
    ):
        assert expected in text, expected
    private = " ".join(pdf_text(invoice_pdf(alice)).split())
    assert "40 €" not in private  # the fixed indemnity is for business customers


def test_the_factur_x_embeds_the_xml_in_a_pdf_a_3(
    session: Session, month: dict[str, Member]
) -> None:
    from facturx import get_xml_from_pdf
    from pypdf import PdfReader

    _bob, alice = close(session)
    pdf = facturx_pdf(alice)
    name, embedded = get_xml_from_pdf(pdf, check_xsd=True)
    assert name == "factur-x.xml" and embedded == cii_xml(alice)
    catalog: Any = PdfReader(io.BytesIO(pdf)).trailer["/Root"]
    metadata = catalog["/Metadata"].get_object().get_data()
    assert (
        b"<pdfaid:part>3</pdfaid:part>" in metadata and b"<fx:ConformanceLevel>EN 16931" in metadata
    )
    assert catalog["/OutputIntents"][0].get_object()["/S"] == "/GTS_PDFA1"
    assert b"/FontFile2" in pdf  # the fonts are embedded
    assert "Total TTC 46,00 €" in " ".join(pdf_text(pdf).split())


# -- two admins closing at once ----------------------------------------------------------------


def _server_settings(url: str, folder: str) -> Settings:
    server = {"database_url": url, "secret_key": "x", "data_dir": folder}
    return Settings.model_validate({"server": server, "invoicing": SPACE.model_dump()})


def _close_in_a_process(url: str, folder: str, month: str, start: Any) -> list[str]:
    """Close `month` in a process of its own, once `start` is set: as an admin would."""
    from server import create_app

    settings = _server_settings(url, folder)
    app = create_app(settings)
    runtime: Runtime = app.extensions["presence"]
    first = date.fromisoformat(month)
    start.wait()
    with runtime.transaction() as session:
        _statements, invoices = close_and_invoice(
            session, first, date(2027, 2, 1), CLOSING, month, settings.billing, SPACE
        )
        labels = [invoice.label for invoice in invoices]
    runtime.engine.dispose()
    return labels


@pytest.mark.postgres
def test_two_months_closed_at_once_share_one_unbroken_sequence(
    postgres_url: str, tmp_path: Any
) -> None:
    from server import create_app

    runtime: Runtime = create_app(_server_settings(postgres_url, str(tmp_path))).extensions[
        "presence"
    ]
    Base.metadata.drop_all(runtime.engine)
    Base.metadata.create_all(runtime.engine)
    migrate.stamp_head(runtime.engine)
    with runtime.sessions() as session:
        arrange_two_months(session)
        session.commit()
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(2) as pool:
        start = manager.Event()
        results = [
            pool.apply_async(_close_in_a_process, (postgres_url, str(tmp_path), month, start))
            for month in ("2026-11-01", "2026-12-01")
        ]
        start.set()
        labels = [label for result in results for label in result.get(timeout=120)]
    numbers = sorted(int(label.rsplit("-", 1)[1]) for label in labels)
    assert numbers == list(range(1, 61))
    with runtime.session() as check:
        stored = check.scalars(select(Invoice.number).order_by(Invoice.number)).all()
    assert list(stored) == list(range(1, 61))
    runtime.engine.dispose()


def arrange_two_months(session: Session) -> None:
    """30 members, each with a half day in November and one in December."""
    site = make_site(session, opening_hours={})
    kiosk, _token = make_kiosk(session, site)
    for n in range(30):
        badge = make_badge(session, make_member(session, family_name=f"M{n:02d}"))
        for day in (date(2026, 11, 3), date(2026, 12, 3)):
            badge_tap(session, kiosk, badge, paris(day, 9).astimezone(UTC))
            badge_tap(session, kiosk, badge, paris(day, 11).astimezone(UTC))
