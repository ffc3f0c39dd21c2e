"""Request and response schemas of the JSON API: they validate and they document.

The OpenAPI document at /api/openapi.json is generated from these same classes, so the
checks and the documentation cannot drift apart. Unknown fields are ignored, so a newer
kiosk keeps working against an older server.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from server.domain.presence import GuestArrival, IncomingTap, KioskClock, WalkIn
from server.store.models import BadgeKind, KioskMode, Outcome, Plan, ReaderState, Visibility

#: A boot id: Linux's /proc/sys/kernel/random/boot_id is a UUID; allow any plain token.
BOOT_ID = validate.Regexp(r"^[A-Za-z0-9._:-]{1,64}$", error="Letters, digits and ._:- only.")
VERSION = validate.Regexp(r"^[ -~]{0,40}$", error="Up to 40 printable ASCII characters.")


class Instant(fields.AwareDateTime):
    """An ISO 8601 time with its UTC offset, returned in UTC."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment: datetime = super()._deserialize(value, attr, data, **kwargs)
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            # Valid ISO 8601 at the edge of year 1 or 9999: keep it, clamped, for the
            # presence rules to judge (a kiosk clock that far off is simply implausible).
            edge = datetime.min if moment.year == 1 else datetime.max
            return edge.replace(tzinfo=UTC)


class Count(fields.Integer):
    """A JSON integer: `3` and `3.0` are the same number; `"3"`, `true` and `3.5` are not."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid")
        return int(value)


class _Schema(Schema):
    class Meta:
        unknown = EXCLUDE


class KioskClockSchema(_Schema):
    monotonic = fields.Float(
        required=True,
        validate=validate.Range(min=0),
        metadata={"description": "The kiosk's monotonic clock (seconds since its boot)."},
    )
    boot_id = fields.String(
        required=True,
        validate=BOOT_ID,
        metadata={"description": "Identifies the kiosk's current boot (Linux boot_id)."},
    )
    wall = Instant(
        load_default=None,
        metadata={"description": "The kiosk's wall clock, ISO 8601 with offset."},
    )


#: What a tap can be: exactly one of these fields is given.
TAP_KINDS = ("badge", "guest", "leaving", "walk_in")


class GuestArrivalSchema(_Schema):
    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={
            "description": "The guest's first name, as typed at the kiosk (control characters "
            "are dropped, spaces collapsed; nothing left makes it 'Invité·e')."
        },
    )
    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=254))
    host = Count(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1, max=2**31 - 1),  # a database id
        metadata={"description": "The host's member id, from the directory's `hosts`."},
    )


class WalkInSchema(_Schema):
    event = Count(
        required=True,
        validate=validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "The event's id, from the heartbeat's `events`."},
    )
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=254))


class TapSchema(_Schema):
    """A badge read (`badge`), a guest arriving (`guest`) or leaving (`leaving`), someone
    coming to an event without a ticket (`walk_in`)."""

    id = fields.UUID(required=True, metadata={"description": "Made at the kiosk; unique."})
    badge = fields.String(
        load_default=None,
        validate=validate.Length(min=1, max=512),
        metadata={"description": "NFC UID (hex, separators allowed) or QR content."},
    )
    guest = fields.Nested(GuestArrivalSchema, load_default=None)
    leaving = fields.UUID(
        load_default=None, metadata={"description": "A guest leaving: their arrival's tap id."}
    )
    walk_in = fields.Nested(WalkInSchema, load_default=None)
    badge_kind = fields.String(
        load_default=BadgeKind.NFC.value,
        validate=validate.OneOf([kind.value for kind in BadgeKind]),
    )
    read_at = Instant(required=True, metadata={"description": "The kiosk's wall time of the read."})
    monotonic = fields.Float(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=0),
        metadata={"description": "The kiosk's monotonic clock at the read."},
    )
    boot_id = fields.String(load_default=None, allow_none=True, validate=BOOT_ID)

    @validates_schema
    def one_kind_of_tap(self, data: dict[str, Any], **_kwargs: Any) -> None:
        given = [name for name in TAP_KINDS if data.get(name) is not None]
        if len(given) != 1:
            raise ValidationError("Give exactly one of badge, guest, leaving and walk_in.", "badge")


def document_one_kind_of_tap(schemas: dict[str, dict[str, Any]]) -> None:
    """Say in the OpenAPI document what `TapSchema.one_kind_of_tap` checks (apispec cannot
    see a schema-level validator): exactly one of badge, guest, leaving and walk_in."""
    kinds = TAP_KINDS
    schemas["Tap"]["oneOf"] = [
        {
            "required": [kind],
            "properties": {
                other: ({"not": {"type": "null"}} if other == kind else {"type": "null"})
                for other in kinds
            },
        }
        for kind in kinds
    ]


class TapUploadSchema(_Schema):
    clock = fields.Nested(KioskClockSchema, load_default=None, allow_none=True)
    taps = fields.List(
        fields.Nested(TapSchema),
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "Oldest first; at most `api.max_batch` taps."},
    )


def incoming_tap(tap: dict[str, Any]) -> IncomingTap:
    """One tap as `TapSchema` loaded it, for the check-in service."""
    guest, walk_in = tap["guest"], tap["walk_in"]
    return IncomingTap(
        tap_id=tap["id"],
        badge=tap["badge"] or "",
        badge_kind=BadgeKind(tap["badge_kind"]),
        read_at=tap["read_at"],
        monotonic=tap["monotonic"],
        boot_id=tap["boot_id"],
        guest=guest and GuestArrival(guest["name"], guest["email"], guest["host"]),
        leaving=tap["leaving"],
        walk_in=walk_in and WalkIn(walk_in["event"], walk_in["name"], walk_in["email"]),
    )


def kiosk_clock(clock: dict[str, Any] | None) -> KioskClock | None:
    """The kiosk's clocks as `KioskClockSchema` loaded them, if it sent them."""
    if clock is None:
        return None
    return KioskClock(clock["monotonic"], clock["boot_id"], clock["wall"])


