"""Members' photos: uploaded by staff, shown on the board for members at `profile` level.

An upload is decoded with Pillow and written again as a small JPEG, whatever the file
claimed to be: what is kept is pixels only (no EXIF: no place, no camera serial), at most
`MAX_SIDE` pixels a side, under a random name in `data_dir/photos`. `Member.photo` holds
the photo's address, `/photos/<name>`, which answers only while its member is at
`profile` level: the address of a photo says nothing, and stops working when the member
hides, is archived or is erased.

Decoding costs memory by the pixel, not by the byte (a 164 KB PNG can hold 13,000 ×
13,000 pixels: 700 MB decoded), so the size an image claims is judged before any pixel
is decoded: a JPEG is decoded already reduced (libjpeg scales by 1/2 to 1/8 while
decoding), other formats whole, hence their lower cap. Pillow's own
`Image.MAX_IMAGE_PIXELS` is no guard here: below twice its value it only warns.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from server.domain.refusals import N_, Refusal

MAX_SIDE = 512
PREFIX = "/photos/"
NAME = re.compile(r"^[0-9a-f]{32}\.jpg$")

#: The formats taken, by Pillow's name (its JPEG opener also opens the MPO of phones).
FORMATS = ("JPEG", "PNG", "WEBP")
#: The most pixels an image may have, by how it decodes: a (baseline) JPEG at 1/8 of its
#: size at most; a progressive JPEG keeps every coefficient of the whole image while
#: decoding (6 B a pixel); a PNG is decoded whole (4 B a pixel, and a copy a row at a
#: time), a WebP whole and copied (about 14 B a pixel, measured). Each keeps the memory of
#: an upload under 100 MB (bench/bench_photos.py).
MAX_PIXELS = {"JPEG": 40_000_000, "progressive": 16_000_000, "PNG": 10_000_000, "WEBP": 6_000_000}


class PhotoError(Refusal):
    """An upload that is not a usable picture."""

    MESSAGES = {
        "photo_too_large": N_(
            "Cette image a trop de pixels (%(megapixels)d mégapixels au plus pour ce "
            "format) : réduisez-la avant de l'envoyer."
        ),
        "photo_unreadable": N_("Ce fichier n'est pas une image lisible (JPEG, PNG, WebP…)."),
    }


def pixel_cap(image: Image.Image) -> int:
    """The most pixels `image` may have, by how its format decodes."""
    if image.format in ("JPEG", "MPO"):
        return MAX_PIXELS["progressive" if image.info.get("progressive") else "JPEG"]
    return MAX_PIXELS.get(image.format or "", min(MAX_PIXELS.values()))


def small_picture(upload: bytes) -> Image.Image:
    """The picture in `upload`, at most `MAX_SIDE` a side, upright, RGB, without metadata;
    refused (`PhotoError`) above its pixel cap before any pixel is decoded."""
    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 MP on; our cap, lower, is checked right below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(upload), formats=FORMATS)
        with opened as image:
            width, height = image.size
            cap = pixel_cap(image)
            if width * height > cap:
                raise PhotoError("photo_too_large", megapixels=cap // 1_000_000)
            # In place, so a JPEG is decoded already reduced (draft) and any other
            # image reduced right after its decoding, before anything else copies it.
            # (Pillow's reduce() has no 16-bit greyscale: those are resized directly.)
            gap = None if image.mode.startswith("I;16") else 2.0
            image.thumbnail((MAX_SIDE, MAX_SIDE), reducing_gap=gap)
            return ImageOps.exif_transpose(image).convert("RGB")
    except Image.DecompressionBombError:  # over 179 MP, whatever the format: over ours too
        raise PhotoError("photo_too_large", megapixels=MAX_PIXELS["JPEG"] // 1_000_000) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise PhotoError("photo_unreadable") from None


def folder(data_dir: Path) -> Path:
    return data_dir / "photos"


def store_photo(data_dir: Path, upload: bytes) -> str:
    """Keep a picture as a small JPEG; return its address for `Member.photo`."""
    picture = small_picture(upload)
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
