"""Find and read `config.toml`; each part validates only its own sections.

The server and the kiosk share one commented file, but a Raspberry Pi at the door must
not need the server's settings (nor its libraries), so this module only knows how to find
the file, parse it and turn a pydantic error into one readable line. Each part declares a
pydantic model for its sections and calls `load_sections`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

#: Every top-level section the project knows; a misspelt one is an error in every part.
KNOWN_SECTIONS = frozenset(
    {
        "server",
        "presence",
        "api",
        "board",
        "cards",
        "billing",
        "invoicing",
        "jobs",
        "reports",
        "mail",
        "webhooks",
        "metrics",
        "kiosk",
    }
)

CONFIG_ENV = "PRESENCE_CONFIG"
DEFAULT_PATH = Path("config.toml")


class ConfigError(Exception):
    """The configuration cannot be used; the message is one line naming file and key."""


class Section(BaseModel):
    """Base for a settings section: unknown keys and wrong types are errors, not guesses."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the config file to read: `--config`, else $PRESENCE_CONFIG, else ./config.toml."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env)
    return DEFAULT_PATH


def read_toml(path: Path, *, required: bool) -> dict[str, Any]:
    """Parse the file; a missing optional file reads as empty."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        if required:
            raise ConfigError(f"{path}: file not found") from None
        return {}
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    unknown = sorted(set(data) - KNOWN_SECTIONS)
    if unknown:
        raise ConfigError(f"{path}: [{unknown[0]}]: unknown section")
    return data


M = TypeVar("M", bound=BaseModel)


def load_sections(
    model: type[M],
    path: Path,
    data: Mapping[str, Any],
    overrides: Mapping[tuple[str, str], str | None] | None = None,
) -> M:
    """Validate the sections `model` declares; `overrides` maps (section, key) to a value.

    Overrides carry secrets from the environment; a None value means "not set".
    """
    wanted = {name: dict(data.get(name, {})) for name in model.model_fields}
    for (section, key), value in (overrides or {}).items():
        if value is not None and section in wanted:
            wanted[section][key] = value
    try:
        return model.model_validate(wanted)
    except ValidationError as error:
        raise ConfigError(f"{path}: {describe(error)}") from None


def describe(error: ValidationError) -> str:
    """Turn the first pydantic error into `[section] key: message`."""
    first = error.errors()[0]
    location = [str(part) for part in first["loc"]]
    section, key = (location[0], ".".join(location[1:])) if location else ("?", "")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "missing":
        message = "missing required value"
    else:
        message = first["msg"]
    return f"[{section}] {key}: {message}" if key else f"[{section}]: {message}"
