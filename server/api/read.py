"""The read API under /api/v1, for integrations (accounting, dashboards, an auditor's
scripts): visits, members, statements and invoices, read-only, with a staff API token.

An admin makes a token on the staff pages ("Jetons d'API"); its scope is `read`, so a
token opens these GET endpoints and nothing else (not the kiosk endpoints; no method here
changes anything). Lists are paged (`page`, `per_page`) and answer
`{"items": [...], "page", "per_page", "total", "pages"}`. Every token, and every client
address, may make `[api] token_requests_per_minute` requests a minute.

Erased members (GDPR) are tombstones: they are listed, so that an integration can erase
its own copy, with nothing but their id and when they were erased; no name of theirs is
ever answered (visits and statements give `member_name: null`).
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.api.errors import ApiError
from server.api.schemas import (
    ErrorSchema,
    InvoicePageSchema,
    MemberOutSchema,
    MemberPageSchema,
    MonthArgsSchema,
    PageArgsSchema,
    StatementPageSchema,
    VisitArgsSchema,
    VisitPageSchema,
)
from server.domain.api_tokens import find_token, note_use
from server.domain.billing import MonthStatement, Plans, month_statements
from server.domain.invoices import InvoiceRow, month_invoices
from server.domain.kiosks import hash_token
from server.domain.reports import BadPeriod, check_period
from server.domain.sites import local_today
from server.domain.visits import VisitFilter, count_visits, visit_records
from server.i18n import refusal_text
from server.limits import limiter
from server.runtime import runtime
from server.store.models import ApiScope, ApiToken, Member, Site

blp = Blueprint(
    "read-api",
    __name__,
    url_prefix="/api/v1",
    description="What integrations read with a staff API token (scope `read`): visits, "
    "members, statements and invoices. GET only.",
)

TOKEN_AUTH: list[dict[str, list[str]]] = [{"apiToken": []}]
UNAUTHORIZED = "Missing, unknown or revoked API token"
LIMITED = "Too many requests: `[api] token_requests_per_minute`"


def _rate() -> str:
    return f"{runtime().settings.api.token_requests_per_minute}/minute"


def _presented_token() -> str:
    """Rate-limit key: the token the request presents, hashed (known or not), so that one
    integration's reads never use up another's."""
    _scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return "api-token:" + hash_token(token.strip())


# The limiter checks before any view or hook of the blueprint runs: a flood of unknown
# tokens is refused by address before it costs a query each.
limiter.limit(_rate, key_func=_presented_token)(blp)
limiter.limit(_rate, scope="api-address")(blp)


@blp.before_request
def authenticate_token() -> None:
    """Every endpoint here needs `Authorization: Bearer <API token>`, not revoked."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "missing_token", "Send an API token as 'Authorization: Bearer'.")
    app = runtime()
    now = app.now()
    with app.session() as session:
        row = find_token(session, token.strip())
        if row is None:
            raise ApiError(401, "invalid_token", "This API token is unknown or was revoked.")
        if row.scope is not ApiScope.READ:  # no other scope yet: a future one reads nothing
            raise ApiError(403, "forbidden", "This API token may not read.")
        g.api_token_id = row.id
        noted = note_use(row, now)
    if noted:  # at most once a minute: reads stay reads
        with app.transaction() as session:
            kept = session.get(ApiToken, g.api_token_id)
            if kept is not None:
                note_use(kept, now)


def _page(args: dict[str, Any], total: int, items: list[Any]) -> dict[str, Any]:
    per_page = args["per_page"]
    return {
        "items": items,
        "page": args["page"],
        "per_page": per_page,
        "total": total,
        "pages": math.ceil(total / per_page),
    }


def _offset(args: dict[str, Any]) -> int:
    return int((args["page"] - 1) * args["per_page"])


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "invalid_request", f"{field}: {message}", {field: [message]})