class TapResultSchema(_Schema):
    id = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf([o.value for o in Outcome]))
    name = fields.String(allow_none=True, metadata={"description": "Name for the greeting."})
    head_count = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True, metadata={"description": "Why a tap was void."})


class TapUploadResultSchema(_Schema):
    results = fields.List(fields.Nested(TapResultSchema), required=True)
    head_count = fields.Integer(required=True)
    server_time = Instant(required=True)


class HeartbeatSchema(_Schema):
    version = fields.String(load_default=None, allow_none=True, validate=VERSION)
    pending_taps = Count(
        load_default=None, allow_none=True, validate=validate.Range(min=0, max=10_000_000)
    )
    clock = fields.Nested(KioskClockSchema, load_default=None, allow_none=True)
    # No default: a kiosk that says nothing of its reader (an older one) leaves what the
    # server knew as it was.
    reader = fields.String(
        allow_none=True,
        validate=validate.OneOf(
            [state.value for state in ReaderState],
            error="One of {choices}, or null while the kiosk does not know yet.",
        ),
        metadata={
            "description": "The badge reader: ok, gone (unplugged or dead), stuck (not "
            "answering), or null while the kiosk does not know yet."
        },
    )


class SiteSchema(_Schema):
    slug = fields.String(required=True)
    name = fields.String(required=True)
    timezone = fields.String(required=True)


class PresentGuestSchema(_Schema):
    arrival = fields.String(required=True, metadata={"description": "Their arrival's tap id"})
    name = fields.String(required=True)


class TodaysEventSchema(_Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)


class HeartbeatResultSchema(_Schema):
    server_time = Instant(required=True)
    kiosk = fields.String(required=True)
    mode = fields.String(required=True, validate=validate.OneOf([m.value for m in KioskMode]))
    site = fields.Nested(SiteSchema, required=True)
    head_count = fields.Integer(required=True)
    guests = fields.List(
        fields.Nested(PresentGuestSchema),
        required=True,
        metadata={"description": "The guests here now, for the kiosk's 'I am leaving' list."},
    )
    events = fields.List(
        fields.Nested(TodaysEventSchema),
        required=True,
        metadata={"description": "Today's events at the site, for walk-ins at the kiosk."},
    )


class DirectoryEntrySchema(_Schema):
    hash = fields.String(
        required=True,
        metadata={
            "description": "HMAC-SHA256(key, kind:value_hash), first 32 hex digits, where "
            "value_hash = HMAC-SHA256(lookup_key, kind:value) in hex"
        },
    )
    name = fields.String(required=True, metadata={"description": "First name for the greeting"})
    visibility = fields.String(
        required=True, validate=validate.OneOf([v.value for v in Visibility])
    )


class HostSchema(_Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


class DirectorySchema(_Schema):
    generated_at = Instant(required=True)
    key = fields.String(
        required=True, metadata={"description": "Hex HMAC-SHA256 key of this kiosk's entries"}
    )
    lookup_key = fields.String(
        required=True,
        metadata={"description": "Hex HMAC-SHA256 key a read is hashed with first (value_hash)"},
    )
    entries = fields.List(fields.Nested(DirectoryEntrySchema), required=True)
    badge_key = fields.String(
        required=True,
        metadata={"description": "Hex Ed25519 public key that checks QR badge tokens offline"},
    )
    hosts = fields.List(
        fields.Nested(HostSchema),
        required=True,
        metadata={"description": "Members a guest may name as host (they agreed to it)."},
    )


class HealthSchema(_Schema):
    status = fields.String(required=True)
    database = fields.String(required=True)


class ErrorSchema(_Schema):
    status = fields.String(required=True, metadata={"example": "error"})
    reason = fields.String(required=True, metadata={"example": "invalid_token"})
    message = fields.String(required=True)
    fields_ = fields.Dict(
        data_key="fields",
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "Field path -> messages, for invalid requests."},
    )


