"""Typed server settings from `config.toml` and `PRESENCE_*` environment variables."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import BaseModel, Field

from presence.config import Section, config_path, load_sections, read_toml

#: Secrets and deployment-specific values that may come from the environment instead.
ENVIRONMENT = {
    ("server", "secret_key"): "PRESENCE_SECRET_KEY",
    ("server", "database_url"): "PRESENCE_DATABASE_URL",
    ("server", "redis_url"): "PRESENCE_REDIS_URL",
}


class ServerSection(Section):
    data_dir: str = "data"
    database_url: str = ""
    secret_key: str = ""
    redis_url: str = ""
    host: str = "127.0.0.1"
    port: int = Field(default=5000, ge=1, le=65535)


class PresenceSection(Section):
    debounce_seconds: int = Field(default=60, ge=0, le=3600)
    auto_checkout_grace_minutes: int = Field(default=30, ge=0, le=24 * 60)
    future_tolerance_seconds: int = Field(default=300, ge=0)


class ApiSection(Section):
    max_body_kib: int = Field(default=256, ge=1, le=16 * 1024)
    max_batch: int = Field(default=200, ge=1, le=10_000)


class Settings(BaseModel):
    server: ServerSection = ServerSection()
    presence: PresenceSection = PresenceSection()
    api: ApiSection = ApiSection()

    @property
    def data_path(self) -> Path:
        return Path(self.server.data_dir)

    @property
    def database_url(self) -> str:
        """The configured URL, else an SQLite file in the data folder."""
        if self.server.database_url:
            return self.server.database_url
        return f"sqlite:///{(self.data_path / 'presence.db').resolve()}"


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read settings; the file is optional unless named explicitly."""
    found = config_path(path)
    explicit = path is not None or "PRESENCE_CONFIG" in os.environ
    data = read_toml(found, required=explicit)
    overrides = {key: os.environ.get(var) for key, var in ENVIRONMENT.items()}
    return load_sections(Settings, found, data, overrides)


def secret_key(settings: Settings) -> str:
    """The configured secret key, else one generated once and kept in the data folder."""
    if settings.server.secret_key:
        return settings.server.secret_key
    keyfile = settings.data_path / "secret_key"
    if keyfile.exists():
        return keyfile.read_text().strip()
    settings.data_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    keyfile.touch(mode=0o600)
    keyfile.write_text(key)
    return key
