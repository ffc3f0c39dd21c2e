"""The staff dashboard follows changes live, on real server processes: the `/staff` socket
lets in only a logged-in staff session and says what changed when a tap, an unknown
badge or a heartbeat is stored; in a browser, the dashboard shows them without a reload
and leaves alone the enrolment form someone is using."""

from __future__ import annotations

import queue
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, expect

from server.domain.staff import add_staff
from server.settings import badge_lookup_key, load_settings
from server.store import migrate
from server.store.db import make_engine, make_session_factory
from server.store.models import StaffRole
from tests.conftest import REDIS_ENV, require_env
from tests.factories import make_badge, make_kiosk, make_member, make_site
from tests.servers import ServerProcess, free_port, post_tap, write_config

pytestmark = pytest.mark.slow

PASSWORD = "correct horse battery staple"
BRUNO = "04A224B2C35A80"  # Bruno Kerbrat's NFC badge
STRANGER = "04AABBCCDDEE07"  # a badge nobody has
OTHER_STRANGER = "04112233445566"
WAIT_MS = 10_000


def arrange(database: str, config: Path) -> str:
    """A site open all day, a staff account, Bruno (hidden from the board) with a badge;
    the kiosk's token. Written in this process, not through five `presence` commands: the
    commands have tests of their own, and each would cost a second of start-up."""
    engine = make_engine(database)
    migrate.upgrade(engine)
    every_day = {
        day: [["00:00", "23:59"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    }
    # badges hashed with the key the server will use (generated into its data folder)
    key = badge_lookup_key(load_settings(config))
    with make_session_factory(engine, key)() as session:
        site = make_site(session, slug="cantine", name="La Cantine", opening_hours=every_day)
        _kiosk, token = make_kiosk(session, site, name="porte")
        add_staff(
            session, "nadine@example.org", "Nadine", StaffRole.STAFF, PASSWORD, datetime.now(UTC)
        )
        bruno = make_member(
            session, given_name="Bruno", family_name="Kerbrat", email="bruno@example.org"
        )
        make_badge(session, bruno, value=BRUNO)
        session.commit()
    engine.dispose()
    return token


@pytest.fixture
def office(tmp_path: Path) -> Iterator[tuple[ServerProcess, str]]:
    port = free_port()
    database = f"sqlite:///{tmp_path / 'presence.db'}"
    config = write_config(tmp_path, database, port=port)
    kiosk = arrange(database, config)
    server = ServerProcess(config, port).start()
    try:
        yield server, kiosk
    finally:
        server.stop()


def logged_in(base: str) -> requests.Session:
    """A session logged in through the real login form."""
    http = requests.Session()
    form = http.get(f"{base}/staff/login", timeout=10).text
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form)
    assert match, form
    answer = http.post(
        f"{base}/staff/login",
        data={"csrf_token": match[1], "email": "nadine@example.org", "password": PASSWORD},
        timeout=10,
    )
    assert answer.url == f"{base}/staff/", answer.url
    return http


class Dashboard:
    """A dashboard as a program: a Socket.IO client on `/staff`, websocket transport."""

    def __init__(self, base: str, http: requests.Session | None = None) -> None:
        self.changes: queue.Queue[dict[str, Any]] = queue.Queue()
        self.client = socketio.Client(reconnection=False, http_session=http)
        self.client.on("changed", self.changes.put, namespace="/staff")
        # Same browser, same User-Agent: the login's session protection checks it.
        agent = (http or requests.Session()).headers["User-Agent"]
        self.client.connect(
            base,
            namespaces=["/staff"],
            transports=["websocket"],
            headers={"User-Agent": str(agent)},
            wait_timeout=10,
        )

    def next_change(self, timeout: float = 10) -> set[str]:
        return set(self.changes.get(timeout=timeout)["what"])

    def close(self) -> None:
        self.client.disconnect()


def heartbeat(base: str, kiosk_token: str, pending_taps: int) -> None:
    response = requests.post(
        f"{base}/api/v1/heartbeat",
        json={"version": "1.0", "pending_taps": pending_taps},
        headers={"Authorization": f"Bearer {kiosk_token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_the_staff_socket_refuses_a_client_without_a_staff_session(
    office: tuple[ServerProcess, str],
) -> None:
    server, _kiosk = office
    with pytest.raises(socketio.exceptions.ConnectionError):
        Dashboard(server.base)
    # A session that has logged out: refused as well.
    http = logged_in(server.base)
    form = http.get(f"{server.base}/staff/", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token
    http.post(f"{server.base}/staff/logout", data={"csrf_token": token[1]}, timeout=10)
    with pytest.raises(socketio.exceptions.ConnectionError):
        Dashboard(server.base, http)


def test_a_staff_session_hears_of_taps_unknown_badges_and_heartbeats(
    office: tuple[ServerProcess, str],
) -> None:
    server, kiosk = office
    http = logged_in(server.base)
    dashboard = Dashboard(server.base, http)
    try:
        assert post_tap(server.base, kiosk, BRUNO)["outcome"] == "checked_in"
        assert "visits" in dashboard.next_change()
        fragment = http.get(f"{server.base}/staff/live", timeout=10).text
        assert "Bruno Kerbrat" in fragment

        assert post_tap(server.base, kiosk, STRANGER)["outcome"] == "unknown_badge"
        assert "unknown" in dashboard.next_change()
        assert STRANGER in http.get(f"{server.base}/staff/live", timeout=10).text

        heartbeat(server.base, kiosk, pending_taps=7)
        assert dashboard.next_change() == {"kiosks"}
        assert "<td>7</td>" in http.get(f"{server.base}/staff/live", timeout=10).text
    finally:
        dashboard.close()
    # The fragment is staff-only, like the page around it.
    anonymous = requests.get(f"{server.base}/staff/live", timeout=10, allow_redirects=False)
    assert anonymous.status_code == 302 and "Bruno" not in anonymous.text


def test_a_tap_stored_by_one_process_reaches_a_dashboard_on_another(tmp_path: Path) -> None:
    redis_url = require_env(REDIS_ENV, "Redis")
    database = f"sqlite:///{tmp_path / 'presence.db'}"
    servers = []
    for _ in range(2):
        port = free_port()
        config = write_config(tmp_path, database, port=port, redis_url=redis_url)
        servers.append(ServerProcess(config, port))
    first, second = servers
    kiosk = arrange(database, config)
    try:
        for server in servers:
            server.start()
        dashboard = Dashboard(first.base, logged_in(first.base))
        try:
            assert post_tap(second.base, kiosk, BRUNO)["outcome"] == "checked_in"
            assert "visits" in dashboard.next_change()
        finally:
            dashboard.close()
    finally:
        for server in servers:
            server.stop()


def test_the_dashboard_shows_taps_without_a_reload_and_keeps_a_form_in_use(
    browser: Browser, office: tuple[ServerProcess, str]
) -> None:
    server, kiosk = office
    page = browser.new_page(locale="fr-FR")  # a French front desk: the pages follow

    def fragment_fetched() -> Any:
        return page.expect_response(lambda answer: answer.url.endswith("/staff/live"))

    page.goto(server.base + "/staff/login")
    page.get_by_label("E-mail").fill("nadine@example.org")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    with fragment_fetched():  # on connecting; the next fetch can only come from a change
        page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("#live-status")).to_have_text("Mis à jour en direct", timeout=WAIT_MS)
    page.evaluate("window.notReloaded = true")
    expect(page.get_by_role("cell", name="Bruno Kerbrat")).to_have_count(0)

    assert post_tap(server.base, kiosk, BRUNO)["outcome"] == "checked_in"
    expect(page.get_by_role("cell", name="Bruno Kerbrat")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("1 arrivée aujourd'hui")).to_be_visible()

    assert post_tap(server.base, kiosk, STRANGER)["outcome"] == "unknown_badge"
    unknown = page.locator("#live-unknown")
    expect(unknown.get_by_role("cell", name=STRANGER)).to_be_visible(timeout=WAIT_MS)
    assert page.evaluate("window.notReloaded") is True
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()

    # Someone types a member's name for the badge; another stranger taps meanwhile.
    choice = page.get_by_label(f"Membre pour le badge {STRANGER}")
    choice.focus()
    choice.fill("Bruno Kerbrat")
    with fragment_fetched():
        assert post_tap(server.base, kiosk, OTHER_STRANGER)["outcome"] == "unknown_badge"
    expect(choice).to_be_focused()
    expect(choice).to_have_value("Bruno Kerbrat")
    expect(unknown.get_by_role("cell", name=OTHER_STRANGER)).to_have_count(0)

    # They step away from the form with a member named: still theirs.
    with fragment_fetched():
        page.get_by_role("heading", name="Tableau de bord").click()
    expect(choice).to_have_value("Bruno Kerbrat")
    expect(unknown.get_by_role("cell", name=OTHER_STRANGER)).to_have_count(0)

    # They change their mind and leave the form: the list catches up.
    choice.focus()
    choice.fill("")
    page.get_by_role("heading", name="Tableau de bord").click()
    expect(unknown.get_by_role("cell", name=OTHER_STRANGER)).to_be_visible(timeout=WAIT_MS)
    assert page.evaluate("window.notReloaded") is True
