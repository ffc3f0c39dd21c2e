"""The kiosk's page in Debian's chromium, served by the kiosk's own page server.

The screen is driven here as the daemon drives it (greet, status, count, answer); the
page is looked at as a member at the door would, with generous timeouts: a greeting
goes after its five seconds and never comes back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Page, expect

from kiosk.screen import GuestDesk, Screen, ScreenServer

#: Every text the headline takes, in order, kept by the page for the test to read.
RECORD_HEADLINES = """
window.headlines = [];
new MutationObserver(() => {
  const headline = document.getElementById("headline");
  const said = headline ? headline.textContent : "";
  if (said && window.headlines[window.headlines.length - 1] !== said) {
    window.headlines.push(said);
  }
}).observe(document, { subtree: true, childList: true, characterData: true });
"""
READER_GONE = "Lecteur de badges débranché — prévenez l'accueil"


@contextmanager
def served(
    language: str = "fr", desk: GuestDesk | None = None, screen: Screen | None = None
) -> Iterator[tuple[Screen, str]]:
    """A screen and the address of its page, served as `presence kiosk` serves it."""
    screen = screen or Screen()
    server = ScreenServer(screen, "127.0.0.1", 0, language)
    server.desk = desk
    server.start()
    try:
        yield screen, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.stop()


def headlines_since(page: Page, start: int) -> list[str]:
    found: list[str] = page.evaluate("window.headlines")
    return found[start:]


def test_a_greeting_is_shown_once_whatever_the_status_or_the_browser_s_clock_do(
    browser: Any,
) -> None:
    with served() as (screen, url):
        page = browser.new_page()
        page.add_init_script(RECORD_HEADLINES)
        page.goto(url)
        headline, body = page.locator("#headline"), page.locator("body")
        expect(headline).to_have_text("Badgez ici")

        screen.greet("tap-justine", "Justine", leaving=True)
        expect(headline).to_have_text("Au revoir Justine")
        greeting = screen.state["show_id"]
        expect(body).to_have_attribute("data-show", greeting)
        # The browser's wall clock steps an hour back (NTP) and stays there: no matter.
        page.clock.set_fixed_time(time.time() - 3600)

        # While it is up: offline, a head count, the server's answer for this very tap.
        screen.status(online=False, pending=1)
        expect(page.locator("#marker")).to_have_text("hors ligne, 1 en attente")
        screen.count(3)
        expect(page.locator("#count")).to_have_text("3 personnes ici")
        screen.answer({"id": "tap-justine", "outcome": "checked_out", "name": "Justine"}, 2)
        expect(page.locator("#detail")).to_have_text("Sortie enregistrée")
        expect(headline).to_have_text("Au revoir Justine")
        expect(body).to_have_attribute("data-show", greeting)  # the same greeting

        # It goes on time (5 s after the tap; 10 s allowed)...
        expect(headline).to_have_text("Badgez ici", timeout=10_000)
        gone = len(page.evaluate("window.headlines"))
        # ...and the status changing again, well past its five seconds, never brings it back.
        screen.status(online=True, pending=0)
        screen.count(4)
        expect(page.locator("#count")).to_have_text("4 personnes ici")
        expect(page.locator("#marker")).to_be_hidden()
        page.wait_for_timeout(3_000)
        screen.status(online=False, pending=2)
        screen.count(5)
        screen.answer({"id": "tap-justine", "outcome": "checked_out", "name": "Justine"}, 6)
        expect(page.locator("#count")).to_have_text("6 personnes ici")
        page.wait_for_timeout(4_000)
        assert headlines_since(page, gone) == []
        expect(headline).to_have_text("Badgez ici")
        assert screen.state["show"]["name"] == "Justine"  # still the last thing shown

        # A page loaded again while a greeting is up shows it for the rest of its time.
        screen.greet("tap-samir", "Samir")
        expect(headline).to_have_text("Bonjour Samir")
        page.reload()
        expect(headline).to_have_text("Bonjour Samir")
        expect(headline).to_have_text("Badgez ici", timeout=10_000)
        page.reload()  # once it is gone, it is gone
        expect(headline).to_have_text("Badgez ici")
        screen.status(online=True, pending=0)
        expect(page.locator("#marker")).to_be_hidden()
        page.wait_for_timeout(1_000)
        assert headlines_since(page, 0) == ["Badgez ici"]
        page.close()


def test_an_unplugged_reader_is_said_big_and_the_guest_button_still_works(
    browser: Any,
) -> None:
    with served() as (screen, url):
        page = browser.new_page()
        page.goto(url)
        headline, alert = page.locator("#headline"), page.locator("#alert")
        guest = page.get_by_role("button", name="Je suis invité·e")
        expect(headline).to_have_text("Badgez ici")
        expect(alert).to_be_hidden()

        screen.status(reader=False, reader_fault="gone")
        expect(headline).to_have_text(READER_GONE)  # "tap here" would be a lie
        expect(page.get_by_text(READER_GONE)).to_be_visible()
        guest.click(trial=True)  # visible, and nothing covers it

        # A guest checks in meanwhile: greeted, and the reader still said at the top.
        screen.greet("guest-1", "Ada")
        expect(headline).to_have_text("Bonjour Ada")
        expect(alert).to_have_text(READER_GONE)
        expect(alert).to_be_visible()
        guest.click(trial=True)
        screen.status(reader=False, reader_fault="stuck")
        expect(alert).to_have_text("Lecteur de badges bloqué — prévenez l'accueil")

        screen.status(reader=True)
        expect(alert).to_be_hidden()
        expect(headline).to_have_text("Bonjour Ada")  # the greeting goes on
        expect(headline).to_have_text("Badgez ici", timeout=10_000)
        expect(page.get_by_text("Lecteur de badges")).to_have_count(0)
        page.close()

    with served("en") as (screen, url):
        screen.status(reader=False, reader_fault="gone")
        page = browser.new_page()
        page.goto(url)
        message = "Badge reader unplugged — please tell the front desk"
        expect(page.locator("#headline")).to_have_text(message)
        page.get_by_role("button", name="I'm a guest").click(trial=True)
        page.close()


class Desk:
    """The daemon's side of the guest forms, as the page server calls it."""

    def __init__(self, screen: Screen) -> None:
        self.screen = screen
        self.arrivals: list[tuple[str, str | None, int | None]] = []

    def hosts(self) -> list[dict[str, Any]]:
        return [{"id": 3, "name": "Nadine Martin"}, {"id": 5, "name": "Samir Haddad"}]

    def guests_here(self) -> list[dict[str, str]]:
        return []

    def guest_arrives(self, name: str, email: str | None, host: int | None) -> object | None:
        self.arrivals.append((name, email, host))
        self.screen.greet(f"guest-{len(self.arrivals)}", name)
        return self.arrivals[-1]

    def guest_leaves(self, arrival: str) -> object | None:
        return None

    def events_today(self) -> list[dict[str, Any]]:
        return []

    def walk_in_arrives(self, event: int, name: str, email: str | None) -> object | None:
        return None


