"""Text typed by people (names at the kiosk, announcements, e-mail addresses), checked
and made fit to show, the same way everywhere."""

from __future__ import annotations

import re
import unicodedata

#: An e-mail address as forms accept it: something@somewhere.tld, no spaces.
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def clean_text(typed: str) -> str:
    """The text as typed, fit to show: no control or format characters, spaces collapsed."""
    kept = "".join(
        " " if char.isspace() else char
        for char in typed
        if char.isspace() or unicodedata.category(char)[0] != "C"
    )
    return " ".join(kept.split())
