"""Write docs/configuration.md from the settings models and config.toml's comments.

    .venv/bin/python docs/configuration.py

The settings models (`server.settings.Settings`, `kiosk.settings.KioskSettings`) say which
keys exist, their types and their defaults; `config.toml` says, in the comment above each
key (or above a group of keys that go together), what it is for. The page puts the two
side by side, and `tests/test_docs.py` fails when a key of a model has no comment in
config.toml, or when the page is not what this script writes.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__" and str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from kiosk.settings import KioskSettings  # noqa: E402
from server.settings import ENVIRONMENT, Settings  # noqa: E402

CONFIG = ROOT / "config.toml"
PAGE = ROOT / "docs" / "configuration.md"
KIOSK_ENVIRONMENT = {("kiosk", "token"): "PRESENCE_KIOSK_TOKEN"}

_SECTION = re.compile(r"^\[(\w+)\]\s*$")
_KEY = re.compile(r"^(\w+)\s*=")
#: config.toml names a key's variable in its comment; the page has a column of its own.
_ENVIRONMENT_NOTE = re.compile(r"\s*Environment: PRESENCE_\w+")


@dataclass(frozen=True)
class Key:
    section: str
    name: str
    kind: str
    default: str
    environment: str | None
    comment: str


def comments(config: str) -> dict[tuple[str, str], str]:
    """(section, key) -> the comment block above the key, or above the group of keys it
    belongs to (keys on consecutive lines under one comment)."""
    found: dict[tuple[str, str], str] = {}
    section, block, group = "", [], ""
    for line in config.splitlines():
        stripped = line.strip()
        if match := _SECTION.match(stripped):
            section, block, group = match[1], [], ""
        elif stripped.startswith("#"):
            if group:  # a comment after keys starts a new block
                block, group = [], ""
            block.append(stripped.lstrip("#").strip())
        elif match := _KEY.match(stripped):
            if block and not group:
                group = " ".join(block)
            if section:
                found[(section, match[1])] = group
        else:  # a blank line ends a block and its group
            block, group = [], ""
    return found


KINDS = {str: "text", int: "integer", float: "number", bool: "true or false"}


def _kind(annotation: Any) -> str:
    """A key's type as a reader of config.toml thinks of it."""
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(f"`{json.dumps(value)}`" for value in get_args(annotation))
    if get_origin(annotation) is list:
        return f"list of {_kind(get_args(annotation)[0])}"
    return KINDS.get(annotation, str(annotation))


def _default(field: Any) -> str:
    """A key's default as TOML writes it."""
    if field.default is not PydanticUndefined:
        value = field.default
    elif field.default_factory is not None:
        value = field.default_factory()
    else:
        return "(required)"
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def fields() -> Iterator[tuple[str, str, FieldInfo]]:
    """(section, key, its field) of every section the server and the kiosk read."""
    for model in (Settings, KioskSettings):
        for section, section_field in model.model_fields.items():
            section_model: type[BaseModel] = section_field.annotation  # type: ignore[assignment]
            for name, field in section_model.model_fields.items():
                yield section, name, field


def keys() -> list[Key]:
    """Every key in use, in config.toml's order (retired ones are listed apart)."""
    described = comments(CONFIG.read_text(encoding="utf-8"))
    environment = ENVIRONMENT | KIOSK_ENVIRONMENT
    found = [
        Key(
            section=section,
            name=name,
            kind=_kind(field.annotation),
            default=_default(field),
            environment=environment.get((section, name)),
            comment=_ENVIRONMENT_NOTE.sub("", described.get((section, name), "")),
        )
        for section, name, field in fields()
        if not field.deprecated  # accepted so that older files still load, and said below
    ]
    order = {place: index for index, place in enumerate(described)}
    return sorted(found, key=lambda key: order.get((key.section, key.name), len(order)))


def retired() -> list[str]:
    """Keys still accepted so that an older config.toml loads, but no longer used."""
    return [
        f"`[{section}] {name}` ({field.deprecated})"
        for section, name, field in fields()
        if field.deprecated
    ]


def render() -> str:
    lines = [
        "# Configuration",
        "",
        "<!-- Written by `python docs/configuration.py` from the settings models and the",
        "     comments of config.toml: edit those, then run it (a test checks it is current). -->",
        "",
        "Every part of Présence reads one commented file, `config.toml`: found through",
        "`presence --config PATH`, else `$PRESENCE_CONFIG`, else `./config.toml`. Each part",
        "reads and checks only its own sections (the kiosk only `[kiosk]`); an unknown key, a",
        "wrong type or a missing required value stops start-up with one line naming the key",
        "and the file. Secrets are better given in the environment (the variables below).",
        "Sites, opening hours, members and kiosks live in the database, not here.",
    ]
    section = ""
    for key in keys():
        if key.section != section:
            section = key.section
            reader = "the kiosk" if section == "kiosk" else "the server"
            lines += ["", f"## `[{section}]`", "", f"Read by {reader}.", ""]
            lines += ["| key | type | default | what it is for |", "|---|---|---|---|"]
        what = key.comment.replace("|", "\\|")
        if key.environment:
            what += f" Environment: `{key.environment}`."
        lines.append(f"| `{key.name}` | {key.kind} | {key.default} | {what} |")
    if old := retired():
        lines += [
            "",
            "## No longer used",
            "",
            "Still accepted, so that an older file loads; ignored: " + "; ".join(old) + ".",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}")
