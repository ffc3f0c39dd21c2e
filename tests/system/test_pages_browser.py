"""Every page in a real browser (Debian's chromium, Playwright) at a phone's, a tablet's
and a desk's width, on a server filled by `presence demo`: none scrolls sideways, none
has a serious or critical axe-core violation, none has anything refused by its
Content-Security-Policy. And the staff pages by keyboard alone: the skip link, then the
members' search box in a few Tabs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect

from kiosk.screen import Screen, ScreenServer
from tests.servers import ServerProcess, free_port, presence, write_config

pytestmark = pytest.mark.slow

WIDTHS = (1440, 768, 360)
#: axe-core at the two ends only: the tablet's layout is one of theirs, and axe is slow.
AXE_WIDTHS = (1440, 360)
HEIGHT = 900
STAFF_PASSWORD = "correct horse battery staple"
#: Reported to the console, where the test reads it: what the CSP refused.
WATCH_CSP = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP refused: ${event.violatedDirective} ${event.blockedURI}`);
});
"""


@dataclass
class Demo:
    server: ServerProcess
    admin: tuple[str, str]
    staff: tuple[str, str]
    board: str
    member_link: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("pages")
    port = free_port()
    config = write_config(folder, f"sqlite:///{folder / 'presence.db'}", port=port)
    told = presence(config, "demo")
    board = re.search(r"(/board/\S+\?token=\S+)", told)
    admin = re.search(r"/staff/\s+(\S+@\S+) / (\S+)", told)
    assert board and admin, told
    account = ["camille@example.org", "--name", "Camille", "--role", "staff"]
    presence(config, "staff", "add", *account, "--password-stdin", stdin=STAFF_PASSWORD + "\n")
    email = next(
        line.split("\t")[2]
        for line in presence(config, "members", "list").splitlines()
        if "@" in line.split("\t")[2]
    )
    link = presence(config, "members", "link", email).strip()
    server = ServerProcess(config, port).start()
    try:
        yield Demo(
            server,
            (admin[1], admin[2]),
            ("camille@example.org", STAFF_PASSWORD),
            board[1],
            "/me/" + link.rsplit("/me/", 1)[1],
        )
    finally:
        server.stop()


class Checker:
    """One page in one context, reused for every address; what each check found."""

    def __init__(self, context: BrowserContext) -> None:
        self.page = context.new_page()
        self.refused: list[str] = []
        self.page.add_init_script(WATCH_CSP)
        self.page.on("console", self._console)
        self.problems: list[str] = []

    def _console(self, message: object) -> None:
        text = getattr(message, "text", "")
        if "CSP refused" in text or "Content Security Policy" in text:
            self.refused.append(f"{self.page.url}: {text}")

    def check(self, url: str) -> None:
        """Load `url` and look at it at each width: sideways scroll, axe, the CSP."""
        page = self.page
        page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})
        response = page.goto(url)
        assert response is not None and response.status == 200, f"{url}: {response}"
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": HEIGHT})
            page.wait_for_timeout(200)  # the resize handlers (menu, scroll boxes)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            if overflow > 1:
                wide = page.evaluate(WIDEST)
                self.problems.append(f"{url} at {width}px scrolls {overflow}px sideways: {wide}")
            if not page.evaluate(MENU_REACHABLE):
                self.problems.append(f"{url} at {width}px: neither the menu nor its button shows")
            if width not in AXE_WIDTHS:
                continue
            for violation in Axe().run(page).response["violations"]:
                if violation["impact"] in ("serious", "critical"):
                    targets = [node["target"] for node in violation["nodes"]][:3]
                    self.problems.append(f"{url} at {width}px: axe {violation['id']} {targets}")

    def href(self, selector: str) -> str:
        found = self.page.locator(selector).first.get_attribute("href")
        assert found, selector
        return found


