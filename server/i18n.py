"""French and English pages, through Flask-Babel.

The pages are written in French (the messages in the templates and the code are the
French text, marked with `_()`), and `server/translations/en` gives their English. The
language of a page is, in order: `?lang=` on its address (remembered in the session),
what the page itself sets (a member's page speaks the member's language), then the
browser's preference, then French.

After changing a marked message: `python -m server.i18n` extracts the messages, updates
the catalogue and compiles it; a test fails while a message has no English. It also
writes `server/translations/fr`, which holds only the plural messages, as they are:
French needs no translation, but without a catalogue gettext would apply English's
plural rule and say "0 personnes venues" where French says "0 personne venue".
"""

from __future__ import annotations

import functools
import subprocess
import sys
import tempfile
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

from babel import dates, numbers
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po
from babel.support import NullTranslations, Translations
from flask import Flask, g, request, session
from flask_babel import Babel, format_currency, get_locale, gettext

from server.domain.refusals import Refusal

LANGUAGES = ("fr", "en")
HERE = Path(__file__).parent
TRANSLATIONS = HERE / "translations"
CATALOGUE = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
FRENCH_PLURALS = TRANSLATIONS / "fr" / "LC_MESSAGES" / "messages.po"


def select_language() -> str:
    """The language of the page being answered."""
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        session["lang"] = asked
        return str(asked)
    chosen = session.get("lang") or getattr(g, "page_language", None)
    if chosen in LANGUAGES:
        return str(chosen)
    return request.accept_languages.best_match(LANGUAGES) or LANGUAGES[0]


def use_language(language: str | None) -> None:
    """Let a page speak `language` (a member's own), unless the reader chose one."""
    if language in LANGUAGES:
        g.page_language = language


def page_language() -> str:
    return str(get_locale() or LANGUAGES[0])


def money(cents: int, currency: str = "EUR") -> str:
    """An amount in cents as the reader writes it: "90,00 €", or "€90.00"."""
    return str(format_currency(Decimal(cents) / 100, currency))


def decimal(value: float | Decimal, digits: int = 1) -> str:
    """A number with `digits` decimals as the reader writes it: "1 234,5", or "1,234.5"."""
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return numbers.format_decimal(value, pattern, locale=get_locale())


def percent(ratio: float, signed: bool = False, digits: int = 0) -> str:
    """A ratio as a percentage: "27 %", or "27%", with up to `digits` decimals ("0,4 %");
    `signed`: "+12 %", "−3 %" (as the annual report writes a change)."""
    shown = round(abs(ratio) if signed else ratio, digits + 2)
    text = numbers.format_percent(shown, locale=get_locale(), decimal_quantization=False)
    if not signed:
        return text
    return ("+" if ratio >= 0 else "\u2212") + text


def clock(moment: datetime | time) -> str:
    """A local time of day as the reader writes it: "09:00", or "9:00 AM"."""
    return dates.format_time(moment, "short", locale=get_locale())


def day_range(first: date, last: date) -> str:
    """Days, shortly: "1–7 déc." ("1–7 Dec"), "29 nov.–5 déc.", "7 déc." for one day."""
    locale = get_locale()
    if first == last:
        return dates.format_date(last, "d MMM", locale=locale)
    if (first.year, first.month) == (last.year, last.month):
        begins = str(first.day)
    else:
        begins = dates.format_date(first, "d MMM", locale=locale)
    return f"{begins}–{dates.format_date(last, 'd MMM', locale=locale)}"


def week(key: str, within: tuple[date, date] | None = None) -> str:
    """An ISO week ("2026-W49") for a reader: "semaine 49 (30 nov.–6 déc.)", its days
    cut to the period `within` when given (a report counts only the days it covers)."""
    year, number = (int(part) for part in key.split("-W"))
    first, last = date.fromisocalendar(year, number, 1), date.fromisocalendar(year, number, 7)
    if within is not None:
        first, last = max(first, within[0]), min(last, within[1])
    return str(gettext("semaine %(num)d (%(days)s)", num=number, days=day_range(first, last)))


def month(key: str | date) -> str:
    """A month ("2026-11", or its first day) for a reader: "novembre 2026"."""
    first = key if isinstance(key, date) else date.fromisoformat(key + "-01")
    return dates.format_date(first, "MMMM y", locale=get_locale())


def refusal_text(refusal: Refusal, language: str | None = None) -> str:
    """A refusal's message in `language`, else the page's, its placeholders filled (the
    command line asks for English; a page answers in its reader's language)."""
    if language is None:
        return str(gettext(refusal.message, **refusal.params))
    translated = catalogue(language).gettext(refusal.message)
    return translated % refusal.params if refusal.params else translated


@functools.cache
def catalogue(language: str) -> NullTranslations:
    """The compiled messages of `language`, for text made outside a request."""
    return Translations.load(str(TRANSLATIONS), [language])


def init_i18n(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", LANGUAGES[0])
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    Babel(app, locale_selector=select_language)
    app.jinja_env.globals["page_language"] = page_language
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES
    for helper in (money, decimal, percent, clock, day_range, week, month):
        app.add_template_filter(helper)


def refresh_catalogue() -> None:
    """Extract the marked messages, merge them into the English catalogue, compile it."""
    TRANSLATIONS.mkdir(exist_ok=True)
    template = Path(tempfile.mkdtemp()) / "messages.pot"
    babel = [sys.executable, "-m", "babel.messages.frontend", "--quiet"]
    root = HERE.parent
    subprocess.run(
        [
            *babel,
            "extract",
            "-F",
            str(HERE / "babel.cfg"),
            "-k",
            "_l",
            "-k",
            "N_",
            "--no-location",
            "--sort-output",
            "--omit-header",
            "-o",
            str(template),
            str(HERE),
        ],
        check=True,
        cwd=root,
    )
    if CATALOGUE.exists():
        update = ["update", "-i", str(template), "-d", str(TRANSLATIONS), "-l", "en"]
        subprocess.run(
            [*babel, *update, "--no-fuzzy-matching", "--ignore-pot-creation-date"], check=True
        )
    else:
        subprocess.run(
            [*babel, "init", "-i", str(template), "-d", str(TRANSLATIONS), "-l", "en"], check=True
        )
    write_french_plurals(template)
    subprocess.run([*babel, "compile", "-d", str(TRANSLATIONS)], check=True)


def write_french_plurals(template: Path) -> None:
    """The plural messages of `template`, each its own translation, under French's rule."""
    with template.open("rb") as file:
        plurals = [tuple(message.id) for message in read_po(file) if message.pluralizable]
    # Babel knows French's plural rule (CLDR: one for 0 and 1, "many" for millions).
    # A fixed date: the file changes only when the messages do.
    written = datetime(2026, 11, 30, tzinfo=UTC)
    catalogue = Catalog(
        locale="fr",
        header_comment="# The plural messages as they are, under French's plural rule.\n"
        "# Written by `python -m server.i18n`: do not edit.",
        project="Présence",
        creation_date=written,
        revision_date=written,
        fuzzy=False,
    )
    for singular, plural in plurals:
        catalogue.add((singular, plural), (singular,) + (plural,) * (catalogue.num_plurals - 1))
    FRENCH_PLURALS.parent.mkdir(parents=True, exist_ok=True)
    with FRENCH_PLURALS.open("wb") as file:
        write_po(file, catalogue, width=100, omit_header=False, sort_output=True)


if __name__ == "__main__":
    refresh_catalogue()
