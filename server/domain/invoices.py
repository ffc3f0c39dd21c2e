"""Invoices: the legal documents issued from closed statements, credit notes, payments.

- Closing a month (`close_and_invoice`) stores its statements and, with `[invoicing]
  issue_invoices`, issues in the same transaction one invoice to each member whose
  statement has something to pay. Nothing is written when the space's legal identity is
  incomplete, or when a member invoiced as a company has no address: the refusal names
  what is missing (the caller's transaction rolls back on a refusal).
- Numbers come from one counter per legal entity (the seller's SIREN) and series (the
  invoices' prefix, the credit notes' prefix), taken in the closing transaction with the
  counter's row locked: a number is never skipped nor given twice, whoever closes at the
  same time. `F-2026-000123`: prefix, year of issue, number (the counter never restarts).
- What an invoice says (seller, buyer, lines, mentions) is frozen in `Invoice.document`
  when it is issued; the PDF and the Factur-X are made from it (see invoice_documents).
  A closed invoice never changes: a correction is a credit note (avoir) referring to it.
- Payments: an invoice may be paid in several parts, never beyond what it still asks
  (its total less its credit notes and payments); a credit note takes no payment.

Prices are VAT included, as in the statements: an invoice's total and VAT are its
statement's; each line's amount excluding VAT is worked out and the cent lost in
rounding goes to the largest line, so the lines add up to the statement's net total.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.domain.billing import (
    FULL,
    BillingError,
    MonthStatement,
    close_month,
    money,
    month_days,
    round_cents,
    vat_of,
)
from server.domain.spreadsheets import cell, csv_text
from server.settings import BillingSection, InvoicingSection, siren_ok
from server.store.models import (
    Invoice,
    InvoiceCounter,
    InvoiceKind,
    Member,
    Payment,
    PaymentMethod,
    Statement,
)

EXEMPTION = "TVA non applicable, art. 293 B du CGI"
NO_DISCOUNT = "Pas d'escompte pour paiement anticipé."
RECOVERY_FEE = (
    "Indemnité forfaitaire pour frais de recouvrement due au créancier en cas de retard "
    "de paiement (client professionnel) : 40 € (Code de commerce L441-10 et D441-5)."
)
METHOD_NAMES = {
    PaymentMethod.CASH: "espèces",
    PaymentMethod.CARD: "carte",
    PaymentMethod.TRANSFER: "virement",
    PaymentMethod.HELLOASSO: "HelloAsso",
    PaymentMethod.CHEQUE: "chèque",
}


# -- the parties ---------------------------------------------------------------------------


def check_siren(text: str) -> str:
    """A member's SIREN (9 digits) or SIRET (14), spaces removed; refused if wrong."""
    digits = "".join(text.split())
    if digits and not siren_ok(digits):
        raise BillingError("bad_siren", value=text)
    return digits


def seller(invoicing: InvoicingSection) -> dict[str, Any]:
    """The space as an invoice names it (refused, naming the settings, if incomplete)."""
    missing = invoicing.missing()
    if missing:
        raise BillingError("no_identity", missing=", ".join(missing))
    return {
        "name": invoicing.legal_name,
        "legal_form": invoicing.legal_form,
        "street": invoicing.street,
        "postcode": invoicing.postcode,
        "city": invoicing.city,
        "country": invoicing.country,
        "siret": invoicing.siret,
        "siren": invoicing.siren,
        "vat_number": invoicing.vat_number,
        "iban": invoicing.iban,
    }


def is_business(member: Member) -> bool:
    return bool(member.billing_company.strip() or member.billing_siren)


def buyer_missing(member: Member) -> list[str]:
    """What an invoice to this member lacks: a business needs its address; a private
    person's name is enough."""
    if not is_business(member):
        return []
    wanted = {
        "billing_street": "adresse",
        "billing_postcode": "code postal",
        "billing_city": "ville",
    }
    return [label for column, label in wanted.items() if not getattr(member, column).strip()]


def buyer(member: Member, statement_name: str) -> dict[str, Any]:
    person = member.billing_name.strip() or statement_name or f"Membre n° {member.id}"
    return {
        "member_id": member.id,
        "name": person,
        "company": member.billing_company.strip(),
        "siren": member.billing_siren,
        "street": member.billing_street.strip(),
        "postcode": member.billing_postcode.strip(),
        "city": member.billing_city.strip(),
        "country": member.billing_country or "FR",
        "business": is_business(member),
    }


