"""The kiosk's own `[kiosk]` section of config.toml (it needs nothing else)."""

from __future__ import annotations

import os

from pydantic import BaseModel, Field

from presence.config import Section, config_path, load_sections, read_toml


class KioskSection(Section):
    server_url: str = Field(pattern=r"^https?://")
    token: str = Field(min_length=1)
    spool_path: str = "data/kiosk-spool.db"
    repeat_seconds: float = Field(default=2.0, ge=0, le=60)


class KioskSettings(BaseModel):
    kiosk: KioskSection


def load_kiosk_settings(path: str | os.PathLike[str] | None = None) -> KioskSettings:
    """Read `[kiosk]`; the token may come from $PRESENCE_KIOSK_TOKEN."""
    found = config_path(path)
    data = read_toml(found, required=True)
    overrides = {("kiosk", "token"): os.environ.get("PRESENCE_KIOSK_TOKEN") or None}
    return load_sections(KioskSettings, found, data, overrides)
