"""An invoice's files: its PDF (PDF/A-3), its CII XML (EN 16931), and the Factur-X that
holds both (the XML embedded in the PDF/A-3, by the `factur-x` library).

All three are made from what the invoice froze when it was issued (`Invoice.document`),
so they say the same thing every time they are asked for. The PDF is drawn with fpdf2
in PDF/A-3b mode (fonts embedded, an sRGB output intent); the font is DejaVu Sans,
shipped in server/fonts.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from server.domain.invoices import Line, lines_of
from server.store.models import Invoice, InvoiceKind

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
for _prefix, _uri in (("rsm", RSM), ("ram", RAM), ("udt", UDT), ("qdt", QDT)):
    ET.register_namespace(_prefix, _uri)

#: DejaVu Sans comes with Présence (server/fonts, with its licence): an invoice is drawn
#: the same on every machine. Debian's and Fedora's copies would do as well.
FONT_DIRS = (
    Path(__file__).resolve().parents[1] / "fonts",
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu-sans-fonts"),
    Path("/usr/share/fonts/TTF"),
)


class FontMissing(RuntimeError):
    """No DejaVu Sans on this machine: invoices cannot be drawn."""


def _amount(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def _percent(value: float) -> str:
    return format(Decimal(str(value)).normalize(), "f")


def _date(day: date) -> str:
    return day.strftime("%Y%m%d")


# -- the CII XML (EN 16931) -------------------------------------------------------------------


def _add(parent: ET.Element, ns: str, name: str, text: str | None = None, **attrs: str) -> Any:
    element = ET.SubElement(parent, f"{{{ns}}}{name}", attrs)
    if text is not None:
        element.text = text
    return element


def _day(parent: ET.Element, name: str, day: date, ns: str = RAM, inner: str = UDT) -> None:
    holder = _add(parent, ns, name)
    _add(holder, inner, "DateTimeString", _date(day), format="102")


def _party(parent: ET.Element, name: str, party: dict[str, Any], is_seller: bool) -> None:
    element = _add(parent, RAM, name)
    display = party.get("company") or party["name"]
    _add(element, RAM, "Name", display)
    if is_seller and party.get("legal_form"):
        _add(element, RAM, "Description", party["legal_form"])  # BT-33
    siren = party.get("siren") or ""
    if siren:
        legal = _add(element, RAM, "SpecifiedLegalOrganization")
        # ISO 6523: 0002 is a SIREN, 0009 a SIRET
        _add(legal, RAM, "ID", siren, schemeID="0002" if len(siren) == 9 else "0009")
    address = _add(element, RAM, "PostalTradeAddress")
    if party.get("postcode"):
        _add(address, RAM, "PostcodeCode", party["postcode"])
    if party.get("street"):
        _add(address, RAM, "LineOne", party["street"])
    if not is_seller and party.get("company") and party["name"] != display:
        _add(address, RAM, "LineTwo", f"À l'attention de {party['name']}")
    if party.get("city"):
        _add(address, RAM, "CityName", party["city"])
    _add(address, RAM, "CountryID", party.get("country") or "FR")
    if is_seller:
        if party.get("vat_number"):
            tax = _add(element, RAM, "SpecifiedTaxRegistration")
            _add(tax, RAM, "ID", party["vat_number"], schemeID="VA")
        else:  # under the franchise: the SIREN is the seller's tax identifier (BT-32)
            tax = _add(element, RAM, "SpecifiedTaxRegistration")
            _add(tax, RAM, "ID", party["siren"], schemeID="FC")


def cii_xml(invoice: Invoice) -> bytes:
    """The invoice as a Cross Industry Invoice (Factur-X EN 16931 profile)."""
    document = invoice.document
    currency = document["currency"]
    exempt = bool(document["vat_exempt"])
    rate = _percent(float(document["vat_percent"]))
    category = "E" if exempt else ("S" if float(document["vat_percent"]) > 0 else "Z")
    lines = lines_of(invoice)
    net_total = invoice.total_cents - invoice.vat_cents

    root = ET.Element(f"{{{RSM}}}CrossIndustryInvoice")
    context = _add(root, RSM, "ExchangedDocumentContext")
    guideline = _add(context, RAM, "GuidelineSpecifiedDocumentContextParameter")
    _add(guideline, RAM, "ID", "urn:cen.eu:en16931:2017")

    header = _add(root, RSM, "ExchangedDocument")
    _add(header, RAM, "ID", invoice.label)
    _add(header, RAM, "TypeCode", "381" if invoice.kind is InvoiceKind.CREDIT_NOTE else "380")
    _day(header, "IssueDateTime", invoice.issued_on)
    mentions = document["mentions"]
    notes = [
        (mentions.get("vat", ""), "REG"),
        (mentions.get("late_penalty", ""), "PMD"),
        (mentions.get("recovery_fee", ""), "PMT"),
        (mentions.get("discount", ""), "AAB"),
        (document.get("reason", ""), "ACD"),
    ]
    for content, subject in notes:
        if content:
            note = _add(header, RAM, "IncludedNote")
            _add(note, RAM, "Content", content)
            _add(note, RAM, "SubjectCode", subject)

    transaction = _add(root, RSM, "SupplyChainTradeTransaction")
    for n, line in enumerate(lines, start=1):
        item = _add(transaction, RAM, "IncludedSupplyChainTradeLineItem")
        _add(_add(item, RAM, "AssociatedDocumentLineDocument"), RAM, "LineID", str(n))
        _add(_add(item, RAM, "SpecifiedTradeProduct"), RAM, "Name", line.label)
        agreement = _add(item, RAM, "SpecifiedLineTradeAgreement")
        price = _add(agreement, RAM, "NetPriceProductTradePrice")
        _add(price, RAM, "ChargeAmount", str(line.unit_net(float(document["vat_percent"]))))
        delivery = _add(item, RAM, "SpecifiedLineTradeDelivery")
        _add(delivery, RAM, "BilledQuantity", str(line.quantity), unitCode="C62")
        settlement = _add(item, RAM, "SpecifiedLineTradeSettlement")
        tax = _add(settlement, RAM, "ApplicableTradeTax")
        _add(tax, RAM, "TypeCode", "VAT")
        _add(tax, RAM, "CategoryCode", category)
        _add(tax, RAM, "RateApplicablePercent", rate)
        summation = _add(settlement, RAM, "SpecifiedTradeSettlementLineMonetarySummation")
        _add(summation, RAM, "LineTotalAmount", _amount(line.net_cents))

    agreement = _add(transaction, RAM, "ApplicableHeaderTradeAgreement")
    _party(agreement, "SellerTradeParty", document["seller"], is_seller=True)
    _party(agreement, "BuyerTradeParty", document["buyer"], is_seller=False)
    _add(transaction, RAM, "ApplicableHeaderTradeDelivery")

    settlement = _add(transaction, RAM, "ApplicableHeaderTradeSettlement")
    _add(settlement, RAM, "InvoiceCurrencyCode", currency)
    iban = document["seller"].get("iban")
    if iban and invoice.kind is InvoiceKind.INVOICE:
        means = _add(settlement, RAM, "SpecifiedTradeSettlementPaymentMeans")
        _add(means, RAM, "TypeCode", "58")  # SEPA credit transfer
        account = _add(means, RAM, "PayeePartyCreditorFinancialAccount")
        _add(account, RAM, "IBANID", iban)
    tax = _add(settlement, RAM, "ApplicableTradeTax")
    _add(tax, RAM, "CalculatedAmount", _amount(invoice.vat_cents))
    _add(tax, RAM, "TypeCode", "VAT")
    if exempt:
        _add(tax, RAM, "ExemptionReason", mentions["vat"])
    _add(tax, RAM, "BasisAmount", _amount(net_total))
    _add(tax, RAM, "CategoryCode", category)
    _add(tax, RAM, "RateApplicablePercent", rate)
    first, last = (date.fromisoformat(day) for day in document["period"])
    period = _add(settlement, RAM, "BillingSpecifiedPeriod")
    _day(period, "StartDateTime", first)
    _day(period, "EndDateTime", last)
    if invoice.kind is InvoiceKind.INVOICE:
        terms = _add(settlement, RAM, "SpecifiedTradePaymentTerms")
        _add(terms, RAM, "Description", f"À régler au plus tard le {invoice.due_on:%d/%m/%Y}.")
        _day(terms, "DueDateDateTime", invoice.due_on)
    sums = _add(settlement, RAM, "SpecifiedTradeSettlementHeaderMonetarySummation")
    _add(sums, RAM, "LineTotalAmount", _amount(net_total))
    _add(sums, RAM, "TaxBasisTotalAmount", _amount(net_total))
    _add(sums, RAM, "TaxTotalAmount", _amount(invoice.vat_cents), currencyID=currency)
    _add(sums, RAM, "GrandTotalAmount", _amount(invoice.total_cents))
    _add(sums, RAM, "DuePayableAmount", _amount(invoice.total_cents))
    corrects = document.get("corrects")
    if corrects:
        referenced = _add(settlement, RAM, "InvoiceReferencedDocument")
        _add(referenced, RAM, "IssuerAssignedID", corrects["label"])
        _day(
            referenced,
            "FormattedIssueDateTime",
            date.fromisoformat(corrects["issued_on"]),
            inner=QDT,
        )
    written: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return written


# -- the PDF -------------------------------------------------------------------------------------


def euros(cents: int) -> str:
    """1234567 -> "12 345,67 €" (a narrow no-break space between thousands)."""
    sign = "-" if cents < 0 else ""
    whole = f"{abs(cents) // 100:,}".replace(",", "\u202f")
    return f"{sign}{whole},{abs(cents) % 100:02d} €"


def unit_euros(unit: Decimal) -> str:
    """A unit price to the hundredth of a cent, without trailing zeros past the cents."""
    text = f"{unit:.4f}".rstrip("0")
    whole, _, fraction = text.partition(".")
    fraction = fraction.ljust(2, "0")
    return f"{int(whole):,}".replace(",", "\u202f") + f",{fraction} €"


def _font_dir() -> Path:
    for folder in FONT_DIRS:
        if (folder / "DejaVuSans.ttf").exists() and (folder / "DejaVuSans-Bold.ttf").exists():
            return folder
    raise FontMissing("DejaVu Sans not found: install Debian's fonts-dejavu-core")


MONTHS = (
    "janvier février mars avril mai juin juillet août septembre octobre novembre décembre"
).split()


def _french_date(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def invoice_pdf(invoice: Invoice) -> bytes:
    """The invoice (or credit note) as a PDF/A-3b, in French."""
    from fpdf import FPDF, FontFace

    document = invoice.document
    seller, buyer = document["seller"], document["buyer"]
    vat_percent = float(document["vat_percent"])
    credit = invoice.kind is InvoiceKind.CREDIT_NOTE
    title = ("Avoir" if credit else "Facture") + f" {invoice.label}"

    pdf = FPDF(format="A4", enforce_compliance="PDFA_3B")
    pdf.set_lang("fr-FR")
    pdf.set_title(title)
    pdf.set_author(seller["name"])
    pdf.set_creator("Présence")
    pdf.set_creation_date(invoice.issued_at)
    fonts = _font_dir()
    pdf.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_page()
    width = pdf.epw

    def text(body: str, size: float = 9, bold: bool = False, w: float = 0) -> None:
        pdf.set_font("DejaVu", "B" if bold else "", size)
        pdf.multi_cell(w or width, 4.6, body, new_x="LMARGIN", new_y="NEXT")

    # The seller, top left; the document's name and dates, top right.
    top = pdf.get_y()
    text(seller["name"], 12, bold=True, w=width / 2)
    seller_lines = [
        seller.get("legal_form", ""),
        seller["street"],
        f"{seller['postcode']} {seller['city']}",
        f"SIRET {seller['siret']} — SIREN {seller['siren']}",
        f"TVA intracommunautaire {seller['vat_number']}" if seller.get("vat_number") else "",
    ]
    text("\n".join(line for line in seller_lines if line), w=width / 2)
    below_seller = pdf.get_y()
    pdf.set_xy(pdf.l_margin + width / 2, top)
    pdf.set_font("DejaVu", "B", 16)
    pdf.cell(width / 2, 8, ("AVOIR " if credit else "FACTURE ") + invoice.label, align="R")
    pdf.set_xy(pdf.l_margin + width / 2, top + 9)
    pdf.set_font("DejaVu", "", 9)
    facts = [f"Date d'émission : {_french_date(invoice.issued_on)}"]
    first, last = (date.fromisoformat(day) for day in document["period"])
    facts.append(f"Période : du {_french_date(first)} au {_french_date(last)}")
    if credit:
        corrects = document["corrects"]
        facts.append(
            f"Avoir sur la facture {corrects['label']} du "
            f"{_french_date(date.fromisoformat(corrects['issued_on']))}"
        )
    else:
        facts.append(f"Date d'échéance : {_french_date(invoice.due_on)}")
    pdf.multi_cell(width / 2, 4.6, "\n".join(facts), align="R")
    pdf.set_y(max(below_seller, pdf.get_y()) + 6)

    # The buyer.
    pdf.set_x(pdf.l_margin + width / 2)
    buyer_lines = [buyer["company"], buyer["name"]] if buyer["company"] else [buyer["name"]]
    if buyer["street"]:
        buyer_lines.append(buyer["street"])
    if buyer["postcode"] or buyer["city"]:
        buyer_lines.append(f"{buyer['postcode']} {buyer['city']}".strip())
    if buyer["siren"]:
        buyer_lines.append(("SIREN " if len(buyer["siren"]) == 9 else "SIRET ") + buyer["siren"])
    pdf.set_font("DejaVu", "B", 9)
    pdf.cell(width / 2, 5, "Client", new_x="LMARGIN", new_y="NEXT")
    pdf.set_x(pdf.l_margin + width / 2)
    pdf.set_font("DejaVu", "", 9)
    pdf.multi_cell(width / 2, 4.6, "\n".join(buyer_lines), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    if credit:
        text(f"Motif : {document['reason']}")
        pdf.ln(2)

    # The lines (a long description wraps in its cell).
    rate = f"{_percent(vat_percent).replace('.', ',')} %"
    pdf.set_font("DejaVu", "", 9)
    with pdf.table(
        col_widths=(43, 10, 15, 10, 22),
        text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
        borders_layout="HORIZONTAL_LINES",
        line_height=5.5,
        headings_style=FontFace(emphasis="BOLD"),
        first_row_as_headings=True,
    ) as table:
        table.row(("Désignation", "Quantité", "PU HT", "TVA", "Montant HT"))
        line: Line
        for line in lines_of(invoice):
            unit = unit_euros(line.unit_net(vat_percent))
            table.row((line.label, str(line.quantity), unit, rate, euros(line.net_cents)))
    pdf.ln(3)

    # The totals.
    net = invoice.total_cents - invoice.vat_cents
    totals = [("Total HT", euros(net))]
    if document["vat_exempt"]:
        totals.append(("TVA", euros(0)))
    else:
        totals.append((f"TVA {rate} sur {euros(net)}", euros(invoice.vat_cents)))
    totals.append(("Total TTC" + (" de l'avoir" if credit else ""), euros(invoice.total_cents)))
    for n, (name, value) in enumerate(totals):
        bold = n == len(totals) - 1
        pdf.set_font("DejaVu", "B" if bold else "", 10 if bold else 9)
        pdf.set_x(pdf.l_margin + width * 0.45)
        pdf.cell(width * 0.33, 6, name, align="R")
        pdf.cell(width * 0.22, 6, value, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)

    # The mentions the law asks for.
    mentions = document["mentions"]
    notes = []
    if mentions.get("vat"):
        notes.append(mentions["vat"])
    if not credit:
        notes.append(f"À régler au plus tard le {_french_date(invoice.due_on)}.")
        if seller.get("iban"):
            notes.append(f"Virement : IBAN {seller['iban']}")
        notes.append(mentions["discount"])
        notes.append(mentions["late_penalty"])
        if mentions.get("recovery_fee"):
            notes.append(mentions["recovery_fee"])
    text("\n".join(notes), 8)
    return bytes(pdf.output())


def facturx_pdf(invoice: Invoice) -> bytes:
    """The invoice's PDF with its CII XML embedded: a Factur-X (EN 16931) PDF/A-3."""
    from facturx import generate_from_binary

    kind = "Avoir" if invoice.kind is InvoiceKind.CREDIT_NOTE else "Facture"
    seller = invoice.document["seller"]["name"]
    found: bytes = generate_from_binary(
        invoice_pdf(invoice),
        cii_xml(invoice),
        flavor="factur-x",
        level="en16931",
        check_xsd=True,
        pdf_metadata={
            "author": seller,
            "keywords": "Factur-X, " + kind,
            "title": f"{seller} : {kind} {invoice.label}",
            "subject": f"{kind} {invoice.label} du {invoice.issued_on:%d/%m/%Y}",
        },
        lang="fr-FR",
    )
    return found