@blp.route("/visits")
class Visits(MethodView):
    @blp.arguments(VisitArgsSchema, location="query", as_kwargs=False)
    @blp.response(200, VisitPageSchema)
    @blp.alt_response(401, schema=ErrorSchema, description=UNAUTHORIZED)
    @blp.alt_response(422, schema=ErrorSchema, description="Bad argument, unknown site, period")
    @blp.alt_response(429, schema=ErrorSchema, description=LIMITED)
    @blp.doc(security=TOKEN_AUTH)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Visits that began in a period (local days), oldest first, with how each ended,
        its hours and its day as the member's statement bills it."""
        app = runtime()
        now = app.now()
        with app.session() as session:
            today = local_today(session, now)
            start = args["from_"] or today.replace(day=1)
            end = args["to"] or today
            try:
                check_period(start, end)
            except BadPeriod as error:
                raise _invalid("to", refusal_text(error, "en")) from None
            site_ids = None
            if args["site"] is not None:
                site_id = session.scalar(select(Site.id).where(Site.slug == args["site"]))
                if site_id is None:
                    raise _invalid("site", "No site has this slug.")
                site_ids = (site_id,)
            which = VisitFilter(start, end, site_ids, args["member"])
            total = count_visits(session, which)
            records = visit_records(
                session, which, now, app.settings.billing, _offset(args), args["per_page"]
            )
        items = [
            {
                "id": record.id,
                "member_id": record.member_id,
                "member_name": record.member_name,
                "site": record.site_slug,
                "site_name": record.site_name,
                "day": record.day,
                "started_at": record.started_at,
                "ended_at": record.ended_at,
                "ended_by": record.ended_by,
                "minutes": record.minutes,
                "hours": float(record.hours),
                "counted_minutes": record.counted_minutes,
                "counted_hours": float(record.counted_hours),
                "day_kind": record.day_kind,
            }
            for record in records
        ]
        return _page(args, total, items)


def _member(member: Member, today: date) -> dict[str, Any]:
    if member.erased_at is not None:  # a tombstone: nothing that was the person
        blank = dict.fromkeys(MemberOutSchema().fields)
        return blank | {"id": member.id, "erased": True, "erased_at": member.erased_at}
    plan = Plans.of(member.plans).on(today)
    return {
        "id": member.id,
        "erased": False,
        "erased_at": None,
        "given_name": member.given_name,
        "family_name": member.family_name,
        "display_name": member.display_name,
        "email": member.email,
        "language": member.language,
        "plan": None if plan is None else plan.value,
        "is_guest": member.is_guest,
        "created_at": member.created_at,
        "archived_at": member.archived_at,
    }


@blp.route("/members")
class Members(MethodView):
    @blp.arguments(PageArgsSchema, location="query", as_kwargs=False)
    @blp.response(200, MemberPageSchema)
    @blp.alt_response(401, schema=ErrorSchema, description=UNAUTHORIZED)
    @blp.alt_response(422, schema=ErrorSchema, description="Bad argument")
    @blp.alt_response(429, schema=ErrorSchema, description=LIMITED)
    @blp.doc(security=TOKEN_AUTH)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Every member, guests too, by id; an erased one as a tombstone."""
        app = runtime()
        with app.session() as session:
            today = local_today(session, app.now())
            total = session.scalar(select(func.count(Member.id))) or 0
            members = session.scalars(
                select(Member).order_by(Member.id).offset(_offset(args)).limit(args["per_page"])
            ).all()
            return _page(args, total, [_member(member, today) for member in members])


@blp.route("/members/<int:member_id>")
class OneMember(MethodView):
    @blp.response(200, MemberOutSchema)
    @blp.alt_response(401, schema=ErrorSchema, description=UNAUTHORIZED)
    @blp.alt_response(404, schema=ErrorSchema, description="No member with this id")
    @blp.alt_response(429, schema=ErrorSchema, description=LIMITED)
    @blp.doc(security=TOKEN_AUTH)
    def get(self, member_id: int) -> dict[str, Any]:
        """One member; an erased one as a tombstone."""
        app = runtime()
        with app.session() as session:
            member = session.get(Member, member_id)
            if member is None:
                raise ApiError(404, "not_found", "No member has this id.")
            return _member(member, local_today(session, app.now()))


def _statement(one: MonthStatement, erased: set[int], currency: str) -> dict[str, Any]:
    return {
        "member_id": one.member_id,
        "member_name": None if one.member_id in erased else one.member_name,
        "month": f"{one.month:%Y-%m}",
        "status": "closed" if one.closed_at is not None else "provisional",
        "closed_at": one.closed_at,
        "currency": currency,
        "half_days": one.half_days,
        "full_days": one.full_days,
        "days": [vars(day) for day in one.days],
        "purchases": [vars(purchase) for purchase in one.purchases],
        "guests": [
            {"day": c.day, "kind": c.kind, "minutes": c.minutes, "price_cents": c.price_cents}
            for c in one.guests
        ],
        "monthly_days": one.monthly_days,
        "monthly_cents": one.monthly_cents,
        "credits_in": one.credits_in,
        "credits_used": one.credits_used,
        "credits_left": one.credits_left,
        "total_cents": one.total_cents,
        "vat_cents": one.vat_cents,
        "excl_vat_cents": one.excl_vat_cents,
    }


def _erased(session: Session, ids: list[int]) -> set[int]:
    return set(
        session.scalars(select(Member.id).where(Member.id.in_(ids), Member.erased_at.is_not(None)))
    )


@blp.route("/statements")
class Statements(MethodView):
    @blp.arguments(MonthArgsSchema, location="query", as_kwargs=False)
    @blp.response(200, StatementPageSchema)
    @blp.alt_response(401, schema=ErrorSchema, description=UNAUTHORIZED)
    @blp.alt_response(422, schema=ErrorSchema, description="Bad argument")
    @blp.alt_response(429, schema=ErrorSchema, description=LIMITED)
    @blp.doc(security=TOKEN_AUTH)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """A month's statements with something on them, closed (final) or provisional (as
        of now), by member name; the same as the staff pages' and their CSV."""
        app = runtime()
        now = app.now()
        with app.session() as session:
            if args["month"] is None:
                month = local_today(session, now).replace(day=1)
            else:
                month = datetime.strptime(args["month"], "%Y-%m").date()
            found = month_statements(session, month, now, app.settings.billing)
            offset = _offset(args)
            page = found[offset : offset + args["per_page"]]
            erased = _erased(session, [one.member_id for one in page])
        currency = app.settings.billing.currency
        return _page(args, len(found), [_statement(one, erased, currency) for one in page])


