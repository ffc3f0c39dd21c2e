"""Every refusal has a stable code and says it in French and in English."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from babel.messages.pofile import read_po

import server
from server.domain import refusals
from server.domain.refusals import Refusal, every_refusal
from server.i18n import CATALOGUE, refusal_text


def all_refusals() -> list[type[Refusal]]:
    """Every Refusal class, once each module of the server that may define one is loaded."""
    for module in pkgutil.walk_packages(server.__path__, "server."):
        if ".migrations" not in module.name:  # Alembic's env.py runs on import
            importlib.import_module(module.name)
    return [cls for cls in every_refusal() if cls is not Refusal]


def test_every_code_has_a_french_and_an_english_message() -> None:
    with CATALOGUE.open("rb") as file:
        english = {message.id: message.string for message in read_po(file) if message.id}
    classes = all_refusals()
    assert len(classes) >= 12
    for cls in classes:
        assert cls.MESSAGES, f"{cls.__name__} declares no message"
        for code, french in cls.MESSAGES.items():
            assert code.isidentifier() and code == code.lower(), f"{cls.__name__}: {code!r}"
            assert french.strip(), f"{cls.__name__}.{code} has no French"
            assert english.get(french), f"{cls.__name__}.{code} has no English: {french!r}"


def test_the_tree_drawn_in_the_docstring_names_every_refusal() -> None:
    drawn = refusals.__doc__ or ""
    missing = [cls.__name__ for cls in all_refusals() if cls.__name__ not in drawn]
    assert not missing, f"draw them in server/domain/refusals.py: {missing}"


def test_a_refusal_says_itself_in_the_language_asked() -> None:
    from server.domain.members import MemberError

    refused = MemberError("email_taken", email="alice@example.org")
    assert refused.code == "email_taken"
    assert str(refused) == "Un membre a déjà l'adresse alice@example.org."
    assert refusal_text(refused, "en") == "a member with e-mail alice@example.org already exists"
    assert refusal_text(refused, "fr") == str(refused)


def test_a_code_without_a_message_is_a_programming_error() -> None:
    from server.domain.sites import SiteError

    with pytest.raises(KeyError):
        SiteError("no_such_code")
