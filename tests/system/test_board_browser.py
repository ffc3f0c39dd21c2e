"""The board in a real browser (Debian's chromium driven by Playwright) on a real server.

What a person in front of the screen would check: a tap shows the name without a
reload, the check-out takes it away, a server restart is caught up by itself, a hostile
name is text, and the page passes axe-core's accessibility rules.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.runtime import Runtime
from server.settings import load_settings
from server.store.db import lookup_key, make_engine, make_session_factory
from server.store.models import Badge, BadgeKind, Member, Visibility
from tests.servers import ServerProcess, free_port, post_tap, presence, write_config

pytestmark = pytest.mark.slow

HOSTILE = "<img src=x onerror=alert(1)>"
WAIT_MS = 15_000  # generous: speed is the benchmark's business


class Cantine:
    """A server process with a site open all day, and members with badges."""

    def __init__(self, folder: Path) -> None:
        port = free_port()
        database = f"sqlite:///{folder / 'presence.db'}"
        extra = "[presence]\ndebounce_seconds = 1\n"
        self.config = write_config(folder, database, port=port, extra=extra)
        site = ["La Cantine", "--slug", "cantine", "--hours", "mon-sun 00:00-23:59"]
        presence(self.config, "sites", "add", *site, "--capacity", "40")
        self.kiosk = presence(self.config, "kiosks", "add", "porte", "--site", "cantine").strip()
        self.server = ServerProcess(self.config, port).start()
        self.badges: dict[str, str] = {}

    @contextmanager
    def quiet_writer(self) -> Iterator[Session]:
        """A transaction from another process that cannot reach the boards (no Redis):
        its changes are numbered but never sent, as after a lost message."""
        settings = load_settings(self.config)
        engine = make_engine(settings.database_url)
        try:
            with Runtime(settings, engine, make_session_factory(engine)).transaction() as session:
                yield session
        finally:
            engine.dispose()

    def board_url(self, lang: str = "fr") -> str:
        link = presence(self.config, "sites", "board-link", "cantine", "--lang", lang).strip()
        return link.replace("http://127.0.0.1:5000", self.server.base)

    def member(self, name: str, visibility: str, **options: str) -> None:
        email = f"{uuid.uuid4().hex[:8]}@example.org"
        args = ["--given-name", name, "--email", email, "--visibility", visibility]
        for option, value in options.items():
            args += [f"--{option.replace('_', '-')}", value]
        presence(self.config, "members", "add", *args)
        badge = f"04{uuid.uuid4().hex[:12].upper()}"
        presence(self.config, "badges", "assign", email, badge)
        self.badges[name] = badge

    def crowd(self, people: list[tuple[str, str, Visibility]]) -> None:
        """Members (given name, family name, level) written at once, each with a badge;
        quicker than a command per member when there are sixty."""
        with self.quiet_writer() as session:
            key = lookup_key(session)
            for given, family, level in people:
                member = Member(
                    given_name=given,
                    family_name=family,
                    display_name=given,
                    email=f"{uuid.uuid4().hex[:10]}@example.org",
                    visibility=level,
                )
                session.add(member)
                session.flush()
                badge = Badge(member_id=member.id, label="")
                value = f"04{uuid.uuid4().hex[:12].upper()}"
                badge.set_value(key, BadgeKind.NFC, value)
                session.add(badge)
                self.badges[f"{given} {family}"] = value

    def tap(self, name: str) -> str:
        outcome: str = post_tap(self.server.base, self.kiosk, self.badges[name])["outcome"]
        return outcome


@pytest.fixture
def cantine(tmp_path: Path) -> Iterator[Cantine]:
    place = Cantine(tmp_path)
    try:
        yield place
    finally:
        place.server.stop()


def open_board(browser: Browser, url: str, **context: Any) -> Page:
    page = browser.new_page(viewport={"width": 1920, "height": 1080}, **context)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}"))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.errors = errors  # type: ignore[attr-defined]
    page.goto(url)
    return page


def names_on(page: Page) -> Any:
    return page.locator("#people .person:not(.leaving) .name")


def test_a_tap_appears_and_leaves_and_a_restart_is_caught_up(
    browser: Browser, cantine: Cantine
) -> None:
    cantine.member("Bruno", "first_name")
    page = open_board(browser, cantine.board_url())
    expect(page.locator("#empty")).to_contain_text("Personne pour l'instant")
    page.evaluate("window.sameDocument = true")  # gone if the page reloads

    assert cantine.tap("Bruno") == "checked_in"
    expect(names_on(page)).to_have_text(["Bruno"], timeout=WAIT_MS)
    expect(page.locator("#head-count")).to_have_text("1 personne ici")

    time.sleep(1.2)  # past the configured 1 s debounce
    assert cantine.tap("Bruno") == "checked_out"
    expect(names_on(page)).to_have_count(0, timeout=WAIT_MS)
    expect(page.locator("#empty")).to_contain_text("Personne pour l'instant")

    cantine.server.stop()
    expect(page.locator("#connection")).to_be_visible(timeout=WAIT_MS)
    cantine.server.start()
    time.sleep(1.2)
    assert cantine.tap("Bruno") == "checked_in"
    expect(names_on(page)).to_have_text(["Bruno"], timeout=WAIT_MS)
    expect(page.locator("#connection")).to_be_hidden()
    assert page.evaluate("window.sameDocument") is True
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_missed_change_is_caught_up_at_the_next_one(browser: Browser, cantine: Cantine) -> None:
    cantine.member("Bruno", "first_name")
    cantine.member("Chloé", "hidden")
    cantine.tap("Chloé")
    page = open_board(browser, cantine.board_url())
    expect(page.locator("#empty")).to_contain_text("1 personne est là, en toute discrétion")
    page.evaluate("window.sameDocument = true")

    with cantine.quiet_writer() as session:
        chloe = session.scalars(select(Member).where(Member.given_name == "Chloé")).one()
        chloe.visibility = Visibility.FIRST_NAME
    cantine.tap("Bruno")  # its number is one past the change the board never got

    expect(names_on(page)).to_have_text(["Bruno", "Chloé"], timeout=WAIT_MS)
    expect(page.locator("#head-count")).to_have_text("2 personnes ici")
    assert page.evaluate("window.sameDocument") is True


def test_a_hostile_name_is_text_and_the_board_is_accessible(
    browser: Browser, cantine: Cantine
) -> None:
    cantine.member(HOSTILE, "first_name")
    cantine.member("Chloé", "profile", skills="accessibilité, Python", working_on="Un atlas")
    cantine.member("Dana", "profile", skills="Accessibilité")
    cantine.member("Ségolène", "hidden")
    for name in cantine.badges:
        assert cantine.tap(name) == "checked_in"

    page = open_board(browser, cantine.board_url(), reduced_motion="reduce")
    expect(names_on(page)).to_have_count(3, timeout=WAIT_MS)
    assert sorted(names_on(page).all_inner_texts()) == sorted([HOSTILE, "Chloé", "Dana"])
    assert page.locator("#people img").count() == 0
    expect(page.locator("#others")).to_have_text("+1 autre")  # a line under the cards
    expect(page.locator("#skills")).to_contain_text(
        "2 personnes ici s'y connaissent en accessibilité"
    )
    assert "Ségolène" not in page.content()

    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    assert page.errors == []  # type: ignore[attr-defined]


def test_arrivals_do_not_move_for_who_asked_for_less_motion(
    browser: Browser, cantine: Cantine
) -> None:
    cantine.member("Bruno", "first_name")
    page = open_board(browser, cantine.board_url("en"), reduced_motion="reduce")
    expect(page.locator("#empty")).to_contain_text("Nobody here right now")
    cantine.tap("Bruno")
    expect(names_on(page)).to_have_text(["Bruno"], timeout=WAIT_MS)
    animation = page.locator("#people .person").evaluate(
        "node => getComputedStyle(node).animationName"
    )
    assert animation == "none"
    expect(page.locator("#people .since")).to_contain_text("here since")


#: Sixty people who tap in, named on the board, and two who keep a low profile.
CROWD_GIVEN = (
    "Dorothée Marie-Christine Jean-Baptiste Anne-Sophie Maximilien Gwendoline Bérénice "
    "Christophe Clémentine Guillaume Alexandre Géraldine Frédérique Emmanuelle Jacqueline "
    "Stéphanie Véronique Sébastien Marguerite Françoise Catherine Dominique Gwenaëlle "
    "Bartholomé Éléonore Apolline Capucine Jean-Pierre Marie-Anne Yann Zoé Paul Lou Théo "
    "Ewen Léa Malo Inès Hugo Jade Noé Lina Aurélien Margaux Timothée Clotilde Anatole "
    "Ségolène Hippolyte Violette Josselin Mathilde Honorine Thibault Rose Nathanaël "
    "Héloïse Romain"
).split()


def test_sixty_people_are_legible_and_namesakes_told_apart(
    browser: Browser, cantine: Cantine
) -> None:
    """Read from three metres on a 1920x1080 screen: every name at least 28 px and never
    cut, times at least 24 px, the two Baptistes told apart, the hidden two a line."""
    people = [(given, "Martin", Visibility.FIRST_NAME) for given in CROWD_GIVEN]
    people += [("Baptiste", "Morvan", Visibility.PROFILE), ("Baptiste", "Riou", Visibility.PROFILE)]
    people += [("Ségolène", "Le Gall", Visibility.HIDDEN), ("Yves", "Tanguy", Visibility.HIDDEN)]
    assert len(people) == 62
    cantine.crowd(people)
    for name in cantine.badges:
        assert cantine.tap(name) == "checked_in"

    page = open_board(browser, cantine.board_url(), reduced_motion="reduce")
    expect(page.locator("#head-count")).to_have_text("62 personnes ici", timeout=WAIT_MS)
    shown = page.locator("#people .person:not([hidden]) .name")
    expect(shown).to_have_count(60)
    names = shown.all_inner_texts()
    assert {"Baptiste M.", "Baptiste R.", "Dorothée", "Marie-Christine"} <= set(names)
    expect(page.locator("#others")).to_have_text("+2 autres")
    assert page.locator("#people .others").count() == 0  # a line, not a card

    measures = page.evaluate(
        """() => Array.from(document.querySelectorAll('#people .person:not([hidden])'))
          .map(card => {
            const name = card.querySelector('.name'), since = card.querySelector('.since');
            const style = getComputedStyle(name), box = card.getBoundingClientRect();
            return {
              text: name.textContent,
              name: parseFloat(style.fontSize),
              since: parseFloat(getComputedStyle(since).fontSize),
              ellipsis: style.textOverflow === 'ellipsis',
              wide: name.scrollWidth > name.clientWidth,
              tall: name.scrollHeight > name.clientHeight + 1,
              // A word on two lines ("Emmanuell-e") is cut too.
              broken: Array.from(name.textContent.matchAll(/[^\\s-]+/g)).some(word => {
                const range = document.createRange();
                range.setStart(name.firstChild, word.index);
                range.setEnd(name.firstChild, word.index + word[0].length);
                return new Set(Array.from(range.getClientRects()).map(r => r.top)).size > 1;
              }),
              bottom: box.bottom,
            };
          })"""
    )
    assert min(m["name"] for m in measures) >= 28, measures[0]
    assert min(m["since"] for m in measures) >= 24, measures[0]
    cut = [m["text"] for m in measures if m["wide"] or m["tall"] or m["broken"]]
    assert cut == [], cut  # neither an ellipsis, nor a clamp, nor a word broken in two
    others = page.locator("#others").bounding_box()
    assert others is not None
    assert max(m["bottom"] for m in measures) <= others["y"]  # under the cards
    assert others["y"] + others["height"] <= page.locator("footer").bounding_box()["y"]
    assert page.errors == []  # type: ignore[attr-defined]

    english = open_board(browser, cantine.board_url("en"), reduced_motion="reduce")
    expect(english.locator("#hours")).to_have_text("Today: 00:00–23:59", timeout=WAIT_MS)
    expect(english.locator("#others")).to_have_text("+2 others")
    clock = english.locator("#clock").inner_text()
    assert re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", clock), clock
    since = english.locator("#people .person .since").first.inner_text()
    assert re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", since.strip()), since
