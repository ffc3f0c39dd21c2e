"""Staff pages for invoices: one invoice with its payments and credit notes, its PDF,
Factur-X and XML, recording a payment (staff), issuing a credit note (admins), and the
month's invoices and payments as CSV for the accountant."""

from __future__ import annotations

import re
from datetime import date

from flask import Response as FlaskResponse
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from server.domain import audit
from server.domain.billing import BillingError
from server.domain.invoice_documents import cii_xml, facturx_pdf, invoice_pdf
from server.domain.invoices import (
    METHOD_NAMES,
    InvoiceRow,
    balance_cents,
    credited_cents,
    invoices_csv,
    issue_credit_note,
    lines_of,
    month_invoices,
    paid_cents,
    record_payment,
)
from server.domain.sites import local_today
from server.i18n import refusal_text
from server.runtime import runtime
from server.store.models import Invoice, InvoiceKind, PaymentMethod
from server.web.staff import actor, admin_only, blp
from server.web.staff.billing import parse_month

AMOUNT = re.compile(r"\s*(\d{1,7})(?:[.,](\d{1,2}))?\s*(?:€)?\s*")


def parse_cents(text: str) -> int | None:
    """ "12,50", "12.5" or "12" euros as cents; None if it is not an amount."""
    found = AMOUNT.fullmatch(text.replace("\u202f", "").replace(" ", ""))
    if not found:
        return None
    return int(found[1]) * 100 + int((found[2] or "0").ljust(2, "0"))


@blp.get("/invoices/<int:invoice_id>")
def invoice(invoice_id: int) -> str:
    """An invoice (or credit note): its lines, payments, credit notes, and the forms."""
    app = runtime()
    now = app.now()
    with app.session() as session:
        found = session.get(Invoice, invoice_id)
        if found is None:
            abort(404)
        notes = session.scalars(
            select(Invoice).where(Invoice.corrects_id == invoice_id).order_by(Invoice.number)
        ).all()
        return render_template(
            "staff/invoice.html",
            invoice=found,
            row=InvoiceRow(found, credited_cents(session, found), paid_cents(session, found)),
            lines=lines_of(found),
            notes=notes,
            balance=balance_cents(session, found),
            today=local_today(session, now),
            methods=[(method.value, METHOD_NAMES[method]) for method in PaymentMethod],
            currency=found.document["currency"],
            is_invoice=found.kind is InvoiceKind.INVOICE,
        )


def _file(body: bytes, mimetype: str, name: str) -> Response:
    return FlaskResponse(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _invoice(session: Session, invoice_id: int) -> Invoice:
    found = session.get(Invoice, invoice_id)
    if found is None:
        abort(404)
    return found


@blp.get("/invoices/<int:invoice_id>.pdf")
def invoice_pdf_file(invoice_id: int) -> Response:
    """The invoice as a PDF/A-3 (no XML inside)."""
    with runtime().session() as session:
        found = _invoice(session, invoice_id)
        return _file(invoice_pdf(found), "application/pdf", f"{found.label}.pdf")


@blp.get("/invoices/<int:invoice_id>/factur-x.pdf")
def invoice_facturx_file(invoice_id: int) -> Response:
    """The invoice as Factur-X: its PDF/A-3 with the CII XML embedded."""
    with runtime().session() as session:
        found = _invoice(session, invoice_id)
        return _file(facturx_pdf(found), "application/pdf", f"{found.label}-factur-x.pdf")


@blp.get("/invoices/<int:invoice_id>.xml")
def invoice_xml_file(invoice_id: int) -> Response:
    """The invoice's CII XML (EN 16931) alone."""
    with runtime().session() as session:
        found = _invoice(session, invoice_id)
        return _file(cii_xml(found), "application/xml", f"{found.label}.xml")


@blp.post("/invoices/<int:invoice_id>/payments")
def invoice_payment(invoice_id: int) -> Response:
    """Money received for an invoice: all it still asks, or the amount given."""
    app = runtime()
    now = app.now()
    form = request.form
    amount_text = form.get("amount", "").strip()
    amount = parse_cents(amount_text) if amount_text else None
    try:
        paid_on = date.fromisoformat(form.get("paid_on", ""))
    except ValueError:
        flash(_("Date de paiement illisible (attendu : AAAA-MM-JJ)."), "problem")
        return redirect(url_for("staff.invoice", invoice_id=invoice_id))
    if amount_text and amount is None:
        flash(_("Montant illisible : %(text)s (attendu : 12,50).", text=amount_text), "problem")
        return redirect(url_for("staff.invoice", invoice_id=invoice_id))
    with app.transaction() as session:
        found = _invoice(session, invoice_id)
        try:
            payment = record_payment(
                session,
                found,
                paid_on,
                form.get("method", ""),
                amount,
                local_today(session, now),
                now,
                actor(),
            )
        except BillingError as error:
            flash(refusal_text(error), "problem")
        else:
            audit.record(
                session,
                now,
                actor(),
                "invoice.payment",
                f"invoice:{found.label}",
                amount_cents=payment.amount_cents,
                method=payment.method.value,
                paid_on=paid_on.isoformat(),
            )
            flash(_("Paiement enregistré."), "saved")
    return redirect(url_for("staff.invoice", invoice_id=invoice_id))


@blp.post("/invoices/<int:invoice_id>/credit-notes")
@admin_only
def invoice_credit_note(invoice_id: int) -> Response:
    """A credit note on an invoice: for an amount, or for all that is left (cancel)."""
    app = runtime()
    now = app.now()
    form = request.form
    full = form.get("full") == "1"
    amount_text = form.get("amount", "").strip()
    amount = None if full else parse_cents(amount_text)
    if not full and amount is None:
        flash(_("Montant illisible : %(text)s (attendu : 12,50).", text=amount_text), "problem")
        return redirect(url_for("staff.invoice", invoice_id=invoice_id))
    reason = form.get("reason", "")
    try:
        with app.transaction() as session:
            found = _invoice(session, invoice_id)
            note = issue_credit_note(
                session,
                found,
                amount,
                reason,
                local_today(session, now),
                now,
                actor(),
                app.settings.invoicing,
            )
            audit.record(
                session,
                now,
                actor(),
                "invoice.credit_note",
                f"invoice:{found.label}",
                reason=note.reason,
                credit_note=note.label,
                amount_cents=note.total_cents,
            )
            note_id, label = note.id, note.label
    except BillingError as error:
        flash(refusal_text(error), "problem")
        return redirect(url_for("staff.invoice", invoice_id=invoice_id))
    flash(_("Avoir %(label)s émis.", label=label), "saved")
    return redirect(url_for("staff.invoice", invoice_id=note_id))


@blp.get("/billing/<month>/invoices.csv")
def invoices_csv_file(month: str) -> Response:
    """The month's invoices, credit notes and payments; `?excel=1` for a French Excel."""
    first = parse_month(month)
    excel = request.args.get("excel") == "1"
    with runtime().session() as session:
        body = invoices_csv(month_invoices(session, first), excel=excel)
    name = f"factures-{month}{'-excel' if excel else ''}.csv"
    return _file(body.encode("utf-8"), "text/csv", name)
