"""NFC badge UIDs in one normal form: upper-case hex, no separators."""

from __future__ import annotations

import re

#: ISO 14443 UIDs are 4 (single), 7 (double) or 10 (triple size) bytes; FeliCa IDm is 8.
UID_LENGTHS = frozenset({4, 7, 8, 10})
_SEPARATORS = re.compile(r"[\s:\-]")
_HEX = re.compile(r"^[0-9A-F]+$")


class BadUid(ValueError):
    """A value that is not an NFC UID; the message says why."""


def normalise_uid(raw: str) -> str:
    """Return `04:a2:2b:...` as `04A22B...`, or raise BadUid."""
    value = _SEPARATORS.sub("", raw).upper()
    if value.startswith("0X"):
        value = value[2:]
    if not value or not _HEX.match(value):
        raise BadUid("an NFC UID is written in hexadecimal")
    if len(value) % 2 or len(value) // 2 not in UID_LENGTHS:
        raise BadUid("an NFC UID is 4, 7, 8 or 10 bytes long")
    return value


#: The longest QR badge value a kiosk sends and the server keeps.
MAX_QR_LENGTH = 512


def normalise_qr(raw: str) -> str:
    """Return a QR badge's value without surrounding blanks, or raise BadUid."""
    value = raw.strip()
    if not value or len(value) > MAX_QR_LENGTH:
        raise BadUid(f"a QR badge holds 1 to {MAX_QR_LENGTH} characters")
    if not value.isprintable():
        raise BadUid("a QR badge holds printable characters only")
    return value


def normalise_badge(kind: str, raw: str) -> str:
    """The normal form of a badge value of `kind` ("nfc" or "qr"), or raise BadUid."""
    return normalise_uid(raw) if kind == "nfc" else normalise_qr(raw)
