"""Signed QR badge tokens: unforgeable, and checkable offline with the public key only.

A token names a badge (its id and version) and is signed with the installation's
Ed25519 key, as pretix signs its offline-checkable tickets. A kiosk that holds only the
public key can tell a real badge from a forged or altered one while the network is
down; only the server, which holds the private key, can issue one. Member ids never
appear: the badge id is a number with no meaning outside the server.

    P1 + base32( format | key id (4 bytes) | badge id | version | Ed25519 signature )

An event ticket (format 2) is signed the same way and names a ticket id instead.

Base32 uses only characters of QR's alphanumeric mode, so a token of about 115
characters fits a version 5 code at error correction M (37 x 37 modules), which phone
screens and cheap scanners read reliably. Ed25519 signatures are deterministic: a badge
id and version always give the same token, so the server can find a badge by its token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

PREFIX = "P1"
FORMAT = 1
TICKET_FORMAT = 2  # an event ticket: format | key id | ticket id | signature
SIGNATURE_BYTES = 64
DOMAIN = b"presence-badge-token\x00"  # a signature made for anything else never verifies


class TokenError(ValueError):
    """A token refused; `reason` is the code the kiosk and the tap log carry."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class BadgeToken:
    """What a valid token says: which badge, which version of it."""

    badge_id: int
    version: int


@dataclass(frozen=True)
class TicketToken:
    """What a valid event ticket says: which ticket (see server.domain.meetups)."""

    ticket_id: int


def looks_like_token(value: str) -> bool:
    """Whether a QR value is meant as a signed token (rather than any other QR code)."""
    return value.startswith(PREFIX)


# -- keys -------------------------------------------------------------------------------


def new_private_key() -> bytes:
    """A new signing key, as 32 raw bytes (keep it secret, keep a backup)."""
    return Ed25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )


def public_key_of(private_key: bytes) -> bytes:
    return (
        Ed25519PrivateKey.from_private_bytes(private_key)
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )


def key_id(public_key: bytes) -> bytes:
    """4 bytes that name a public key: tells "signed with another key" from "altered"."""
    return hashlib.sha256(public_key).digest()[:4]


# -- encoding ---------------------------------------------------------------------------


def _uvarint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte, number = number & 0x7F, number >> 7
        out.append(byte | (0x80 if number else 0))
        if not number:
            return bytes(out)


def _read_uvarint(data: bytes, at: int) -> tuple[int, int]:
    number, shift = 0, 0
    while at < len(data) and shift < 63:
        byte = data[at]
        number |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return number, at
        shift += 7
    raise TokenError("malformed", "the token's numbers are cut short")


def sign(private_key: bytes, badge: BadgeToken) -> str:
    """The token of a badge version (the same every time for the same inputs)."""
    if badge.badge_id < 1 or badge.version < 1:
        raise ValueError("badge ids and versions start at 1")
    signer = Ed25519PrivateKey.from_private_bytes(private_key)
    payload = (
        bytes([FORMAT])
        + key_id(public_key_of(private_key))
        + _uvarint(badge.badge_id)
        + _uvarint(badge.version)
    )
    signature = signer.sign(DOMAIN + payload)
    return PREFIX + base64.b32encode(payload + signature).decode().rstrip("=")


def sign_ticket(private_key: bytes, ticket: TicketToken) -> str:
    """An event ticket's token: signed like a badge's, in a format of its own."""
    if ticket.ticket_id < 1:
        raise ValueError("ticket ids start at 1")
    signer = Ed25519PrivateKey.from_private_bytes(private_key)
    payload = (
        bytes([TICKET_FORMAT]) + key_id(public_key_of(private_key)) + _uvarint(ticket.ticket_id)
    )
    signature = signer.sign(DOMAIN + payload)
    return PREFIX + base64.b32encode(payload + signature).decode().rstrip("=")


def _raw(token: str) -> bytes:
    text = token.strip().upper()
    if not looks_like_token(text):
        raise TokenError("malformed", "not a Présence badge token")
    body = text[len(PREFIX) :]
    try:
        return base64.b32decode(body + "=" * (-len(body) % 8))
    except (binascii.Error, ValueError):
        raise TokenError("malformed", "the token is not valid base32") from None


def is_ticket(token: str) -> bool:
    """Whether a token is meant as an event ticket (its signature is not checked here)."""
    try:
        raw = _raw(token)
    except TokenError:
        return False
    return len(raw) > 0 and raw[0] == TICKET_FORMAT


def _signed_payload(public_key: bytes, raw: bytes) -> bytes:
    payload, signature = raw[:-SIGNATURE_BYTES], raw[-SIGNATURE_BYTES:]
    if payload[1:5] != key_id(public_key):
        raise TokenError("unknown_key", "the token was signed with another key")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, DOMAIN + payload)
    except InvalidSignature:
        raise TokenError("bad_signature", "the token was altered or forged") from None
    return payload


def read_token(public_key: bytes, token: str) -> BadgeToken | TicketToken:
    """A badge's or an event ticket's token, checked (see `verify`)."""
    raw = _raw(token)
    if len(raw) >= 1 + 4 + 1 + SIGNATURE_BYTES and raw[0] == TICKET_FORMAT:
        payload = _signed_payload(public_key, raw)
        ticket_id, at = _read_uvarint(payload, 5)
        if at != len(payload) or ticket_id < 1:
            raise TokenError("malformed", "the token's content is not a ticket")
        return TicketToken(ticket_id)
    return verify(public_key, token)


def verify(public_key: bytes, token: str) -> BadgeToken:
    """The badge a token names, or TokenError with reason `malformed`, `unknown_key`
    (signed with a key that is not ours) or `bad_signature` (altered, or forged)."""
    raw = _raw(token)
    if len(raw) < 1 + 4 + 2 + SIGNATURE_BYTES or raw[0] != FORMAT:
        raise TokenError("malformed", "the token is too short or of an unknown format")
    payload = _signed_payload(public_key, raw)
    badge_id, at = _read_uvarint(payload, 5)
    version, at = _read_uvarint(payload, at)
    if at != len(payload) or badge_id < 1 or version < 1:
        raise TokenError("malformed", "the token's content is not a badge")
    return BadgeToken(badge_id, version)