# -- the lines -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One line of an invoice: `unit_cents` and `total_cents` VAT included, `net_cents`
    the line's amount excluding VAT."""

    label: str
    quantity: int
    unit_cents: int
    total_cents: int
    net_cents: int

    def unit_net(self, vat_percent: float) -> Decimal:
        """The unit price excluding VAT, to the hundredth of a cent."""
        unit = Decimal(self.unit_cents) * 100 / (100 + Decimal(str(vat_percent))) / 100
        return unit.quantize(Decimal("0.0001"))

    @classmethod
    def of(cls, stored: dict[str, Any]) -> Line:
        return cls(**stored)


DAY_LABELS = {
    ("half", "payg"): "Demi-journée de coworking",
    ("full", "payg"): "Journée de coworking",
    ("full", "pack+payg"): "Demi-journée au-delà du carnet",
}


def statement_lines(statement: MonthStatement, vat_percent: float) -> list[Line]:
    """The statement's priced items, grouped by kind and price, VAT included."""
    grouped: dict[tuple[str, int], int] = defaultdict(int)
    order: list[tuple[str, int]] = []

    def add(label: str, price: int, quantity: int = 1) -> None:
        if price <= 0:
            return  # a day paid by pack credits or a plan: the pack or the plan is billed
        key = (label, price)
        if key not in grouped:
            order.append(key)
        grouped[key] += quantity

    for day in statement.days:
        label = DAY_LABELS.get((day.kind, day.how))
        if label is None:
            label = "Journée de coworking" if day.kind == FULL else "Demi-journée de coworking"
        add(label, day.price_cents)
    for purchase in statement.purchases:
        add(f"Carnet de {purchase.credits} demi-journées", purchase.price_cents)
    if statement.monthly_cents:
        days = len(month_days(statement.month))
        if statement.monthly_days == days:
            add("Abonnement mensuel", statement.monthly_cents)
        else:
            label = f"Abonnement mensuel ({statement.monthly_days} jours sur {days})"
            add(label, statement.monthly_cents)
    for charge in statement.guests:
        kind = "Journée" if charge.kind == FULL else "Demi-journée"
        add(f"{kind} d'invité·e", charge.price_cents)
    return priced_lines(
        [(label, grouped[(label, price)], price) for label, price in order],
        statement.total_cents - statement.vat_cents,
        vat_percent,
    )


def priced_lines(
    items: Sequence[tuple[str, int, int]], net_total: int, vat_percent: float
) -> list[Line]:
    """Lines of (label, quantity, unit price VAT included) whose amounts excluding VAT
    add up to `net_total` (the rounding difference goes to the largest line)."""
    rate = Decimal(str(vat_percent))
    lines = [
        Line(
            label,
            quantity,
            unit,
            quantity * unit,
            round_cents(Decimal(quantity * unit) * 100 / (100 + rate)),
        )
        for label, quantity, unit in items
    ]
    if lines:
        gap = net_total - sum(line.net_cents for line in lines)
        largest = max(range(len(lines)), key=lambda n: lines[n].total_cents)
        first = lines[largest]
        lines[largest] = Line(
            first.label, first.quantity, first.unit_cents, first.total_cents, first.net_cents + gap
        )
    return lines


# -- numbering -------------------------------------------------------------------------------