def tap_keys(page: Page, typed: str) -> None:
    """Type with a finger on the page's keyboard: capitals with its shift key."""
    keyboard = page.locator("#keyboard")
    for char in typed:
        if char == " ":
            keyboard.locator(".key-space").click()
            continue
        if char != char.lower():
            keyboard.locator(".key-shift").click()
        keyboard.locator(f'button[data-key="{char.lower()}"]').click()


def test_a_guest_types_an_accented_name_on_the_page_s_keyboard(browser: Any) -> None:
    screen = Screen()
    desk = Desk(screen)
    with served(desk=desk, screen=screen) as (_screen, url):
        page = browser.new_page()
        page.goto(url)
        keyboard = page.locator("#keyboard")
        name, email = page.get_by_label("Votre prénom"), page.get_by_label("Votre e-mail")
        expect(page.locator("#headline")).to_have_text("Badgez ici")
        expect(keyboard).to_be_hidden()
        page.get_by_role("button", name="Je suis invité·e").click()
        page.get_by_role("button", name="J'arrive").click()
        expect(name).to_be_focused()
        expect(keyboard).to_be_visible()  # the field has the focus: the keys are there

        tap_keys(page, "Zé")
        name.evaluate("field => field.setSelectionRange(1, 1)")  # the caret after the Z
        tap_keys(page, "o")
        expect(name).to_have_value("Zoé")
        assert name.evaluate("field => field.selectionStart") == 2  # typed where the caret was
        name.evaluate("field => field.setSelectionRange(3, 3)")  # a finger at the end again
        tap_keys(page, " Lx")
        keyboard.get_by_role("button", name="Effacer").click()
        tap_keys(page, "'Hôte")
        expect(name).to_have_value("Zoé L'Hôte")
        expect(name).to_be_focused()  # the keys never took it

        keyboard.get_by_role("button", name="Suivant").click()
        expect(email).to_be_focused()
        tap_keys(page, "zoe_l-hote2@exemple.fr")
        expect(email).to_have_value("zoe_l-hote2@exemple.fr")
        keyboard.get_by_role("button", name="Suivant").click()
        search = page.get_by_label("Qui vous invite ? Tapez son nom")
        expect(search).to_be_focused()
        tap_keys(page, "sam")
        hosts = page.locator("#guest-hosts button")
        expect(hosts).to_have_text(["Samir Haddad", "Personne en particulier"])
        hosts.first.click()
        keyboard.get_by_role("button", name="Valider").click()  # the last field: submit

        expect(page.locator("#headline")).to_have_text("Bonjour Zoé L'Hôte")
        assert desk.arrivals == [("Zoé L'Hôte", "zoe_l-hote2@exemple.fr", 5)]
        expect(keyboard).to_be_hidden()
        expect(page.locator("#guest")).to_be_hidden()

        # The form closed without being sent takes its keyboard with it.
        page.get_by_role("button", name="Je suis invité·e").click()
        page.get_by_role("button", name="J'arrive").click()
        expect(keyboard).to_be_visible()
        expect(name).to_have_value("")
        page.locator("#guest-form .guest-cancel").click()
        expect(keyboard).to_be_hidden()
        expect(page.locator("#guest")).to_be_hidden()
        assert len(desk.arrivals) == 1
        page.close()
