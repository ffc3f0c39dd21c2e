"""The JSON API's errors, in the one shape of `presence.errors`:
`{"status": "error", "reason": code, "message": text}`.

Refusals are coded (`reason`) so a kiosk can act on them, and carry a readable `message`
for the person reading a log; field problems add `fields` (`{"taps.0.read_at": [...]}`).
No traceback or internal detail ever reaches a client.
"""

from __future__ import annotations

from typing import Any

from werkzeug.exceptions import HTTPException

from presence.errors import error_body

#: The reason code for each HTTP status we answer with, unless a more precise one is given.
REASONS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(HTTPException):
    """A refusal with a coded reason, raised from a view or service."""

    def __init__(
        self, status: int, reason: str, message: str, fields: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description=message)
        self.code = status
        self.reason = reason
        self.fields = fields


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn marshmallow's nested messages into `{"taps.0.read_at": ["..."]}`."""
    if isinstance(messages, dict):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            flat.update(flatten_messages(value, name))
        return flat
    if isinstance(messages, list) and all(isinstance(item, str) for item in messages):
        return {prefix or "_": list(messages)}
    return {prefix or "_": [str(messages)]}


def body_of(error: HTTPException) -> tuple[dict[str, Any], int]:
    """The JSON body and status answering `error`."""
    status = error.code or 500
    if isinstance(error, ApiError):
        return error_body(error.reason, error.description or "", error.fields), status
    data = getattr(error, "data", None) or {}
    messages = data.get("messages")
    if messages:
        # webargs nests by location: {"json": {...}}; the location adds nothing for a client.
        if isinstance(messages, dict) and len(messages) == 1:
            messages = next(iter(messages.values()))
        fields = flatten_messages(messages)
        if fields == {"_": ["Invalid JSON body."]}:
            return error_body("malformed_json", "The body is not valid JSON."), 400
        summary = "; ".join(f"{name}: {' '.join(texts)}" for name, texts in fields.items())
        return error_body("invalid_request", summary[:500], fields), status
    reason = REASONS.get(status, "error")
    message = error.description or error.name
    if status == 413:
        message = "The request body is too large."
    return error_body(reason, message), status
