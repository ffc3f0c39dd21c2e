"""Guests at the kiosk: the page's forms, the spool, and the whole path in a browser.

The browser test runs the real server and the real `presence kiosk` process, and drives
the kiosk's own page in Debian's chromium as a guest would with a finger.
"""

from __future__ import annotations

import http.client
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from kiosk.screen import guest_form
from kiosk.spool import GUEST, GUEST_LEAVING, Spool, SpooledTap
from server.domain.billing import first_of, statement
from server.domain.meetups import add_event
from server.settings import BillingSection, load_settings
from server.store.db import make_engine, make_session_factory
from server.store.models import GuestDay, Member, Site, Ticket
from tests.kiosks import Door
from tests.servers import KioskProcess, SimulatedDevice, wait_for

HOSTS = [{"id": 3, "name": "Nadine Martin"}, {"id": 5, "name": "Samir Haddad"}]


def test_the_guest_form_is_checked_before_anything_is_spooled() -> None:
    good, wrong = guest_form({"name": "  Bob ", "email": " bob@example.net", "host": 3}, HOSTS)
    assert (good, wrong) == ({"name": "Bob", "email": "bob@example.net", "host": 3}, None)
    assert guest_form({"name": "Bob", "email": "", "host": None}, HOSTS)[1] is None
    for form, field in (
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "Bob\x1b[2J"}, "name"),
        ({"name": "Bob", "email": "bob@"}, "email"),
        ({"name": "Bob", "host": 4}, "host"),  # not among the listed hosts
        ({"name": "Bob", "host": True}, "host"),
        (["Bob"], "form"),
    ):
        assert guest_form(form, HOSTS)[1] == field, form


def test_guest_taps_keep_their_form_in_the_spool_and_an_old_spool_takes_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "spool.db"
    old = sqlite3.connect(path)  # a spool written before guests existed
    old.execute(
        "CREATE TABLE taps (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, "
        "kind TEXT NOT NULL, badge TEXT NOT NULL, read_at TEXT NOT NULL, "
        "monotonic REAL NOT NULL, boot_id TEXT NOT NULL)"
    )
    old.execute(
        "INSERT INTO taps VALUES (1, 'old', 'nfc', '04A1', '2026-11-30T10:00:00+01:00', "
        "1.0, 'boot')"
    )
    old.commit()
    old.close()
    spool = Spool(path)
    read_at = "2026-11-30T10:01:00+01:00"
    arriving = SpooledTap.new(
        GUEST, "", read_at, 2.0, "boot", {"name": "Bob", "email": None, "host": 3}
    )
    spool.add(arriving)
    spool.add(SpooledTap.new(GUEST_LEAVING, "", read_at, 3.0, "boot", {"leaving": arriving.id}))
    sent = [tap.as_json() for tap in spool.oldest(10)]
    assert sent[0]["badge"] == "04A1" and "guest" not in sent[0]
    assert sent[1]["guest"] == {"name": "Bob", "email": None, "host": 3}
    assert "badge" not in sent[1]
    assert sent[2]["leaving"] == arriving.id
    assert spool.guests_arriving() == [{"arrival": arriving.id, "name": "Bob"}]
    spool.close()


@pytest.fixture
def door(tmp_path: Path) -> Iterator[Door]:
    place = Door(
        tmp_path,
        {"Nadine": "04A224B2C35A80", "Samir": "04A224B2C35A81"},
        debounce_seconds=0,
        hosts=("Nadine",),
        extra_config='[billing]\nguest_days = "host"\n',
    )
    place.server.start()
    try:
        yield place
    finally:
        place.server.stop()