# -- the read API (staff API tokens): its query arguments and answers --------------------

#: The most items one page of the read API holds.
MAX_PER_PAGE = 500


class PageArgsSchema(_Schema):
    page = fields.Integer(
        load_default=1,
        validate=validate.Range(min=1, max=1_000_000),
        metadata={"description": "The page wanted, from 1."},
    )
    per_page = fields.Integer(
        load_default=100,
        validate=validate.Range(min=1, max=MAX_PER_PAGE),
        metadata={"description": f"Items per page, at most {MAX_PER_PAGE}."},
    )


class VisitArgsSchema(PageArgsSchema):
    from_ = fields.Date(
        data_key="from",
        load_default=None,
        metadata={"description": "First local day (YYYY-MM-DD); by default the month's first."},
    )
    to = fields.Date(
        load_default=None,
        metadata={
            "description": "Last local day, included; by default today. A year at most "
            "(366 days) from `from`."
        },
    )
    site = fields.String(
        load_default=None,
        # A slug as sites are named (server.domain.sites): anything else names no site.
        validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,63}$", error="A site's slug."),
        metadata={"description": "A site's slug; by default every site."},
    )
    member = fields.Integer(
        load_default=None,
        validate=validate.Range(min=1, max=2**31 - 1),
        metadata={"description": "Only this member's visits."},
    )


class MonthArgsSchema(PageArgsSchema):
    month = fields.String(
        load_default=None,
        validate=validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", error="A month as YYYY-MM."),
        metadata={"description": "The month (YYYY-MM); by default this month."},
    )


class PageSchema(_Schema):
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True, metadata={"description": "Items on every page."})
    pages = fields.Integer(required=True, metadata={"description": "How many pages there are."})


class VisitOutSchema(_Schema):
    id = fields.Integer(
        required=True,
        metadata={
            "description": "The visit's id; visits are derived from the tap log, and a "
            "late tap may rebuild them: do not keep it as a lasting key."
        },
    )
    member_id = fields.Integer(required=True)
    member_name = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "The member's display name; null for an erased member."},
    )
    site = fields.String(required=True, metadata={"description": "The site's slug."})
    site_name = fields.String(required=True)
    day = fields.Date(
        required=True, metadata={"description": "The local day it began, which billing counts."}
    )
    started_at = fields.DateTime(
        required=True, metadata={"description": "In the site's time zone, with its offset."}
    )
    ended_at = fields.DateTime(
        required=True, allow_none=True, metadata={"description": "null while under way."}
    )
    ended_by = fields.String(
        required=True,
        validate=validate.OneOf(["tap", "auto", "staff", "open"]),
        metadata={
            "description": "tap: tapped out; auto: ended at closing time, nobody tapped out; "
            "staff: ended by staff (a correction); open: under way."
        },
    )
    minutes = fields.Integer(
        required=True,
        metadata={
            "description": "Its length: until closing time for `auto`, until now for `open`."
        },
    )
    hours = fields.Float(required=True, metadata={"description": "`minutes` in hours, 2 places."})
    counted_minutes = fields.Integer(
        required=True,
        metadata={
            "description": "What it adds to its day for billing: 0 when shorter than "
            "`[billing] min_visit_minutes` or ended at closing time."
        },
    )
    counted_hours = fields.Float(required=True)
    day_kind = fields.String(
        required=True,
        validate=validate.OneOf(["half", "full", "none"]),
        metadata={
            "description": "The member's day as their statement of the month bills it (all "
            "sites together): half, full, or none (nothing billed: visits below the "
            "minimum, a day as a guest...)."
        },
    )


class VisitPageSchema(PageSchema):
    items = fields.List(fields.Nested(VisitOutSchema), required=True)


class MemberOutSchema(_Schema):
    id = fields.Integer(required=True)
    erased = fields.Boolean(
        required=True,
        metadata={
            "description": "An erased member (GDPR) is a tombstone: every other field "
            "but `erased_at` is null. Erase your own copy of them too."
        },
    )
    erased_at = fields.DateTime(required=True, allow_none=True)
    given_name = fields.String(required=True, allow_none=True)
    family_name = fields.String(required=True, allow_none=True)
    display_name = fields.String(required=True, allow_none=True)
    email = fields.String(required=True, allow_none=True)
    language = fields.String(required=True, allow_none=True)
    plan = fields.String(
        required=True,
        allow_none=True,
        validate=validate.OneOf([plan.value for plan in Plan]),
        metadata={"description": "The plan in force today."},
    )
    is_guest = fields.Boolean(
        required=True, allow_none=True, metadata={"description": "A guest, without a badge."}
    )
    created_at = fields.DateTime(required=True, allow_none=True)
    archived_at = fields.DateTime(required=True, allow_none=True)