def _invoice(row: InvoiceRow, erased: set[int], currency: str) -> dict[str, Any]:
    invoice = row.invoice
    corrects = invoice.corrects
    return {
        "id": invoice.id,
        "number": invoice.label,
        "kind": invoice.kind.value,
        "corrects": corrects.label if corrects is not None else None,
        "member_id": invoice.member_id,
        "buyer_name": None
        if invoice.member_id in erased
        else invoice.document.get("buyer", {}).get("name"),
        "month": f"{invoice.month:%Y-%m}",
        "issued_on": invoice.issued_on,
        "due_on": invoice.due_on,
        "currency": currency,
        "total_cents": invoice.total_cents,
        "vat_cents": invoice.vat_cents,
        "excl_vat_cents": invoice.total_cents - invoice.vat_cents,
        "status": row.status,
        "credited_cents": row.credited_cents,
        "paid_cents": row.paid_cents,
        "balance_cents": row.balance_cents,
        "payments": [
            {"paid_on": p.paid_on, "method": p.method.value, "amount_cents": p.amount_cents}
            for p in sorted(invoice.payments, key=lambda p: (p.paid_on, p.id))
        ],
    }


@blp.route("/invoices")
class Invoices(MethodView):
    @blp.arguments(MonthArgsSchema, location="query", as_kwargs=False)
    @blp.response(200, InvoicePageSchema)
    @blp.alt_response(401, schema=ErrorSchema, description=UNAUTHORIZED)
    @blp.alt_response(422, schema=ErrorSchema, description="Bad argument")
    @blp.alt_response(429, schema=ErrorSchema, description=LIMITED)
    @blp.doc(security=TOKEN_AUTH)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The invoices and credit notes for a month of service (issued when the month was
        closed; a credit note may come later), in number order, with their payments and
        what is left to pay."""
        app = runtime()
        now = app.now()
        with app.session() as session:
            if args["month"] is None:
                month = local_today(session, now).replace(day=1)
            else:
                month = datetime.strptime(args["month"], "%Y-%m").date()
            found = month_invoices(session, month)
            offset = _offset(args)
            page = found[offset : offset + args["per_page"]]
            erased = _erased(session, [row.invoice.member_id for row in page])
            currency = app.settings.billing.currency
            items = [_invoice(row, erased, currency) for row in page]
        return _page(args, len(found), items)
