"""Members' photos: uploaded by staff, shown on the board for members at `profile` level.

An upload is decoded with Pillow and written again as a small JPEG, whatever the file
claimed to be: what is kept is pixels only (no EXIF: no place, no camera serial), at most
`MAX_SIDE` pixels a side, under a random name in `data_dir/photos`. `Member.photo` holds
the photo's address, `/photos/<name>`, which answers only while its member is at
`profile` level: the address of a photo says nothing, and stops working when the member
hides, is archived or is erased.
"""

from __future__ import annotations

import io
import os
import re
import secrets
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from server.domain.refusals import N_, Refusal

MAX_SIDE = 512
PREFIX = "/photos/"
NAME = re.compile(r"^[0-9a-f]{32}\.jpg$")


class PhotoError(Refusal):
    """An upload that is not a usable picture."""

    MESSAGES = {
        "photo_too_large": N_("Cette image est trop grande."),
        "photo_unreadable": N_("Ce fichier n'est pas une image lisible (JPEG, PNG, WebP…)."),
    }


def folder(data_dir: Path) -> Path:
    return data_dir / "photos"


def store_photo(data_dir: Path, upload: bytes) -> str:
    """Keep a picture as a small JPEG; return its address for `Member.photo`."""
    try:
        with Image.open(io.BytesIO(upload)) as image:
            image.load()
            picture = ImageOps.exif_transpose(image).convert("RGB")
    except Image.DecompressionBombError:
        raise PhotoError("photo_too_large") from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise PhotoError("photo_unreadable") from None
    picture.thumbnail((MAX_SIDE, MAX_SIDE))
    name = secrets.token_hex(16) + ".jpg"
    target = folder(data_dir)
    target.mkdir(parents=True, exist_ok=True)
    # Written aside, then renamed: a backup or the board never sees half a photo.
    partial = target / f".{name}.partial"
    picture.save(partial, format="JPEG", quality=85, optimize=True)
    os.replace(partial, target / name)
    return PREFIX + name


def delete_photo(data_dir: Path, address: str | None) -> None:
    """Remove a photo's file (a replaced photo, an erased member)."""
    name = (address or "").removeprefix(PREFIX)
    if NAME.match(name):
        (folder(data_dir) / name).unlink(missing_ok=True)
