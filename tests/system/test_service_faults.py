"""Faults of the services behind the server, with nothing lost: PostgreSQL restarted
under load, and Redis stopped and started again between two server processes.

Each test runs its own PostgreSQL or Redis (tests/services.py), never the shared ones,
and ends where a person would look: every tap in the server's log exactly once, the
server healthy, and the wall board showing who is really there.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
import socketio
from playwright.sync_api import Page, sync_playwright
from sqlalchemy import text

from server.domain.board import board_state
from server.domain.sites import find_site
from server.runtime import Runtime
from server.settings import load_settings
from server.store.db import make_engine, make_session_factory
from tests.conftest import CHROMIUM_ENV, CHROMIUM_FLAGS
from tests.kiosks import Door
from tests.servers import (
    REDIS_CHANNEL,
    KioskProcess,
    ServerProcess,
    SimulatedDevice,
    free_port,
    post_tap,
    write_config,
)
from tests.services import PrivatePostgres, PrivateRedis, postgres_bindir, require_binary

pytestmark = pytest.mark.slow


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres(postgres_bindir())
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(require_binary("redis-server"), tmp_path)
    try:
        server.start()
        yield server
    finally:
        server.close()


# -- PostgreSQL restarted under load ------------------------------------------------------

TAPS_PER_SECOND = 15
LOAD_SECONDS = 12.0
MEMBERS = 100  # each badge comes back every 6.7 s: past the kiosk's 2 s repeat window


def test_no_tap_is_lost_while_postgresql_restarts(
    tmp_path: Path, postgres: PrivatePostgres
) -> None:
    """Members tap a real kiosk continuously for 12 s while PostgreSQL is restarted
    (`pg_ctl restart -m fast`, which cuts every session), then stopped for three seconds
    and started again. Each badge the kiosk acknowledges (`ok <tap id>`: spooled) must
    reach the log exactly once, the server must answer 503 (never 500) while the
    database is away, and be healthy afterwards without being restarted itself."""
    postgres.create_database("presence")
    badges = {f"M{i:02d}": f"04{0xB00000 + i:012X}" for i in range(MEMBERS)}
    door = Door(tmp_path, badges, debounce_seconds=0, database=postgres.url("presence"))
    device = SimulatedDevice()
    config, page = door.kiosk_config(simulated_device=device.address, upload_batch=10)
    kiosk = KioskProcess(config, page)

    failures: list[BaseException] = []
    give_up = threading.Event()  # the test failed: leave PostgreSQL to the finalizer

    def outages() -> None:
        try:
            for pause, fault in ((3, postgres.restart), (4, postgres.stop), (3, postgres.start)):
                if give_up.wait(pause):
                    return
                fault()
        except BaseException as error:  # reported by the test, not lost in the thread
            failures.append(error)

    faults = threading.Thread(target=outages, daemon=True)

    acknowledged: list[str] = []  # tap ids, in reading order
    repeats = 0
    order = list(badges.values())
    try:
        door.server.start()
        kiosk.start()
        faults.start()
        started = time.monotonic()
        for n in range(int(TAPS_PER_SECOND * LOAD_SECONDS)):
            time.sleep(max(0.0, started + n / TAPS_PER_SECOND - time.monotonic()))
            reply = device.present(order[n % MEMBERS])
            if reply == "repeat":  # the loop fell behind and caught up: not a new tap
                repeats += 1
                continue
            assert reply.startswith("ok "), reply  # the kiosk itself never fails here
            acknowledged.append(reply.split()[1])
        faults.join(timeout=60)
        assert not faults.is_alive() and not failures, failures

        wait_until_sent(kiosk, timeout=90)
        health = requests.get(f"{door.server.base}/healthz", timeout=10)
        assert (health.status_code, health.json()) == (200, {"status": "ok", "database": "ok"})
    finally:
        give_up.set()
        if faults.is_alive():
            faults.join(timeout=60)
        kiosk.stop()
        door.server.stop()
        device.unplug()

    log = logged_taps(door.database)
    print(f"{len(acknowledged)} taps acknowledged, {repeats} repeats; {len(log)} in the log")
    assert repeats < len(acknowledged) / 10, f"{repeats} repeats: the machine is too busy"
    missing = [tap for tap in acknowledged if tap not in log]
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged taps not stored"
    assert all(log[tap] == 1 for tap in acknowledged)
    assert set(log) == set(acknowledged)  # and nothing else
    # The outage was felt (the kiosk was told to retry), and answered as one.
    assert "server answered 503" in kiosk.log()
    assert "server answered 500" not in kiosk.log()
    assert_no_traceback(door.server)


# -- Redis stopped and started again -------------------------------------------------------


def test_boards_resynchronise_after_redis_restarts(
    tmp_path: Path, private_redis: PrivateRedis
) -> None:
    """Two server processes share a database and a Redis; a board is connected to each,
    and a kiosk posts to process A. Redis stops for a few seconds: taps are still stored
    and answered at once, A's own board still follows them, B's cannot hear of them
    (pub/sub keeps nothing for later). Redis starts again on the same port: both
    processes listen again by themselves, and the next tap, numbered past the ones B's
    board missed, makes it ask for the whole state (`sync`); both boards then show
    exactly who is in the database."""
    names = [f"Membre{i}" for i in range(5)]
    badges = {name: f"04{0xC00000 + i:012X}" for i, name in enumerate(names)}
    door = Door(
        tmp_path, badges, debounce_seconds=0, redis_url=private_redis.url, visibility="first_name"
    )
    first = door.server
    port = free_port()
    second = ServerProcess(
        write_config(tmp_path, door.database, port=port, redis_url=private_redis.url), port
    )
    taps: list[str] = []  # the id of every tap posted

    def tap(name: str) -> str:
        result = post_tap(first.base, door.token, badges[name])  # answered, or fails in 10 s
        taps.append(result["id"])
        outcome: str = result["outcome"]
        return outcome

    with ExitStack() as cleanup:
        for server in (first, second):
            cleanup.callback(server.stop)
            server.start()
        boards: list[ResyncingBoard] = []
        for server in (first, second):
            boards.append(ResyncingBoard(server.base, "cantine", door.display_token))
            cleanup.callback(boards[-1].close)
            boards[-1].wait_for(lambda state: state["head_count"] == 0, "the first state")
        on_first, on_second = boards
        query = urlencode({"token": door.display_token})
        page = cleanup.enter_context(real_board_page(f"{second.base}/board/cantine?{query}"))
        # python-socketio starts a process's listener with its first Socket.IO connection.
        wait_for(lambda: private_redis.subscribers(REDIS_CHANNEL) == 2, "both processes listen")

        # Redis up: A's taps reach both boards as numbered changes, no sync needed.
        assert [tap("Membre0"), tap("Membre1")] == ["checked_in", "checked_in"]
        for board in boards:
            board.wait_for(lambda state: shown_names(state) == {"Membre0", "Membre1"}, "2 taps")
            assert board.syncs == 0
        if page is not None:
            page.wait_for_function("document.querySelectorAll('#people .name').length === 2")

        # Redis down: still stored and answered at once; only A's own board hears of it.
        private_redis.stop()
        assert [tap("Membre2"), tap("Membre3"), tap("Membre0")] == [
            "checked_in",
            "checked_in",
            "checked_out",
        ]
        during = {"Membre1", "Membre2", "Membre3"}
        on_first.wait_for(lambda state: shown_names(state) == during, "the taps without Redis")
        time.sleep(3)  # a Redis restart is not instant; its clients back off meanwhile
        assert shown_names(on_second.state) == {"Membre0", "Membre1"}

        # Redis back on the same port: python-socketio's listeners subscribe again.
        private_redis.start()
        wait_for(
            lambda: private_redis.subscribers(REDIS_CHANNEL) == 2, "both listen again", timeout=60
        )
        assert tap("Membre4") == "checked_in"
        expected = database_board(door)
        assert shown_names(expected) == {"Membre1", "Membre2", "Membre3", "Membre4"}
        for board in boards:
            board.wait_for(lambda state: same_board(state, expected), "the database's state")
        assert on_second.syncs >= 1  # it got there by noticing the gap
        assert on_first.syncs == 0  # it missed nothing
        if page is not None:  # the real page on B, through board.js's own gap detection
            page.wait_for_function(
                "seq => document.body.dataset.seq === String(seq)", arg=expected["seq"]
            )
            shown = page.locator("#people .person:not(.leaving) .name").all_inner_texts()
            assert sorted(shown) == sorted(shown_names(expected))
        assert_no_traceback(first)
        assert_no_traceback(second)

    log = logged_taps(door.database)
    assert sorted(log) == sorted(taps) and set(log.values()) == {1}


class ResyncingBoard:
    """A board as a program, following the board page's protocol (server/web/static/board.js):
    the state sent on each connection replaces its own; change n + 1 is applied on state
    n; changes that arrive ahead of a missing one wait, and if the gap is still there
    GAP_WAIT later it asks for the whole state again (`sync`, answered in the
    acknowledgement)."""

    GAP_WAIT = 0.4  # seconds, as GAP_WAIT_MS in board.js

    def __init__(self, base: str, site: str, token: str) -> None:
        self.lock = threading.Condition()
        self.state: dict[str, Any] = {}
        self.pending: list[dict[str, Any]] = []
        self.syncs = 0
        self.syncing = False
        self.gap_timer: threading.Timer | None = None
        self.client = socketio.Client(reconnection=True, reconnection_delay_max=5)
        self.client.on("state", self._on_state, namespace="/board")
        self.client.on("change", self._on_change, namespace="/board")
        self.client.connect(
            base,
            namespaces=["/board"],
            auth={"site": site, "token": token},
            transports=["websocket"],
            wait_timeout=10,
        )

    def wait_for(
        self, condition: Callable[[dict[str, Any]], bool], what: str, timeout: float = 20
    ) -> None:
        with self.lock:
            shown = self.lock.wait_for(lambda: bool(self.state) and condition(self.state), timeout)
            assert shown, f"the board never showed {what}; it shows {self.state}"

    def close(self) -> None:
        with self.lock:
            if self.gap_timer is not None:
                self.gap_timer.cancel()
        self.client.disconnect()

    def _on_state(self, fresh: dict[str, Any]) -> None:
        with self.lock:
            self._set_state(fresh)

    def _on_change(self, change: dict[str, Any]) -> None:
        with self.lock:
            self.pending.append(change)
            if self.state and not self.syncing:
                self._drain()

    def _set_state(self, fresh: dict[str, Any]) -> None:
        self.pending = [change for change in self.pending if change["seq"] > fresh["seq"]]
        self.state = fresh
        self._drain()

    def _apply(self, change: dict[str, Any]) -> None:
        self.state["seq"] = change["seq"]
        self.state["head_count"] = change["head_count"]
        put = change.get("put")
        key = put["key"] if put else change.get("drop")
        if key:
            self.state["people"] = [card for card in self.state["people"] if card["key"] != key]
        if put:
            self.state["people"].append(put)

    def _drain(self) -> None:
        self.pending.sort(key=lambda change: int(change["seq"]))
        while self.pending and self.pending[0]["seq"] <= self.state["seq"] + 1:
            change = self.pending.pop(0)
            if change["seq"] == self.state["seq"] + 1:
                self._apply(change)
        if self.pending and self.gap_timer is None:
            self._resync_in(self.GAP_WAIT)
        if not self.pending and self.gap_timer is not None:
            self.gap_timer.cancel()
            self.gap_timer = None
        self.lock.notify_all()

    def _resync_in(self, seconds: float) -> None:
        self.gap_timer = threading.Timer(seconds, self._resync)
        self.gap_timer.daemon = True
        self.gap_timer.start()

    def _resync(self) -> None:
        with self.lock:
            self.gap_timer = None
            if self.syncing or not self.client.connected:
                return
            self.syncing = True
        try:
            fresh = self.client.call("sync", None, namespace="/board", timeout=10)
        except socketio.exceptions.TimeoutError:
            fresh = None
        with self.lock:
            self.syncing = False
            if not fresh:
                self._resync_in(2)  # as the page does: try again in a while
                return
            self.syncs += 1
            self._set_state(fresh)


# -- what a person would check -------------------------------------------------------------


def logged_taps(database_url: str) -> Counter[str]:
    """How many times each tap id is in the server's tap log."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT tap_id FROM taps")).scalars().all()
    finally:
        engine.dispose()
    # PostgreSQL gives UUIDs, SQLite 32 hex digits: the same text either way.
    return Counter(str(uuid.UUID(str(tap))) for tap in rows)


