"""Signed badge tokens carried on NFC tags, as an NDEF text record (nfcpy, ndeflib).

A tag's UID can be read by any phone and copied onto a "magic" card; a token signed by
the server cannot be forged, only copied from that very tag. The kiosk prefers a token
found on the tag to the tag's UID.
"""

from __future__ import annotations

import time
from typing import Any

from badges.tokens import looks_like_token


def token_on(tag: Any) -> str | None:
    """The signed token in the tag's NDEF message, if it holds one."""
    import ndef

    try:
        records = list(tag.ndef.records) if tag.ndef is not None else []
    except Exception:  # noqa: BLE001 (nfcpy raises many kinds for an unreadable NDEF area)
        return None
    for record in records:
        if isinstance(record, ndef.TextRecord) and looks_like_token(record.text):
            return str(record.text)
    return None


class WriteError(Exception):
    """The token could not be written (no tag, read-only, too small); says which."""


def write_token(device: str, token: str, targets: list[str], timeout: float = 30) -> str:
    """Write `token` on the next tag held to the reader at `device`; its UID (hex).

    The token is read back before this returns, so a badge handed out works.
    """
    import ndef
    import nfc

    outcome: dict[str, Any] = {}

    def on_connect(tag: Any) -> bool:
        try:
            if tag.ndef is None:
                outcome["error"] = "the tag is not formatted for NDEF"
            elif not tag.ndef.is_writeable:
                outcome["error"] = "the tag is read-only"
            else:
                tag.ndef.records = [ndef.TextRecord(token)]
                outcome["uid"] = bytes(tag.identifier).hex().upper()
                outcome["check"] = token_on(tag)
        except Exception as error:  # noqa: BLE001 (nfcpy's errors have no common base)
            outcome["error"] = f"writing failed: {error}"
        return False

    try:
        clf = nfc.ContactlessFrontend(device)
    except OSError as error:
        raise WriteError(f"cannot open NFC reader {device}: {error}") from None
    try:
        deadline = time.monotonic() + timeout
        clf.connect(
            rdwr={"targets": targets, "on-connect": on_connect, "beep-on-connect": False},
            terminate=lambda: bool(outcome) or time.monotonic() > deadline,
        )
    finally:
        clf.close()
    if "error" in outcome:
        raise WriteError(outcome["error"])
    if "uid" not in outcome:
        raise WriteError(f"no tag on the reader within {timeout:g} s")
    if outcome.get("check") != token:
        raise WriteError("the token did not read back: try again, or use another tag")
    return str(outcome["uid"])