class MemberPageSchema(PageSchema):
    items = fields.List(fields.Nested(MemberOutSchema), required=True)


class StatementDaySchema(_Schema):
    day = fields.Date(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["half", "full"]))
    minutes = fields.Integer(required=True, metadata={"description": "The minutes that count."})
    auto = fields.Boolean(
        required=True, metadata={"description": "A visit of the day ended at closing time."}
    )
    plan = fields.String(required=True)
    credits = fields.Integer(required=True, metadata={"description": "Pack credits used."})
    price_cents = fields.Integer(required=True)
    how = fields.String(
        required=True, metadata={"description": "payg, pack, pack+payg, monthly, free"}
    )


class StatementGuestSchema(_Schema):
    day = fields.Date(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["half", "full"]))
    minutes = fields.Integer(required=True)
    price_cents = fields.Integer(required=True)


class StatementPurchaseSchema(_Schema):
    bought_on = fields.Date(required=True)
    credits = fields.Integer(required=True)
    price_cents = fields.Integer(required=True)


class StatementOutSchema(_Schema):
    member_id = fields.Integer(required=True)
    member_name = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "null for an erased member (the staff pages keep a closed "
            "statement's name, an accounting record)."
        },
    )
    month = fields.String(required=True, metadata={"example": "2026-10"})
    status = fields.String(
        required=True,
        validate=validate.OneOf(["closed", "provisional"]),
        metadata={"description": "closed: final; provisional: follows the taps until closed."},
    )
    closed_at = fields.DateTime(required=True, allow_none=True)
    currency = fields.String(required=True)
    half_days = fields.Integer(required=True)
    full_days = fields.Integer(required=True)
    days = fields.List(fields.Nested(StatementDaySchema), required=True)
    purchases = fields.List(fields.Nested(StatementPurchaseSchema), required=True)
    guests = fields.List(
        fields.Nested(StatementGuestSchema),
        required=True,
        metadata={"description": "Guests' days billed to this member (no guest's name)."},
    )
    monthly_days = fields.Integer(required=True)
    monthly_cents = fields.Integer(required=True)
    credits_in = fields.Integer(required=True)
    credits_used = fields.Integer(required=True)
    credits_left = fields.Integer(required=True)
    total_cents = fields.Integer(required=True, metadata={"description": "VAT included."})
    vat_cents = fields.Integer(required=True)
    excl_vat_cents = fields.Integer(required=True)


class StatementPageSchema(PageSchema):
    items = fields.List(fields.Nested(StatementOutSchema), required=True)


class PaymentOutSchema(_Schema):
    paid_on = fields.Date(required=True)
    method = fields.String(
        required=True, metadata={"description": "cash, card, transfer, helloasso, cheque"}
    )
    amount_cents = fields.Integer(required=True)


class InvoiceOutSchema(_Schema):
    id = fields.Integer(required=True)
    number = fields.String(
        required=True, metadata={"description": "As printed, e.g. F-2026-000123, A-2026-000004"}
    )
    kind = fields.String(required=True, validate=validate.OneOf(["invoice", "credit_note"]))
    corrects = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "A credit note's invoice (its number); null for an invoice."},
    )
    member_id = fields.Integer(required=True)
    buyer_name = fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "The buyer as invoiced; null for an erased member (the staff "
            "pages and the PDF keep it: an accounting record)."
        },
    )
    month = fields.String(required=True, metadata={"description": "The month of service"})
    issued_on = fields.Date(required=True)
    due_on = fields.Date(required=True)
    currency = fields.String(required=True)
    total_cents = fields.Integer(required=True, metadata={"description": "VAT included"})
    vat_cents = fields.Integer(required=True)
    excl_vat_cents = fields.Integer(required=True)
    status = fields.String(
        required=True,
        validate=validate.OneOf(["unpaid", "partly_paid", "paid", "cancelled", "credit_note"]),
    )
    credited_cents = fields.Integer(required=True)
    paid_cents = fields.Integer(required=True)
    balance_cents = fields.Integer(
        required=True, metadata={"description": "Still to pay (negative: to refund)"}
    )
    payments = fields.List(fields.Nested(PaymentOutSchema), required=True)


class InvoicePageSchema(PageSchema):
    items = fields.List(fields.Nested(InvoiceOutSchema), required=True)