def database_board(door: Door) -> dict[str, Any]:
    """What a board of the door's site should show, read from the database."""
    settings = load_settings(door.config)
    engine = make_engine(settings.database_url)
    try:
        runtime = Runtime(settings, engine, make_session_factory(engine))
        with runtime.session() as session:
            site = find_site(session, "cantine")
            assert site is not None
            return board_state(session, site, runtime.now(), runtime.board.secret)
    finally:
        engine.dispose()


def shown_names(state: dict[str, Any]) -> set[str]:
    return {card["name"] for card in state["people"]}


def same_board(shown: dict[str, Any], expected: dict[str, Any]) -> bool:
    """Same number, head-count and cards (the times the state was made aside)."""

    def cards(state: dict[str, Any]) -> list[tuple[str, str, str]]:
        return sorted((card["key"], card["name"], card["since"]) for card in state["people"])

    return (shown["seq"], shown["head_count"], cards(shown)) == (
        expected["seq"],
        expected["head_count"],
        cards(expected),
    )


@contextmanager
def real_board_page(url: str) -> Iterator[Page | None]:
    """The real board page at `url` in Debian's chromium when PRESENCE_TEST_CHROMIUM is
    set; None otherwise (the board programs of the test follow the same protocol)."""
    executable = os.environ.get(CHROMIUM_ENV)
    if not executable:
        yield None
        return
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(20_000)
            page.goto(url)
            yield page
        finally:
            browser.close()


def wait_until_sent(kiosk: KioskProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while kiosk.state()["status"]["pending"]:
        assert time.monotonic() < deadline, "the kiosk's spool did not empty"
        time.sleep(0.5)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.1)


def assert_no_traceback(server: ServerProcess) -> None:
    """No request failed unexpectedly (a 500 is logged with its traceback)."""
    log = server.log()
    assert "Traceback" not in log and "unexpected error" not in log, log[-4000:]
