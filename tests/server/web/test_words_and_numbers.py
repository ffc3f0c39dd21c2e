"""Numbers, dates, weeks and plurals in the reader's language: the template filters of
`server.i18n`, and the plural messages that replaced hand-made "(s)"."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask_babel import ngettext

from server.i18n import clock, day_range, decimal, init_i18n, month, percent, week

NBSP, NNBSP = "\u00a0", "\u202f"  # what French puts before "%" and between thousands


@pytest.fixture
def i18n_app() -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "test"
    init_i18n(app)
    return app


def test_french_numbers_dates_and_weeks(i18n_app: Flask) -> None:
    with i18n_app.test_request_context("/?lang=fr"):
        assert decimal(269) == "269,0"
        assert decimal(1234.56) == f"1{NNBSP}234,6"
        assert decimal(7, 0) == "7"
        assert percent(0.273) == f"27{NBSP}%"
        assert percent(1.0, signed=True) == f"+100{NBSP}%"
        assert percent(-0.25, signed=True) == f"\u221225{NBSP}%"
        assert clock(time(9, 0)) == "09:00"
        assert week("2025-W49") == "semaine 49 (1–7 déc.)"
        assert week("2026-W49") == "semaine 49 (30 nov.–6 déc.)"
        # A report of the 1st to the 3rd counts only those days of the week.
        assert week("2025-W49", (date(2025, 12, 1), date(2025, 12, 3))) == ("semaine 49 (1–3 déc.)")
        assert day_range(date(2026, 12, 7), date(2026, 12, 7)) == "7 déc."
        assert month("2026-11") == "novembre 2026"


def test_english_numbers_dates_and_weeks(i18n_app: Flask) -> None:
    with i18n_app.test_request_context("/?lang=en"):
        assert decimal(269) == "269.0"
        assert decimal(1234.56) == "1,234.6"
        assert percent(0.273) == "27%"
        assert percent(1.0, signed=True) == "+100%"
        assert clock(datetime(2026, 10, 5, 9, tzinfo=ZoneInfo("Europe/Paris"))) == "9:00\u202fAM"
        assert week("2025-W49") == "week 49 (1–7 Dec)"
        assert week("2026-W49") == "week 49 (30 Nov–6 Dec)"
        assert month("2026-11") == "November 2026"


#: The plural messages this change brought (the French, singular and plural), and what
#: each says for 0, 1 and 2, in French then in English.
PLURALS = [
    (
        ("%(num)d crédit utilisé", "%(num)d crédits utilisés"),
        ["0 crédit utilisé", "1 crédit utilisé", "2 crédits utilisés"],
        ["0 credits used", "1 credit used", "2 credits used"],
    ),
    (
        ("%(num)d restant", "%(num)d restants"),
        ["0 restant", "1 restant", "2 restants"],
        ["0 left", "1 left", "2 left"],
    ),
    (
        ("Mois clos : %(num)d relevé, définitif.", "Mois clos : %(num)d relevés, définitifs."),
        [
            "Mois clos : 0 relevé, définitif.",
            "Mois clos : 1 relevé, définitif.",
            "Mois clos : 2 relevés, définitifs.",
        ],
        [
            "Month closed: 0 statements, now final.",
            "Month closed: 1 statement, now final.",
            "Month closed: 2 statements, now final.",
        ],
    ),
    (
        ("%(num)d facture émise.", "%(num)d factures émises."),
        ["0 facture émise.", "1 facture émise.", "2 factures émises."],
        ["0 invoices issued.", "1 invoice issued.", "2 invoices issued."],
    ),
    (
        ("%(num)d membre", "%(num)d membres"),
        ["0 membre", "1 membre", "2 membres"],
        ["0 members", "1 member", "2 members"],
    ),
    (
        ("%(num)d jour", "%(num)d jours"),
        ["0 jour", "1 jour", "2 jours"],
        ["0 days", "1 day", "2 days"],
    ),
    (
        ("%(num)d personne en même temps", "%(num)d personnes en même temps"),
        ["0 personne en même temps", "1 personne en même temps", "2 personnes en même temps"],
        ["0 people at once", "1 person at once", "2 people at once"],
    ),
]


@pytest.mark.parametrize(("message", "french", "english"), PLURALS)
def test_plurals_for_zero_one_and_two(
    i18n_app: Flask, message: tuple[str, str], french: list[str], english: list[str]
) -> None:
    for language, expected in (("fr", french), ("en", english)):
        with i18n_app.test_request_context(f"/?lang={language}"):
            assert [ngettext(*message, n) for n in (0, 1, 2)] == expected
