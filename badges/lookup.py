"""The keyed badge hash a kiosk looks a read up by in its cached directory.

The server sends each kiosk its member directory as hash -> first name, keyed per kiosk,
so no raw badge value ever sits beside a name on the Raspberry Pi.
"""

from __future__ import annotations

import hmac


def badge_hash(key: bytes, kind: str, value: str) -> str:
    """The directory entry of a badge of `kind` ("nfc", "qr") with normalised `value`."""
    return hmac.new(key, f"{kind}:{value}".encode(), "sha256").hexdigest()[:32]