#: The staff menu shows its links, or else its "Menu" button.
MENU_REACHABLE = """
(() => {
  const menu = document.querySelector("details.menu");
  const shown = (e) => e !== null && e.getClientRects().length > 0;
  if (menu === null) return true;
  return shown(menu.querySelector(".nav-links")) || shown(menu.querySelector("summary"));
})()
"""
#: What sticks out past the right edge, to say where to look.
WIDEST = """
Array.from(document.querySelectorAll("body *"))
  .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
  .slice(-3)
  .map((e) => e.tagName + (e.id ? "#" + e.id : "") + "." + e.className)
  .join(", ")
"""


def log_in(page: Page, base: str, account: tuple[str, str]) -> None:
    page.goto(base + "/staff/login")
    page.get_by_label("E-mail").fill(account[0])
    page.get_by_label("Mot de passe").fill(account[1])
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("heading", name="Tableau de bord")).to_be_visible()


STAFF_PAGES = [
    "/staff/",
    "/staff/members",
    "/staff/members/new",
    "/staff/members/import",
    "/staff/directory",
    "/staff/guests",
    "/staff/reports",
    "/staff/reports/funders",
    "/staff/reports/community",
    "/staff/reports/annual",
    "/staff/billing",
    "/staff/events",
    "/staff/announcements",
    "/staff/kiosks",
    "/staff/audit",
    "/staff/password",
]
ADMIN_PAGES = ["/staff/team", "/staff/webhooks", "/staff/api-tokens"]


@pytest.mark.parametrize("role", ["admin", "staff"])
def test_no_staff_page_scrolls_sideways_fails_axe_or_the_csp(
    browser: Browser, demo: Demo, role: str
) -> None:
    base = demo.server.base
    context = browser.new_context(locale="fr-FR")
    try:
        checker = Checker(context)
        log_in(checker.page, base, demo.admin if role == "admin" else demo.staff)
        pages = STAFF_PAGES + (ADMIN_PAGES if role == "admin" else [])
        checker.page.goto(base + "/staff/members")
        member = checker.href("main td a[href*='/staff/members/']")
        checker.page.goto(base + "/staff/events")
        event = checker.href("main td a[href*='/staff/events/']")
        checker.page.goto(base + "/staff/billing")
        statement = checker.href("main th a[href*='/members/']")
        pages += [member, member + "/edit", event, statement, "/staff/roll-call/cantine"]
        for path in pages:
            checker.check(base + path if path.startswith("/") else path)
        assert checker.problems == [], "\n".join(checker.problems)
        assert checker.refused == [], "\n".join(checker.refused)
    finally:
        context.close()


def test_no_member_or_public_page_scrolls_sideways_fails_axe_or_the_csp(
    browser: Browser, demo: Demo
) -> None:
    base = demo.server.base
    context = browser.new_context(locale="fr-FR")
    try:
        checker = Checker(context)
        checker.page.goto(base + demo.member_link)
        statement = checker.href("main a[href*='/statements/']")
        pages = [demo.member_link, statement, demo.member_link + "/together"]
        checker.page.goto(base + "/events")
        event = checker.href("main h2 a")
        pages += ["/", "/events", event, "/announcements", demo.board]
        for path in pages:
            checker.check(base + path if path.startswith("/") else path)
        # A ticket, as someone signing up on the event's page gets it.
        checker.page.goto(base + event if event.startswith("/") else event)
        checker.page.get_by_label("Votre nom").fill("Léonie Dupont-Martineau-Kerhervé")
        checker.page.get_by_role("button", name="Recevoir mon billet").click()
        expect(checker.page.get_by_role("heading", name="Votre billet")).to_be_visible()
        # The ticket's own address (the redirect lands on an anchor), loaded afresh.
        ticket = checker.page.url.split("#")[0]
        checker.page.goto("about:blank")
        checker.check(ticket)
        assert checker.problems == [], "\n".join(checker.problems)
        assert checker.refused == [], "\n".join(checker.refused)
    finally:
        context.close()