def take_numbers(session: Session, entity: str, series: str, count: int) -> range:
    """`count` numbers in a row from the counter of (entity, series), whose row stays
    locked until the transaction ends (UPDATE takes the row lock on PostgreSQL; SQLite
    writes under the database's write lock): two transactions never get the same
    numbers, and a rolled-back one gives its numbers back."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(InvoiceCounter)
        .values(entity=entity, series=series, last_number=0)
        .on_conflict_do_nothing()
    )
    last = session.execute(
        update(InvoiceCounter)
        .where(InvoiceCounter.entity == entity, InvoiceCounter.series == series)
        .values(last_number=InvoiceCounter.last_number + count)
        .returning(InvoiceCounter.last_number)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return range(last - count + 1, last + 1)


def label_of(series: str, year: int, number: int) -> str:
    return f"{series}-{year}-{number:06d}"


# -- issuing ---------------------------------------------------------------------------------


def mentions(invoicing: InvoicingSection, business: bool) -> dict[str, Any]:
    """The legal mentions printed at the foot of an invoice (see docs/invoices.md)."""
    return {
        "vat": EXEMPTION if invoicing.vat_exempt else "",
        "late_penalty": f"Pénalités de retard : {invoicing.late_penalty}.",
        "recovery_fee": RECOVERY_FEE if business else "",
        "discount": NO_DISCOUNT,
    }


def close_and_invoice(
    session: Session,
    month: date,
    today: date,
    now: datetime,
    actor: str,
    rules: BillingSection,
    invoicing: InvoicingSection,
) -> tuple[list[MonthStatement], list[Invoice]]:
    """Close a month (see `billing.close_month`) and, if the space issues invoices, issue
    one to each member with something to pay, numbered in this transaction. A refusal
    may come after the statements are written: the caller's transaction must roll back."""
    if invoicing.issue_invoices:
        seller(invoicing)  # before anything: the legal identity is complete
        if invoicing.vat_exempt and rules.vat_percent != 0:
            raise BillingError("vat_mismatch")
    statements = close_month(session, month, today, now, actor, rules)
    if not invoicing.issue_invoices:
        return statements, []
    return statements, issue_invoices(session, statements, today, now, actor, rules, invoicing)


def issue_invoices(
    session: Session,
    statements: Sequence[MonthStatement],
    today: date,
    now: datetime,
    actor: str,
    rules: BillingSection,
    invoicing: InvoicingSection,
) -> list[Invoice]:
    """One invoice for each closed statement with something to pay, in their order."""
    space = seller(invoicing)
    owing = [one for one in statements if one.total_cents > 0]
    members = {
        m.id: m
        for m in session.scalars(select(Member).where(Member.id.in_([s.member_id for s in owing])))
    }
    problems = []
    for one in owing:
        missing = buyer_missing(members[one.member_id])
        if missing:
            problems.append(f"{one.member_name or one.member_id} ({', '.join(missing)})")
    if problems:
        raise BillingError("buyer_address", members="; ".join(problems))
    month = owing[0].month if owing else None
    stored = dict(
        session.execute(
            select(Statement.member_id, Statement.id).where(Statement.month == month)
        ).all()
    )
    if not owing:
        return []
    numbers = iter(take_numbers(session, invoicing.siren, invoicing.invoice_prefix, len(owing)))
    issued = []
    for one in owing:
        member = members[one.member_id]
        party = buyer(member, one.member_name)
        lines = statement_lines(one, rules.vat_percent)
        number = next(numbers)
        invoice = Invoice(
            entity=invoicing.siren,
            series=invoicing.invoice_prefix,
            number=number,
            label=label_of(invoicing.invoice_prefix, today.year, number),
            kind=InvoiceKind.INVOICE,
            member_id=member.id,
            statement_id=stored.get(member.id),
            month=one.month,
            issued_on=today,
            due_on=today + timedelta(days=invoicing.payment_days),
            total_cents=one.total_cents,
            vat_cents=one.vat_cents,
            document=_document(space, party, lines, rules, invoicing, one.month),
            issued_at=now,
            issued_by=actor,
        )
        session.add(invoice)
        issued.append(invoice)
    session.flush()
    return issued


def _document(
    space: dict[str, Any],
    party: dict[str, Any],
    lines: Sequence[Line],
    rules: BillingSection,
    invoicing: InvoicingSection,
    month: date,
    **more: Any,
) -> dict[str, Any]:
    return {
        "seller": space,
        "buyer": party,
        "lines": [line.__dict__ for line in lines],
        "currency": rules.currency,
        "vat_percent": 0.0 if invoicing.vat_exempt else rules.vat_percent,
        "vat_exempt": invoicing.vat_exempt,
        "period": [month.isoformat(), month_days(month)[-1].isoformat()],
        "mentions": mentions(invoicing, party["business"]),
        **more,
    }


def lines_of(invoice: Invoice) -> list[Line]:
    return [Line.of(line) for line in invoice.document["lines"]]


# -- credit notes ------------------------------------------------------------------------------


def credited_cents(session: Session, invoice: Invoice) -> int:
    """What credit notes have taken off an invoice so far."""
    found = session.scalar(
        select(func.coalesce(func.sum(Invoice.total_cents), 0)).where(
            Invoice.corrects_id == invoice.id
        )
    )
    return int(found or 0)


