"""The English catalogue covers every French message of the pages, and the compiled
catalogue the server reads is the one in the source."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask_babel import ngettext

from server.i18n import CATALOGUE, FRENCH_PLURALS, HERE, init_i18n

PLACEHOLDER = re.compile(r"%\([a-z_]+\)[0-9]*[sd]")


def extracted(tmp_path: Path, *, plurals_only: bool = False) -> set[str]:
    """The messages marked in the code and the templates today (or only the plural ones)."""
    template = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "--quiet",
            "extract",
            "-F",
            str(HERE / "babel.cfg"),
            "-k",
            "_l",
            "-o",
            str(template),
            str(HERE),
        ],
        check=True,
    )
    with template.open("rb") as file:
        return {
            _key(message.id)
            for message in read_po(file)
            if message.id and (message.pluralizable or not plurals_only)
        }


def _key(message_id: str | tuple[str, ...] | list[str]) -> str:
    return message_id if isinstance(message_id, str) else "||".join(message_id)


def _text(string: str | tuple[str, ...] | list[str]) -> str:
    return string if isinstance(string, str) else "||".join(string)


def test_every_message_has_its_english(tmp_path: Path) -> None:
    with CATALOGUE.open("rb") as file:
        catalogue = {_key(m.id): m for m in read_po(file) if m.id}
    missing = sorted(extracted(tmp_path) - catalogue.keys())
    assert not missing, "run `python -m server.i18n` and translate: " + "; ".join(missing[:5])
    for key, message in catalogue.items():
        texts = message.string if isinstance(message.string, tuple) else (str(message.string),)
        assert all(texts), f"no English for {key!r}"
        assert not message.fuzzy, f"fuzzy English for {key!r}"
        wanted = sorted(PLACEHOLDER.findall(key.split("||")[0]))
        for text in texts:
            assert sorted(PLACEHOLDER.findall(text)) == wanted, f"placeholders of {key!r}"


def test_the_compiled_catalogue_is_up_to_date() -> None:
    with CATALOGUE.open("rb") as file:
        source = {_key(m.id): _text(m.string) for m in read_po(file) if m.id}
    with CATALOGUE.with_suffix(".mo").open("rb") as file:
        compiled = {_key(m.id): _text(m.string) for m in read_mo(file) if m.id}
    assert compiled == source, "run `python -m server.i18n` to compile the catalogue"


def test_french_says_zero_in_the_singular() -> None:
    # "0 personne venue", as French writes it; English's rule would say "0 personnes".
    app = Flask(__name__)
    app.secret_key = "s"  # ?lang= is remembered in the session
    init_i18n(app)
    with app.test_request_context("/?lang=fr"):
        said = [
            ngettext("%(num)d personne venue", "%(num)d personnes venues", n) for n in (0, 1, 2)
        ]
    assert said == ["0 personne venue", "1 personne venue", "2 personnes venues"]
    with app.test_request_context("/?lang=en"):
        assert ngettext("%(num)d personne venue", "%(num)d personnes venues", 0).startswith("0 ")


def test_the_french_plurals_are_every_plural_message_and_compiled(tmp_path: Path) -> None:
    plurals = extracted(tmp_path, plurals_only=True)
    with FRENCH_PLURALS.open("rb") as file:
        source = {_key(m.id): _text(m.string) for m in read_po(file) if m.id}
    with FRENCH_PLURALS.with_suffix(".mo").open("rb") as file:
        compiled = {_key(m.id): _text(m.string) for m in read_mo(file) if m.id}
    assert source.keys() == plurals, "run `python -m server.i18n`"
    assert compiled == source, "run `python -m server.i18n` to compile the catalogue"
