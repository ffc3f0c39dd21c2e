"""The kiosk's screen state: each greeting and error shown once, changed under one lock."""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from kiosk.screen import ANSWERS_KEPT, STRINGS, Screen, ScreenServer


class Monotonic:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monotonic() -> Monotonic:
    return Monotonic()


@pytest.fixture
def screen(monotonic: Monotonic) -> Screen:
    return Screen(monotonic=monotonic)


def shown(screen: Screen) -> tuple[str | None, dict[str, Any], float | None]:
    """What the page is told: the show's id, the show, its age."""
    _version, state = screen.snapshot()
    return state["show_id"], state["show"], state["show_age"]


def test_nothing_shown_has_no_id_and_no_age(screen: Screen) -> None:
    assert shown(screen) == (None, {"kind": "idle"}, None)
    assert "at" not in screen.snapshot()[1]  # no wall time for a browser to compare with


def test_an_answer_for_an_earlier_tap_leaves_the_next_greeting_alone(screen: Screen) -> None:
    screen.greet("tap-a", "Alice")
    screen.greet("tap-b", "Bruno")
    before = shown(screen)
    screen.answer({"id": "tap-a", "outcome": "unknown_badge"}, 7)
    assert shown(screen) == before
    assert screen.state["show"]["tap"] == "tap-b" and screen.state["show"]["name"] == "Bruno"
    assert screen.state["head_count"] == 7  # the count is the server's latest all the same


def test_the_answer_for_the_tap_shown_corrects_it_keeping_its_id_and_age(
    screen: Screen, monotonic: Monotonic
) -> None:
    screen.greet("tap-a", None)
    show_id = screen.state["show_id"]
    monotonic.now += 2.5
    screen.answer({"id": "tap-a", "outcome": "checked_in", "name": "Alice"}, 1)
    assert shown(screen) == (
        show_id,
        {
            "kind": "greeting",
            "tap": "tap-a",
            "name": "Alice",
            "message": "checked_in",
            "outcome": "checked_in",
        },
        2.5,  # the same showing: the page does not start its time again
    )


def test_a_correction_turns_a_greeting_into_a_refusal_and_keeps_a_guest_s_direction(
    screen: Screen,
) -> None:
    screen.greet("tap-a", "Alice")
    screen.answer({"id": "tap-a", "outcome": "revoked"}, None)
    assert screen.state["show"]["kind"] == "error"
    assert screen.state["show"]["message"] == "revoked"
    assert screen.state["show"]["name"] == "Alice"
    screen.greet("tap-g", "Bob", leaving=True)
    screen.answer({"id": "tap-g", "outcome": "duplicate", "name": "Bob"}, None)
    assert screen.state["show"]["direction"] == "out"  # still "Au revoir Bob"


def test_status_and_head_count_changes_keep_the_greeting_s_identity(
    screen: Screen, monotonic: Monotonic
) -> None:
    screen.greet("tap-j", "Justine", leaving=True)
    show_id, show, _age = shown(screen)
    version = screen.version
    for change in (
        lambda: screen.status(online=False, pending=1),
        lambda: screen.count(3),
        lambda: screen.status(online=True, pending=0, token_refused=False),
        lambda: screen.status(reader=False, reader_fault="gone"),
        lambda: screen.status(reader=True),
        lambda: screen.status(spool="full"),
        lambda: screen.answer({"id": "another-tap", "outcome": "checked_in"}, 4),
    ):
        monotonic.now += 1
        change()
        assert screen.version > version  # the pages hear of it...
        version = screen.version
        assert shown(screen)[:2] == (show_id, show)  # ...and it is the same greeting
    assert shown(screen)[2] == 7.0  # whose age runs on, never started again


def test_a_change_that_changes_nothing_wakes_no_page(screen: Screen) -> None:
    screen.status(online=True, pending=2)
    screen.count(5)
    version = screen.version
    screen.status(online=True)
    screen.status(pending=2)
    screen.count(5)
    screen.count(None)  # a heartbeat without a count keeps the last one
    assert screen.version == version
    assert screen.state["head_count"] == 5


def test_each_greeting_and_each_error_is_a_showing_of_its_own(
    screen: Screen, monotonic: Monotonic
) -> None:
    ids = set()
    for show in (
        lambda: screen.failed("spool_failed"),
        lambda: screen.failed("spool_failed"),  # the same words, for another tap
        lambda: screen.greet("tap-a", "Alice"),
        lambda: screen.greet("tap-b", "Alice"),
    ):
        monotonic.now += 3
        show()
        show_id, _show, age = shown(screen)
        assert age == 0.0
        ids.add(show_id)
    assert len(ids) == 4
    screen.failed("forged")
    assert screen.state["show"] == {"kind": "error", "message": "forged"}  # no tap: as before


def test_an_answer_that_came_before_its_greeting_is_what_the_greeting_says(
    screen: Screen,
) -> None:
    """The uploader may send a tap between the spool taking it and the greeting."""
    screen.answer({"id": "tap-x", "outcome": "unknown_badge"}, 2)
    screen.greet("tap-x", None)
    assert screen.state["show"]["kind"] == "error"
    assert screen.state["show"]["message"] == "unknown_badge"
    screen.answer({"id": "tap-y", "outcome": "checked_in", "name": "Chloé"}, 3)
    screen.failed("unknown_offline", tap_id="tap-y")
    assert screen.state["show"]["kind"] == "greeting"
    assert screen.state["show"]["name"] == "Chloé"


