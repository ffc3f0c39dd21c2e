"""Staff pages for billing: a month's statements with their totals, each member's
detail, the CSV exports, closing a month (admins), and packs bought at the front desk."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask import Response as FlaskResponse
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from werkzeug.wrappers import Response

from server.domain import audit
from server.domain.billing import (
    BillingError,
    is_closed,
    month_statements,
    next_month,
    previous_month,
    record_pack,
    statement,
    statements_csv,
)
from server.domain.invoices import close_and_invoice, month_invoices, unpaid_invoices
from server.domain.sites import local_today
from server.i18n import refusal_text
from server.runtime import runtime
from server.store.models import Member
from server.web.staff import actor, admin_only, blp


def parse_month(text: str) -> date:
    """A month from its address ("2026-11"); anything else is not found."""
    try:
        return datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        abort(404)


@blp.get("/billing")
def billing() -> str:
    """A month's statements (this month, provisional, unless another is asked for)."""
    app = runtime()
    now = app.now()
    with app.session() as session:
        today = local_today(session, now)
        asked = request.args.get("month")
        month = parse_month(asked) if asked else today.replace(day=1)
        statements = month_statements(session, month, now, app.settings.billing)
        return render_template(
            "staff/billing.html",
            month=month,
            previous=previous_month(month),
            following=next_month(month),
            last_day=next_month(month) - timedelta(days=1),
            statements=statements,
            total=sum(one.total_cents for one in statements),
            vat=sum(one.vat_cents for one in statements),
            closed=is_closed(session, month),
            can_close=next_month(month) <= today,
            currency=app.settings.billing.currency,
            invoices=month_invoices(session, month),
            unpaid=unpaid_invoices(session, today),
            today=today,
            issue_invoices=app.settings.invoicing.issue_invoices,
        )


@blp.get("/billing/<month>.csv")
def billing_csv(month: str) -> Response:
    """The month as CSV; `?excel=1` for a French Excel (`;`, decimal comma, BOM, French
    headers and words)."""
    app = runtime()
    first = parse_month(month)
    excel = request.args.get("excel") == "1"
    with app.session() as session:
        body = statements_csv(
            month_statements(session, first, app.now(), app.settings.billing), excel=excel
        )
    name = f"releves-{month}{'-excel' if excel else ''}.csv"
    return FlaskResponse(
        body.encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@blp.post("/billing/<month>/close")
@admin_only
def billing_close(month: str) -> Response:
    """Close a month: its statements are stored and never change afterwards."""
    app = runtime()
    now = app.now()
    first = parse_month(month)
    settings = app.settings
    try:
        # The refusal leaves the transaction: nothing of a half-done closing is kept.
        with app.transaction() as session:
            closed, invoices = close_and_invoice(
                session,
                first,
                local_today(session, now),
                now,
                actor(),
                settings.billing,
                settings.invoicing,
            )
            audit.record(
                session,
                now,
                actor(),
                "billing.close",
                f"month:{month}",
                statements=len(closed),
                invoices=[invoice.label for invoice in invoices],
            )
    except BillingError as error:
        flash(refusal_text(error), "problem")
    else:
        closed_text = ngettext(
            "Mois clos : %(num)d relevé, définitif.",
            "Mois clos : %(num)d relevés, définitifs.",
            len(closed),
        )
        flash(closed_text, "saved")
        if invoices:
            flash(
                ngettext("%(num)d facture émise.", "%(num)d factures émises.", len(invoices)),
                "saved",
            )
    return redirect(url_for("staff.billing", month=month))


@blp.get("/billing/<month>/members/<int:member_id>")
def billing_member(month: str, member_id: int) -> str:
    """One member's statement, day by day."""
    app = runtime()
    first = parse_month(month)
    with app.session() as session:
        member = session.get(Member, member_id)
        if member is None:
            abort(404)
        found = statement(session, member, first, app.now(), app.settings.billing)
        return render_template(
            "staff/statement.html",
            statement=found,
            member=member,
            currency=app.settings.billing.currency,
        )


@blp.post("/members/<int:member_id>/packs")
def member_pack(member_id: int) -> Response:
    """A pack of half-day credits bought today at the front desk."""
    app = runtime()
    now = app.now()
    with app.transaction() as session:
        member = session.get(Member, member_id)
        if member is None or member.erased_at is not None:
            abort(404)
        try:
            purchase = record_pack(
                session, member, local_today(session, now), actor(), app.settings.billing
            )
        except BillingError as error:
            flash(refusal_text(error), "problem")
        else:
            audit.record(
                session,
                now,
                actor(),
                "billing.pack",
                f"member:{member_id}",
                credits=purchase.credits,
                price_cents=purchase.price_cents,
            )
            flash(_("Carnet enregistré : %(num)d demi-journées.", num=purchase.credits), "saved")
    return redirect(url_for("staff.member", member_id=member_id))
