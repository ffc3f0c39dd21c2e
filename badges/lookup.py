"""Keyed badge hashes: what the server keeps of a badge, and what a kiosk looks a read up by.

The server keeps no raw badge value: a badge is stored as `value_hash(lookup_key, kind,
value)`, keyed with the server's badge lookup key (data_dir/badge_lookup_key). Each kiosk
gets its member directory as `badge_hash(directory_key, kind, value_hash) -> first name`,
keyed per kiosk, and the lookup key with it, so that it can hash a read itself:

    value_hash = HMAC-SHA256(lookup_key, "kind:value")           (the server's column)
    entry      = HMAC-SHA256(directory_key, "kind:value_hash")   (the kiosk's directory)

No raw value ever sits beside a name, on the Raspberry Pi or in the database. A stolen
kiosk gives its two keys and the first names of the members whose badge it can read:
holding a card, one learns its first name (as at the door); without cards, one can only
try values, which for 4-byte NFC UIDs (2^32 of them) is within reach of a patient
attacker, for 7-byte UIDs much less, and for signed QR tokens not at all. It gives no
family name, no e-mail, nothing of other kiosks' directories, and no tap log.
"""

from __future__ import annotations

import hmac


def value_hash(lookup_key: bytes, kind: str, value: str) -> str:
    """What the server keeps of a badge of `kind` ("nfc", "qr") with normalised `value`."""
    return hmac.new(lookup_key, f"{kind}:{value}".encode(), "sha256").hexdigest()


def value_hint(value: str) -> str:
    """The few characters staff see to tell badges apart (the end of the value)."""
    return value[-4:]


def badge_hash(key: bytes, kind: str, value: str) -> str:
    """The directory entry of a badge of `kind` with `value` (its value_hash, or the raw
    value in directories sent before the lookup key existed)."""
    return hmac.new(key, f"{kind}:{value}".encode(), "sha256").hexdigest()[:32]


def directory_entry(directory_key: bytes, lookup_key: bytes | None, kind: str, value: str) -> str:
    """The entry a kiosk looks a read up by; no `lookup_key`: a directory from before."""
    hashed = value if lookup_key is None else value_hash(lookup_key, kind, value)
    return badge_hash(directory_key, kind, hashed)
