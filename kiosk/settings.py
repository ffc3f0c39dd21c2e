"""The kiosk's own `[kiosk]` section of config.toml (it needs nothing else)."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, Field

from presence.config import Section, config_path, load_sections, read_toml


class KioskSection(Section):
    server_url: str = Field(pattern=r"^https?://")
    token: str = Field(min_length=1)
    spool_path: str = "data/kiosk-spool.db"
    # Repeat reads of a badge still held on the reader within this many seconds of its
    # last read are one tap (the server's 60 s rule is a different thing).
    repeat_seconds: float = Field(default=2.0, ge=0, le=60)
    # Where badges come from: an NFC reader through nfcpy, a USB QR scanner through its
    # input device, lines on standard input, or a simulated device on a local socket.
    reader: Literal["nfc", "qr", "stdin", "simulated"] = "nfc"
    # nfcpy's device path: "tty:serial0:pn532" (PN532 on the GPIO pins of a Pi 3 or 4;
    # on a Pi 5 the pins' UART is "tty:AMA0:pn532", its serial0 is the debug connector),
    # "tty:USB0:pn532" (PN532 on a USB serial adapter), "usb" (RC-S380, ACR122U, PN533),
    # "udp:localhost:8888" (nfcpy's simulator). deploy/kiosk/install.sh picks by model.
    nfc_device: str = "tty:serial0:pn532"
    # Technologies polled: "106A" covers MIFARE and NTAG badges. Each one more costs time.
    nfc_targets: list[str] = Field(default_factory=lambda: ["106A"], min_length=1)
    nfc_interval: float = Field(default=0.05, gt=0, le=1)
    # The scanner's input device, best by id: /dev/input/by-id/usb-...-event-kbd
    qr_device: str = ""
    # "host:port" of the simulated reader (development and tests).
    simulated_device: str = "127.0.0.1:7600"
    # The page the kiosk's full-screen browser shows.
    feedback_host: str = "127.0.0.1"
    feedback_port: int = Field(default=8080, ge=1, le=65535)
    language: Literal["fr", "en"] = "fr"
    # A command run for each greeting where a speaker exists, e.g. "aplay -q ok.wav".
    sound_command: str = ""
    upload_batch: int = Field(default=50, ge=1, le=200)
    heartbeat_seconds: float = Field(default=60, ge=5, le=3600)
    directory_minutes: float = Field(default=10, ge=1, le=24 * 60)


class KioskSettings(BaseModel):
    kiosk: KioskSection


def load_kiosk_settings(path: str | os.PathLike[str] | None = None) -> KioskSettings:
    """Read `[kiosk]`; the token may come from $PRESENCE_KIOSK_TOKEN."""
    found = config_path(path)
    data = read_toml(found, required=True)
    overrides = {("kiosk", "token"): os.environ.get("PRESENCE_KIOSK_TOKEN") or None}
    return load_sections(KioskSettings, found, data, overrides)
