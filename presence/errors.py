"""The one shape of every JSON error in Présence, the server's and the kiosk page's alike:

    {"status": "error", "reason": "<code>", "message": "<text>"}

with `fields` added (`{"taps.0.read_at": ["..."]}`) when the problem is in named fields.
A program acts on `reason`, a stable code; `message` is for the person reading a log or
a screen. Shared here because the kiosk never imports the server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def error_body(
    reason: str, message: str, fields: Mapping[str, Sequence[str]] | None = None
) -> dict[str, Any]:
    """A JSON error body in the one shape."""
    body: dict[str, Any] = {"status": "error", "reason": reason, "message": message}
    if fields:
        body["fields"] = {name: list(texts) for name, texts in fields.items()}
    return body
