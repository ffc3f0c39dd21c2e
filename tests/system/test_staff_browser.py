"""The staff pages in a real browser (Debian's chromium, Playwright) on a real server:
log in, create a member, issue a badge, tap it through the kiosk API, see them on the
dashboard, check them out by hand, find the audit entry; axe-core on each page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import zxingcpp
from axe_playwright_python.sync_playwright import Axe
from PIL import Image
from playwright.sync_api import Browser, Dialog, Page, expect

from tests.servers import ServerProcess, free_port, post_tap, presence, write_config

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery staple"
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture
def office(tmp_path: Path) -> Iterator[tuple[ServerProcess, str]]:
    port = free_port()
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'presence.db'}", port=port)
    site = ["La Cantine", "--slug", "cantine", "--hours", "mon-sun 00:00-23:59"]
    presence(config, "sites", "add", *site)
    kiosk = presence(config, "kiosks", "add", "porte", "--site", "cantine").strip()
    account = ["nadine@example.org", "--name", "Nadine", "--role", "admin", "--password-stdin"]
    presence(config, "staff", "add", *account, stdin=PASSWORD + "\n")
    server = ServerProcess(config, port).start()
    try:
        yield server, kiosk
    finally:
        server.stop()


def accessible(page: Page) -> None:
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def test_a_day_at_the_front_desk(browser: Browser, office: tuple[ServerProcess, str]) -> None:
    server, kiosk = office
    page = browser.new_page(locale="fr-FR")  # a French front desk: the pages follow
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    refused: list[str] = []  # what the Content-Security-Policy blocked: nothing may be
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    page.goto(server.base + "/staff/")
    expect(page).to_have_url(re.compile(r"/staff/login"))
    accessible(page)
    page.get_by_label("E-mail").fill("nadine@example.org")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("heading", name="Tableau de bord")).to_be_visible()
    accessible(page)

    page.get_by_role("link", name="Membres").click()
    page.get_by_role("link", name="Nouveau membre").click()
    page.get_by_label("Prénom").fill(HOSTILE)
    page.get_by_label("Nom", exact=True).fill("Martin")
    page.get_by_label("E-mail").fill("martin@example.org")
    page.get_by_label("Sur l'écran").select_option("first_name")
    accessible(page)
    page.get_by_role("button", name="Créer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{HOSTILE} Martin")
    page.get_by_role("button", name="Créer un badge QR").click()
    shown = page.locator("td code").first.inner_text()
    assert shown.startswith("…") and len(shown) == 5  # the hint: the token is not kept
    accessible(page)

    # The card is printed and its QR code read at the door.
    cards = server.config.parent / "cards"
    printed = presence(
        server.config,
        "badges",
        "print",
        "martin@example.org",
        "--out",
        str(cards / "cards.pdf"),
        "--png-dir",
        str(cards),
    )
    assert "1 card(s)" in printed
    (png,) = cards.glob("*.png")
    (scanned,) = zxingcpp.read_barcodes(Image.open(png))
    assert scanned.text.startswith("P1") and scanned.text.endswith(shown.lstrip("…"))
    assert post_tap(server.base, kiosk, scanned.text, kind="qr")["outcome"] == "checked_in"

    page.get_by_role("link", name="Tableau de bord").click()
    expect(page.get_by_role("cell", name=f"{HOSTILE} Martin")).to_be_visible()

    page.get_by_role("link", name="Membres").click()
    page.get_by_role("link", name=f"{HOSTILE} Martin").click()
    page.get_by_label("Raison de la correction").fill("parti sans badger")
    page.get_by_role("button", name="Enregistrer une sortie").click()
    expect(page.get_by_text("Sortie enregistrée.")).to_be_visible()
    expect(page.get_by_text("Absent·e.")).to_be_visible()

    page.get_by_role("link", name="Modifier").click()
    accessible(page)
    page.get_by_role("link", name="Annuaire").click()
    accessible(page)

    page.get_by_role("link", name="Bornes").click()
    expect(page.get_by_role("cell", name="porte", exact=True)).to_be_visible()
    accessible(page)

    page.get_by_role("link", name="Journal").click()
    expect(
        page.get_by_role("cell", name=re.compile("a enregistré une sortie pour"))
    ).to_be_visible()
    expect(page.get_by_role("cell", name="parti sans badger")).to_be_visible()
    accessible(page)

    page.get_by_role("link", name="Membres").click()
    page.get_by_label("Présence").select_option("absent")
    page.get_by_role("button", name="Chercher").click()
    expect(page.get_by_role("link", name=f"{HOSTILE} Martin")).to_be_visible()
    page.get_by_role("link", name="Importer un CSV").click()
    accessible(page)
    page.get_by_role("link", name="Équipe").click()
    accessible(page)
    page.get_by_role("link", name="Fréquentation").click()
    expect(page.locator("#days-chart")).to_be_visible()
    accessible(page)
    page.get_by_role("link", name="Synthèse mensuelle pour les financeurs").click()
    accessible(page)
    page.get_by_role("link", name="Relevés").click()
    # Martin's few minutes today bill nothing (under the 15-minute minimum).
    expect(page.get_by_text("Rien à facturer ce mois-ci.")).to_be_visible()
    accessible(page)
    page.get_by_role("link", name="English").click()
    expect(page.get_by_text("Nothing to bill this month.")).to_be_visible()
    page.get_by_role("link", name="Nadine").click()
    expect(page.get_by_role("heading", name="Change my password")).to_be_visible()
    accessible(page)
    assert dialogs == []  # the hostile name never ran
    assert refused == []  # every style and script of the pages is allowed by the CSP


def tab_to(page: Page, element_id: str, most: int = 40) -> None:
    """Press Tab until the element `element_id` has the focus (at most `most` times)."""
    for _ in range(most):
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"#{element_id} never got the focus in {most} presses of Tab")


def test_the_desk_checks_someone_in_with_the_keyboard_alone(
    browser: Browser, office: tuple[ServerProcess, str]
) -> None:
    server, _kiosk = office
    for given, family in (("Jeanne", "Dupont"), ("Jérôme", "Dupuis"), ("Zoé", "Arnaud")):
        presence(server.config, "members", "add", "--given-name", given, "--family-name", family)
    page = browser.new_page(locale="fr-FR")
    page.set_default_timeout(10_000)

    page.goto(server.base + "/staff/")
    tab_to(page, "email")
    page.keyboard.type("nadine@example.org")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Tableau de bord")).to_be_visible()

    tab_to(page, "find")  # the first field after the navigation
    page.keyboard.type("jé dup")  # "Jeanne" has no accent: found all the same
    expect(page.locator("#desk-matches li[data-chosen]")).to_have_attribute(
        "data-name", "Jeanne Dupont"
    )
    expect(page.locator("#desk-said")).to_have_text("Jeanne Dupont : entrée")
    accessible(page)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")
    expect(page.locator("#desk-said")).to_have_text(
        "Jeanne Dupont : entrée enregistrée à La Cantine."
    )
    assert page.evaluate("document.activeElement.id") == "find"  # ready for the next one
    expect(page.locator("#live-sites").get_by_role("link", name="Jeanne Dupont")).to_be_visible()

    # Two letters and Enter, typed faster than the search's pause: checked out.
    page.keyboard.type("je")
    page.keyboard.press("Enter")
    expect(page.locator("#desk-said")).to_have_text(
        "Jeanne Dupont : sortie enregistrée à La Cantine."
    )
    expect(page.locator("#live-sites").get_by_role("link", name="Jeanne Dupont")).to_be_hidden()


def test_a_pack_is_bought_only_once_confirmed_and_the_personal_link_copies(
    browser: Browser, office: tuple[ServerProcess, str]
) -> None:
    """One click no longer buys a pack: the desk is asked first (dismissed, nothing is
    recorded). The member's personal link is copied by its button."""
    server, _kiosk = office
    context = browser.new_context(locale="fr-FR")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base)
    page = context.new_page()
    try:
        page.goto(server.base + "/staff/login")
        page.get_by_label("E-mail").fill("nadine@example.org")
        page.get_by_label("Mot de passe").fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.goto(server.base + "/staff/members/new")
        page.get_by_label("Prénom").fill("Paula")
        page.get_by_label("E-mail").fill("paula@example.org")
        page.get_by_label("Formule").select_option("pack")
        page.get_by_role("button", name="Créer").click()
        buy = page.get_by_role("button", name=re.compile("Carnet acheté aujourd'hui"))

        asked: list[str] = []

        def refuse(dialog: Dialog) -> None:
            asked.append(dialog.message)
            dialog.dismiss()

        page.once("dialog", refuse)
        buy.click()
        expect(page.get_by_text("Carnet enregistré")).to_have_count(0)
        page.once("dialog", lambda dialog: dialog.accept())
        buy.click()
        expect(page.get_by_text("Carnet enregistré : 10 demi-journées.")).to_be_visible()

        assert asked and asked[0].startswith("Enregistrer l'achat d'un carnet de 10 demi-journées")
        page.get_by_role("button", name="Copier le lien").click()
        expect(page.get_by_role("button", name="Lien copié")).to_be_visible()
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == page.locator("#member-link").inner_text().strip()
        assert "/me/" in copied
    finally:
        context.close()