def test_a_guest_checks_in_on_the_kiosk_page_is_counted_billed_to_the_host_and_leaves(
    door: Door, browser: Any
) -> None:
    device = SimulatedDevice()
    config, port = door.kiosk_config(simulated_device=device.address)
    kiosk = KioskProcess(config, port).start()
    try:
        wait_for(
            lambda: requests.get(f"{kiosk.page}/hosts", timeout=5).json()["hosts"],
            what="the hosts from the server's directory",
        )
        # The page's refusals are in the one JSON shape, with a code the page acts on.
        for path, body, status, reason in (
            ("/guest", b"{", 400, "malformed_json"),
            ("/guest", b'{"name": "  "}', 400, "name"),
            ("/guest/leaving", b'{"arrival": "nobody"}', 404, "arrival"),
            ("/nowhere", b"{}", 404, "not_found"),
        ):
            answer = requests.post(kiosk.page + path, data=body, timeout=5)
            assert answer.status_code == status, path
            refusal = answer.json()
            assert (refusal["status"], refusal["reason"]) == ("error", reason), path
            assert set(refusal) == {"status", "reason", "message"} and refusal["message"]
        raw = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        raw.putrequest("POST", "/guest")
        raw.putheader("Content-Length", "many")  # no traceback in the kiosk's page server
        raw.endheaders()
        refused = raw.getresponse()
        assert (refused.status, json.loads(refused.read())["reason"]) == (400, "bad_length")
        raw.close()
        page = browser.new_page(locale="fr-FR")
        page.goto(kiosk.page + "/")
        page.get_by_role("button", name="Je suis invité·e").click()
        page.get_by_role("button", name="J'arrive").click()
        page.get_by_label("Votre prénom").fill("Bob")
        page.get_by_label("Qui vous invite ? Tapez son nom").fill("nad")
        hosts = page.locator("#guest-hosts button")
        assert hosts.all_inner_texts() == ["Nadine", "Personne en particulier"]  # Samir: not listed
        hosts.first.click()
        page.get_by_role("button", name="Entrer").click()

        headline = page.locator("#headline")
        headline.filter(has_text="Bonjour Bob").wait_for(timeout=10_000)
        page.locator("#count").filter(has_text="1 personne ici").wait_for(timeout=20_000)

        settings = load_settings(door.config)
        engine = make_engine(settings.database_url)
        try:
            with make_session_factory(engine)() as session:
                guest = session.scalar(select(Member).where(Member.is_guest))
                nadine = session.scalar(select(Member).where(Member.given_name == "Nadine"))
                assert guest is not None and nadine is not None
                assert guest.given_name == "Bob"
                [day] = session.scalars(select(GuestDay)).all()
                assert day.host_id == nadine.id
                # If Bob stays 20 minutes, Nadine's provisional statement has his half day.
                later = datetime.now(UTC) + timedelta(minutes=20)
                month = first_of(day.day)
                billed = statement(session, nadine, month, later, settings.billing)
                assert [(g.guest, g.kind, g.price_cents) for g in billed.guests] == [
                    ("Bob", "half", settings.billing.payg_half_day)
                ]
                free = statement(session, nadine, month, later, BillingSection())
                assert free.guests == [] and free.total_cents == 0
        finally:
            engine.dispose()

        page.get_by_role("button", name="Je suis invité·e").click()
        page.get_by_role("button", name="Je pars").click()
        page.locator("#guest-here button", has_text="Bob").click()
        headline.filter(has_text="Au revoir Bob").wait_for(timeout=10_000)
        page.locator("#count").filter(has_text="0 personne ici").wait_for(timeout=20_000)

        # An event tonight: someone without a ticket says so on the kiosk's screen.
        engine = make_engine(settings.database_url)
        try:
            with make_session_factory(engine)() as session, session.begin():
                site = session.scalars(select(Site)).one()
                now = datetime.now(UTC)
                tonight = add_event(
                    session,
                    site,
                    "Soirée <Python>",
                    now,
                    now + timedelta(hours=2),
                    "community",
                    True,
                    "",
                    None,
                    "test",
                    now,
                )
                event_id = tonight.id
        finally:
            engine.dispose()
        page.get_by_role("button", name="Je suis invité·e").click()
        walk_in = page.get_by_role("button", name="Je viens pour « Soirée <Python> »")
        for _attempt in range(20):  # the kiosk hears of it at its next heartbeat (5 s here)
            if walk_in.count():
                break
            page.get_by_role("button", name="Annuler").first.click()
            page.wait_for_timeout(1000)
            page.get_by_role("button", name="Je suis invité·e").click()
        walk_in.click()
        assert page.get_by_label("Qui vous invite ? Tapez son nom").is_hidden()
        page.get_by_label("Votre prénom").fill("Zoé")
        page.get_by_role("button", name="Entrer").click()
        headline.filter(has_text="Bonjour Zoé").wait_for(timeout=10_000)
        engine = make_engine(settings.database_url)
        sessions = make_session_factory(engine)

        def zoe_checked_in() -> datetime | None:
            # A session per look: one kept open would keep reading the SQLite snapshot
            # of its first look and never see the server's later commit.
            with sessions() as session:
                return session.scalar(
                    select(Ticket.checked_in_at).where(
                        Ticket.event_id == event_id, Ticket.name == "Zoé"
                    )
                )

        try:
            wait_for(zoe_checked_in, what="the walk-in's ticket, checked in")
        finally:
            engine.dispose()
        page.close()
    finally:
        kiosk.stop()
        device.unplug()