def test_answers_kept_for_greetings_to_come_are_few(screen: Screen) -> None:
    for n in range(ANSWERS_KEPT + 10):
        screen.answer({"id": f"tap-{n}", "outcome": "unknown_badge"}, None)
    screen.greet("tap-0", "Alice")  # answered long ago: forgotten
    assert screen.state["show"]["kind"] == "greeting"
    screen.greet(f"tap-{ANSWERS_KEPT + 9}", "Bruno")
    assert screen.state["show"]["kind"] == "error"


def test_a_reader_back_is_no_longer_at_fault(screen: Screen) -> None:
    screen.status(reader=False, reader_fault="stuck")
    assert screen.state["status"]["reader"] is False
    assert screen.state["status"]["reader_fault"] == "stuck"
    screen.status(reader=True)
    assert screen.state["status"]["reader"] is True
    assert screen.state["status"]["reader_fault"] is None


def test_the_screen_stays_consistent_under_threads_hammering_it() -> None:
    """One thread greets tap after tap, as the daemon does; others answer for the taps
    and change the status, as the uploader does. A greeting is only ever replaced by
    the next one, and an answer only ever corrects its own tap."""
    screen = Screen()
    taps = [f"tap-{n}" for n in range(100_000)]
    greeted = {"last": -1}
    stop = threading.Event()
    problems: list[str] = []

    def greeter() -> None:
        deadline = time.monotonic() + 1.5
        for n, tap in enumerate(taps):
            if time.monotonic() > deadline:
                break
            screen.greet(tap, f"name of {tap}")
            greeted["last"] = n
            show_id = screen.state["show_id"]
            for _look in range(3):
                show = screen.state["show"]
                if show["tap"] != tap or screen.state["show_id"] != show_id:
                    problems.append(f"greeted {tap}, then shown {show['tap']}")
        stop.set()

    def answerer(seed: int) -> None:
        chance = random.Random(seed)
        while not stop.is_set():
            last = greeted["last"]
            if last < 0:
                continue
            tap = taps[max(0, last - chance.randrange(3))]  # this tap, or one just before
            outcome = chance.choice(["checked_in", "checked_out", "duplicate", "revoked"])
            screen.answer({"id": tap, "outcome": outcome, "name": f"name of {tap}"}, last)

    def stirrer(seed: int) -> None:
        chance = random.Random(seed)
        while not stop.is_set():
            screen.status(online=chance.random() < 0.5, pending=chance.randrange(5))
            screen.status(reader=chance.random() < 0.5, reader_fault="gone")
            screen.count(chance.randrange(50))

    def watcher() -> None:
        version, owners = -1, dict[str, str]()
        while not stop.is_set():
            seen, state = screen.snapshot()
            show = state["show"]
            if seen < version:
                problems.append(f"version went back from {version} to {seen}")
            version = seen
            if show["kind"] == "idle":
                continue
            if show["name"] != f"name of {show['tap']}":
                problems.append(f"{show['tap']} shown with {show['name']}")
            if owners.setdefault(state["show_id"], show["tap"]) != show["tap"]:
                problems.append(f"one id for {owners[state['show_id']]} and {show['tap']}")
            if set(state["status"]) != {
                "online",
                "pending",
                "token_refused",
                "reader",
                "reader_fault",
                "spool",
            }:
                problems.append(f"status {state['status']}")

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns as often as they can
    try:
        threads = [threading.Thread(target=greeter), threading.Thread(target=watcher)]
        threads += [threading.Thread(target=answerer, args=(seed,)) for seed in range(3)]
        threads += [threading.Thread(target=stirrer, args=(seed,)) for seed in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        sys.setswitchinterval(interval)
        stop.set()
    assert not any(thread.is_alive() for thread in threads)
    assert problems == []
    assert screen.state["show"]["tap"] == taps[greeted["last"]]


# -- what the page server says ------------------------------------------------------------


@pytest.fixture
def served(screen: Screen) -> Iterator[str]:
    server = ScreenServer(screen, "127.0.0.1", 0, "fr")
    server.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.stop()


def test_the_page_is_told_the_age_of_what_is_shown_and_for_how_long_to_show_it(
    screen: Screen, monotonic: Monotonic, served: str
) -> None:
    screen.greet("tap-a", "Alice")
    monotonic.now += 1.25
    initial = requests.get(f"{served}/state", timeout=5).json()
    assert initial["show_seconds"] == screen.show_seconds == 5.0
    assert initial["state"]["show_id"] == screen.state["show_id"]
    assert initial["state"]["show_age"] == 1.25
    assert initial["strings"] == STRINGS["fr"]
    with requests.get(f"{served}/events", stream=True, timeout=5) as events:
        first = next(events.iter_lines(chunk_size=1))
    assert json.loads(first.removeprefix(b"data: "))["show_age"] == 1.25


def test_the_page_runs_only_what_the_kiosk_serves(served: str) -> None:
    page = requests.get(f"{served}/", timeout=5)
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "http" not in page.text  # nothing from elsewhere
