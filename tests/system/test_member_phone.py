"""A member's pages and the public event pages on a 360 px phone (Debian's chromium,
Playwright) against a real server: nothing wider than the screen, the QR badge full
screen from the keyboard, a registration that lands on its ticket."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from server.domain.meetups import add_event
from server.store.models import Site
from tests.servers import ServerProcess, free_port, post_tap, presence, write_config

pytestmark = pytest.mark.slow

PHONE: ViewportSize = {"width": 360, "height": 740}
LONG = "Cartographie-participative-des-fontaines-publiques-et-des-points-d-eau"


@pytest.fixture
def cantine(tmp_path: Path) -> Iterator[tuple[ServerProcess, str, int]]:
    """A server, a member with a QR badge, a visit and a profile; their page; an event."""
    port = free_port()
    database = tmp_path / "presence.db"
    config = write_config(tmp_path, f"sqlite:///{database}", port=port)
    site = ["La Cantine", "--slug", "cantine", "--hours", "mon-sun 00:00-23:59"]
    presence(config, "sites", "add", *site, "--address", "1 rue du Port, 29200 Brest")
    kiosk = presence(config, "kiosks", "add", "porte", "--site", "cantine").strip()
    member = ["--given-name", "Maximilienne", "--family-name", "de la Fontaine-Grandchamp"]
    profile = ["--working-on", LONG, "--skills", "Python, QGIS, dessin, compta"]
    email = ["--email", "max@example.org", "--visibility", "profile"]
    presence(config, "members", "add", *member, *email, *profile)
    presence(config, "badges", "assign", "max@example.org", "04A224B2C35A80")
    presence(config, "badges", "issue-qr", "max@example.org")
    link = presence(config, "members", "link", "max@example.org").strip()
    engine = create_engine(f"sqlite:///{database}")
    with Session(engine) as session:
        found = session.scalars(select(Site)).one()
        now = datetime.now(UTC)
        event = add_event(
            session, found, "Atelier de réparation de vélos et de petits appareils électriques",
            now + timedelta(days=2), now + timedelta(days=2, hours=2), "community", True,
            "Apportez vos outils.\n" + LONG, 3, "staff", now,
        )  # fmt: skip
        session.commit()
        event_id = event.id
    engine.dispose()
    server = ServerProcess(config, port).start()
    try:
        post_tap(server.base, kiosk, "04A224B2C35A80")
        yield server, "/me/" + link.split("/me/")[1], event_id
    finally:
        server.stop()


def fits(page: Page) -> None:
    """No sideways scrolling: the page is never wider than the phone."""
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{page.url} is {width[0]} px wide on a {width[1]} px screen"


def test_a_members_pages_and_a_ticket_fit_a_phone(
    browser: Browser, cantine: tuple[ServerProcess, str, int]
) -> None:
    server, me, event_id = cantine
    page = browser.new_page(locale="fr-FR", viewport=PHONE)
    page.goto(server.base + me)
    expect(page.get_by_role("heading", name="Bonjour Maximilienne")).to_be_visible()
    fits(page)

    # The QR badge, full screen, from the keyboard: Enter opens, Escape closes.
    opener = page.get_by_role("button", name="Montrer mon badge QR")
    opener.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Maximilienne de la Fontaine-Grandchamp")
    expect(dialog).to_contain_text("luminosité")
    assert page.evaluate("document.activeElement.closest('dialog') !== null")
    expect(dialog.get_by_role("img")).to_have_js_property("complete", True)
    fits(page)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()

    # A choice saved: the page opens at the form, its confirmation focused.
    page.get_by_label("Prénom", exact=False).first.check()
    page.get_by_role("button", name="Enregistrer", exact=True).click()
    expect(page).to_have_url(re.compile(r"#screen$"))
    expect(page.get_by_role("status")).to_be_focused()
    expect(page.get_by_role("status")).to_be_in_viewport()
    fits(page)

    month = page.evaluate("new Date().toISOString().slice(0, 7)")
    page.goto(f"{server.base}{me}/statements/{month}")
    fits(page)
    page.goto(f"{server.base}{me}/together")
    expect(page.get_by_role("heading", name="Entre membres")).to_be_visible()
    page.get_by_text("Recevoir aussi vos alertes").click()  # the folded technical part
    expect(page.locator("#signing-key")).to_be_visible()
    fits(page)

    page.goto(f"{server.base}/events/{event_id}")
    expect(page.get_by_text("Plus que 3 places")).to_be_visible()
    expect(page.get_by_text("1 rue du Port")).to_be_visible()
    fits(page)
    page.get_by_label("Votre nom").fill("Ada Lovelace-Byron de Kerguelen")
    page.get_by_role("button", name="Recevoir mon billet").click()
    expect(page).to_have_url(re.compile(r"/events/tickets/"))
    expect(page.get_by_text("aucun e-mail n'est envoyé")).to_be_visible()
    expect(page.get_by_role("link", name="Télécharger le billet (PDF)")).to_be_visible()
    fits(page)
    page.reload()  # a GET: nobody is registered again
    page.goto(f"{server.base}/events/{event_id}")
    expect(page.get_by_text("Plus que 2 places")).to_be_visible()