def paid_cents(session: Session, invoice: Invoice) -> int:
    found = session.scalar(
        select(func.coalesce(func.sum(Payment.amount_cents), 0)).where(
            Payment.invoice_id == invoice.id
        )
    )
    return int(found or 0)


def balance_cents(session: Session, invoice: Invoice) -> int:
    """What an invoice still asks: its total, less credit notes and payments (below
    zero: money to give back)."""
    return invoice.total_cents - credited_cents(session, invoice) - paid_cents(session, invoice)


def issue_credit_note(
    session: Session,
    invoice: Invoice,
    amount_cents: int | None,
    reason: str,
    today: date,
    now: datetime,
    actor: str,
    invoicing: InvoicingSection,
) -> Invoice:
    """A credit note (avoir) on an invoice, for `amount_cents` (VAT included) or, None,
    for all that is left of it (a full cancel). Numbered in its own series."""
    if invoice.kind is not InvoiceKind.INVOICE:
        raise BillingError("credit_on_credit_note")
    reason = " ".join(reason.split())
    if not reason:
        raise BillingError("no_reason")
    left = invoice.total_cents - credited_cents(session, invoice)
    amount = left if amount_cents is None else amount_cents
    if amount <= 0 or amount > left:
        raise BillingError("credit_amount", left=money(left, ","))
    space = seller(invoicing)
    if space["siren"] != invoice.entity:
        raise BillingError("other_entity")
    document = invoice.document
    vat_percent = float(document["vat_percent"])
    vat = vat_of(amount, vat_percent)
    if amount == invoice.total_cents:  # the whole invoice: the same lines
        lines = lines_of(invoice)
    else:
        label = f"Avoir sur la facture {invoice.label} : {reason}"
        lines = priced_lines([(label, 1, amount)], amount - vat, vat_percent)
    series = invoicing.credit_note_prefix
    (number,) = take_numbers(session, invoice.entity, series, 1)
    note = Invoice(
        entity=invoice.entity,
        series=series,
        number=number,
        label=label_of(series, today.year, number),
        kind=InvoiceKind.CREDIT_NOTE,
        member_id=invoice.member_id,
        corrects_id=invoice.id,
        month=invoice.month,
        issued_on=today,
        due_on=today,
        total_cents=amount,
        vat_cents=vat,
        reason=reason,
        document={
            **document,
            "seller": space,
            "lines": [line.__dict__ for line in lines],
            "corrects": {"label": invoice.label, "issued_on": invoice.issued_on.isoformat()},
            "reason": reason,
        },
        issued_at=now,
        issued_by=actor,
    )
    session.add(note)
    session.flush()
    return note


# -- payments -----------------------------------------------------------------------------------


def record_payment(
    session: Session,
    invoice: Invoice,
    paid_on: date,
    method: str,
    amount_cents: int | None,
    today: date,
    now: datetime,
    actor: str,
) -> Payment:
    """Money received for an invoice: `amount_cents`, or None for all it still asks."""
    if invoice.kind is not InvoiceKind.INVOICE:
        raise BillingError("payment_on_credit_note")
    try:
        how = PaymentMethod(method)
    except ValueError:
        raise BillingError("bad_method", method=method) from None
    left = balance_cents(session, invoice)
    amount = left if amount_cents is None else amount_cents
    if left <= 0:
        raise BillingError("already_paid")
    if amount <= 0 or amount > left:
        raise BillingError("payment_amount", left=money(left, ","))
    if paid_on > today:
        raise BillingError("payment_in_future")
    payment = Payment(
        invoice_id=invoice.id,
        paid_on=paid_on,
        method=how,
        amount_cents=amount,
        recorded_at=now,
        recorded_by=actor,
    )
    session.add(payment)
    session.flush()
    return payment


# -- lists ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceRow:
    """An invoice or credit note as the lists show it."""

    invoice: Invoice
    credited_cents: int
    paid_cents: int

    @property
    def balance_cents(self) -> int:
        if self.invoice.kind is not InvoiceKind.INVOICE:
            return 0
        return self.invoice.total_cents - self.credited_cents - self.paid_cents

    @property
    def status(self) -> str:
        """ "paid", "partly_paid", "unpaid", "cancelled" (credited in full), "credit_note"."""
        if self.invoice.kind is not InvoiceKind.INVOICE:
            return "credit_note"
        if self.credited_cents >= self.invoice.total_cents and not self.paid_cents:
            return "cancelled"
        if self.balance_cents <= 0:
            return "paid"
        return "partly_paid" if self.paid_cents else "unpaid"

    def days_late(self, today: date) -> int:
        """Days since the due date (0: not due yet)."""
        return max((today - self.invoice.due_on).days, 0)