def test_the_kiosk_screen_does_not_scroll_sideways_or_fail_axe_or_the_csp(
    browser: Browser,
) -> None:
    screen = Screen()
    server = ScreenServer(screen, "127.0.0.1", 0, "fr")
    server.start()
    context = browser.new_context(locale="fr-FR")
    try:
        checker = Checker(context)
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        checker.check(url)
        screen.greet("tap-1", "Marie-Éléonore de La Tour d'Auvergne")
        expect(checker.page.locator("#headline")).to_contain_text("Marie-Éléonore")
        for width in WIDTHS:
            checker.page.set_viewport_size({"width": width, "height": HEIGHT})
            overflow = checker.page.evaluate(
                "document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 1, f"the greeting at {width}px scrolls {overflow}px sideways"
        assert checker.problems == [], "\n".join(checker.problems)
        assert checker.refused == [], "\n".join(checker.refused)
    finally:
        context.close()
        server.stop()


def focused(page: Page) -> str:
    found: str = page.evaluate(
        "(() => { const e = document.activeElement;"
        " return (e.id || e.className || e.tagName) + '|' + (e.textContent || '').trim(); })()"
    )
    return found


def test_the_staff_pages_by_keyboard_alone(browser: Browser, demo: Demo) -> None:
    base = demo.server.base
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        # Log in: the skip link comes first, then the fields, the Enter key submits.
        page.goto(base + "/staff/login")
        page.keyboard.press("Tab")
        assert focused(page).startswith("skip-link|Aller au contenu")
        expect(page.locator(".skip-link")).to_be_in_viewport()  # seen when focused
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")
        assert focused(page).startswith("email|")
        page.keyboard.type(demo.staff[0])
        page.keyboard.press("Tab")
        page.keyboard.type(demo.staff[1])
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Tableau de bord")).to_be_visible()

        # The members: past the menu with the skip link, the search box in 3 Tabs or less.
        page.goto(base + "/staff/members")
        page.keyboard.press("Tab")
        assert focused(page).startswith("skip-link|")
        page.keyboard.press("Enter")
        for _tabs in range(3):
            page.keyboard.press("Tab")
            if focused(page).startswith("q|"):
                break
        assert focused(page).startswith("q|"), focused(page)
        name = page.locator("main td a[href*='/staff/members/']").first.inner_text()
        page.keyboard.type(name.split()[0])
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"[?&]q="))

        # Then on, Tab by Tab, to the member's link, and Enter opens it.
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        for _tabs in range(20):
            page.keyboard.press("Tab")
            if focused(page).endswith("|" + name):
                break
        assert focused(page).endswith("|" + name), focused(page)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", level=1)).to_have_text(name)
    finally:
        context.close()


def test_the_focus_ring_shows_on_a_dark_button(browser: Browser, demo: Demo) -> None:
    """The ring is 3px wide, outside the button, in a colour unlike the button's."""
    page = browser.new_page(locale="fr-FR")
    try:
        page.goto(demo.server.base + "/staff/login")
        page.get_by_role("button", name="Se connecter").focus()
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Tab")  # focus by keyboard, so :focus-visible applies
        ring = page.evaluate(
            "(() => { const s = getComputedStyle(document.activeElement);"
            " return [s.outlineStyle, s.outlineWidth, s.outlineOffset, s.outlineColor,"
            " s.backgroundColor]; })()"
        )
        style, width, offset, colour, background = ring
        assert (style, width) == ("solid", "3px") and offset != "0px", ring
        assert colour != background, ring
    finally:
        page.close()


def test_every_page_of_the_staff_menu_is_checked() -> None:
    """The lists above are written by hand: a page added to the menu must join them."""
    menu = Path(__file__).resolve().parents[2] / "server/web/templates/staff/base.html"
    endpoints = re.findall(r'nav_link\("staff\.(\w+)"', menu.read_text(encoding="utf-8"))
    listed = {
        "dashboard": "/staff/",
        "members": "/staff/members",
        "directory": "/staff/directory",
        "guests": "/staff/guests",
        "reports": "/staff/reports",
        "billing": "/staff/billing",
        "events": "/staff/events",
        "announcements": "/staff/announcements",
        "kiosks": "/staff/kiosks",
        "team": "/staff/team",
        "webhooks": "/staff/webhooks",
        "api_tokens": "/staff/api-tokens",
        "audit_trail": "/staff/audit",
    }
    assert set(endpoints) == set(listed)
    assert set(listed.values()) <= set(STAFF_PAGES + ADMIN_PAGES)
