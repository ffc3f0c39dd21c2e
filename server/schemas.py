"""Request and response schemas of the JSON API: they validate and they document.

The OpenAPI document at /api/openapi.json is generated from these same classes, so the
checks and the documentation cannot drift apart. Unknown fields are ignored, so a newer
kiosk keeps working against an older server.
"""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from server.models import BadgeKind, KioskMode, Outcome, Visibility


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
        validate=validate.Length(min=1, max=64),
        metadata={"description": "Identifies the kiosk's current boot (Linux boot_id)."},
    )
    wall = fields.AwareDateTime(
        load_default=None,
        metadata={"description": "The kiosk's wall clock, ISO 8601 with offset."},
    )


class TapSchema(_Schema):
    id = fields.UUID(required=True, metadata={"description": "Made at the kiosk; unique."})
    badge = fields.String(
        required=True,
        validate=validate.Length(min=1, max=512),
        metadata={"description": "NFC UID (hex, separators allowed) or QR content."},
    )
    badge_kind = fields.String(
        load_default=BadgeKind.NFC.value,
        validate=validate.OneOf([kind.value for kind in BadgeKind]),
    )
    read_at = fields.AwareDateTime(
        required=True, metadata={"description": "The kiosk's wall time of the read."}
    )
    monotonic = fields.Float(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=0),
        metadata={"description": "The kiosk's monotonic clock at the read."},
    )
    boot_id = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=64)
    )


class TapUploadSchema(_Schema):
    clock = fields.Nested(KioskClockSchema, load_default=None, allow_none=True)
    taps = fields.List(
        fields.Nested(TapSchema),
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "Oldest first; at most `api.max_batch` taps."},
    )


class TapResultSchema(_Schema):
    id = fields.String(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf([o.value for o in Outcome]))
    name = fields.String(allow_none=True, metadata={"description": "Name for the greeting."})
    head_count = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True, metadata={"description": "Why a tap was void."})


class TapUploadResultSchema(_Schema):
    results = fields.List(fields.Nested(TapResultSchema), required=True)
    head_count = fields.Integer(required=True)
    server_time = fields.AwareDateTime(required=True)


class HeartbeatSchema(_Schema):
    version = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=40))
    pending_taps = fields.Integer(
        load_default=None, allow_none=True, strict=True, validate=validate.Range(min=0)
    )
    clock = fields.Nested(KioskClockSchema, load_default=None, allow_none=True)


class SiteSchema(_Schema):
    slug = fields.String(required=True)
    name = fields.String(required=True)
    timezone = fields.String(required=True)


class HeartbeatResultSchema(_Schema):
    server_time = fields.AwareDateTime(required=True)
    kiosk = fields.String(required=True)
    mode = fields.String(required=True, validate=validate.OneOf([m.value for m in KioskMode]))
    site = fields.Nested(SiteSchema, required=True)
    head_count = fields.Integer(required=True)


class DirectoryEntrySchema(_Schema):
    hash = fields.String(required=True, metadata={"description": "keyed hash of kind:value"})
    name = fields.String(required=True, metadata={"description": "First name for the greeting"})
    visibility = fields.String(
        required=True, validate=validate.OneOf([v.value for v in Visibility])
    )


class DirectorySchema(_Schema):
    generated_at = fields.AwareDateTime(required=True)
    key = fields.String(
        required=True, metadata={"description": "Hex HMAC-SHA256 key for badge lookups"}
    )
    entries = fields.List(fields.Nested(DirectoryEntrySchema), required=True)


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