def _rows(session: Session, invoices: Sequence[Invoice]) -> list[InvoiceRow]:
    ids = [invoice.id for invoice in invoices]
    credited = dict(
        session.execute(
            select(Invoice.corrects_id, func.sum(Invoice.total_cents))
            .where(Invoice.corrects_id.in_(ids))
            .group_by(Invoice.corrects_id)
        ).all()
    )
    paid = dict(
        session.execute(
            select(Payment.invoice_id, func.sum(Payment.amount_cents))
            .where(Payment.invoice_id.in_(ids))
            .group_by(Payment.invoice_id)
        ).all()
    )
    return [
        InvoiceRow(invoice, int(credited.get(invoice.id) or 0), int(paid.get(invoice.id) or 0))
        for invoice in invoices
    ]


def month_invoices(session: Session, month: date) -> list[InvoiceRow]:
    """The invoices for a month of service and their credit notes, in number order."""
    found = session.scalars(
        select(Invoice).where(Invoice.month == month).order_by(Invoice.series, Invoice.number)
    ).all()
    return _rows(session, found)


def member_invoices(session: Session, member_id: int) -> list[InvoiceRow]:
    found = session.scalars(
        select(Invoice)
        .where(Invoice.member_id == member_id)
        .order_by(Invoice.issued_on.desc(), Invoice.id.desc())
    ).all()
    return _rows(session, found)


def unpaid_invoices(session: Session, today: date) -> list[InvoiceRow]:
    """Every invoice that still asks for money, the most overdue first."""
    found = session.scalars(
        select(Invoice)
        .where(Invoice.kind == InvoiceKind.INVOICE)
        .order_by(Invoice.due_on, Invoice.number)
    ).all()
    return [row for row in _rows(session, found) if row.balance_cents > 0]


# -- the accountant's file -----------------------------------------------------------------------

CSV_COLUMNS = (
    "kind",
    "number",
    "date",
    "due_on",
    "member_id",
    "buyer",
    "company",
    "siren",
    "total_excl_vat",
    "vat",
    "total_incl_vat",
    "payment_method",
    "refers_to",
)
CSV_COLUMNS_FR = (
    "type",
    "numéro",
    "date",
    "échéance",
    "n° membre",
    "client",
    "société",
    "SIREN",
    "total HT",
    "TVA",
    "total TTC",
    "mode de paiement",
    "référence",
)
KIND_NAMES = {"invoice": "facture", "credit_note": "avoir", "payment": "paiement"}


def invoices_csv(rows: Iterable[InvoiceRow], excel: bool = False) -> str:
    """A month's invoices, credit notes and the payments received for them, one line
    each. `excel`: for a French Excel (`;`, decimal comma, BOM, French headers)."""
    lines: list[list[object]] = []
    mark = "," if excel else "."

    def kind(name: str) -> str:
        return KIND_NAMES[name] if excel else name

    for row in rows:
        invoice = row.invoice
        party = invoice.document["buyer"]
        refers = invoice.corrects.label if invoice.corrects is not None else ""
        lines.append(
            [
                kind(invoice.kind.value),
                invoice.label,
                invoice.issued_on.isoformat(),
                invoice.due_on.isoformat() if invoice.kind is InvoiceKind.INVOICE else "",
                invoice.member_id,
                cell(party["name"]),
                cell(party["company"]),
                party["siren"],
                money(invoice.total_cents - invoice.vat_cents, mark),
                money(invoice.vat_cents, mark),
                money(invoice.total_cents, mark),
                "",
                refers,
            ]
        )
        for payment in invoice.payments:
            method = payment.method
            lines.append(
                [
                    kind("payment"),
                    "",
                    payment.paid_on.isoformat(),
                    "",
                    invoice.member_id,
                    cell(party["name"]),
                    cell(party["company"]),
                    party["siren"],
                    "",
                    "",
                    money(payment.amount_cents, mark),
                    METHOD_NAMES[method] if excel else method.value,
                    invoice.label,
                ]
            )
    return csv_text(CSV_COLUMNS_FR if excel else CSV_COLUMNS, lines, excel)
