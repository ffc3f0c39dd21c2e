"""The kiosk daemon: its parts, then the real program against a real server process.

The NFC path is tested through nfcpy's own simulated front end (`udp:`) with an emulated
tag in another process; the simulated reader is a device on a local socket that the
test can unplug.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from kiosk.daemon import Kiosk, read_boot_id
from kiosk.readers import KeyDecoder, Read, ReaderGone, SimulatedReader, parse_line
from kiosk.screen import Screen
from kiosk.settings import KioskSection, load_kiosk_settings
from kiosk.spool import Spool, SpooledTap, SpoolError
from kiosk.uploader import Uploader
from tests.conftest import ROOT
from tests.kiosks import Door
from tests.servers import KioskProcess, SimulatedDevice, free_port, wait_for

ALICE, BRUNO, CHLOE = "04A224B2C35A80", "04B335C3D46B91", "04C446D4E57CA2"
FELICA = "02FE010203040506"  # the IDm of the emulated Type 3 tag


def server_taps(door: Door) -> list[tuple[str, str, str, str]]:
    """(tap id, badge, outcome, occurred_at) of every tap in the server's log."""
    path = door.database.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT tap_id, badge_value, outcome, occurred_at FROM taps ORDER BY occurred_at"
        ).fetchall()
    return [tuple(map(str, row)) for row in rows]  # type: ignore[misc]


# -- parts --------------------------------------------------------------------------------


def test_scanner_keys_become_text_whatever_the_layout() -> None:
    from evdev import ecodes

    decoder = KeyDecoder()
    shift = ecodes.KEY_LEFTSHIFT
    keys = [
        (shift, 1),
        (ecodes.KEY_P, 1),
        (shift, 0),
        (ecodes.KEY_K, 1),
        (ecodes.KEY_MINUS, 1),
        (ecodes.KEY_Q, 1),
        (ecodes.KEY_Q, 0),
        (ecodes.KEY_A, 1),
        (ecodes.KEY_1, 1),
        (shift, 1),
        (ecodes.KEY_MINUS, 1),
        (ecodes.KEY_2, 1),
        (shift, 0),
        (ecodes.KEY_0, 1),
        (ecodes.KEY_Z, 2),  # auto-repeat adds nothing
    ]
    assert [decoder.feed(code, value) for code, value in keys] == [None] * len(keys)
    assert decoder.feed(ecodes.KEY_ENTER, 1) == "Pk-qa1_@0"
    assert decoder.feed(ecodes.KEY_KPENTER, 1) == ""


def test_typed_lines_say_their_kind() -> None:
    assert parse_line("04:a2:24:b2:c3:5a:80\n") == Read("nfc", ALICE)
    assert parse_line("qr:  PRZ1.abc  ") == Read("qr", "PRZ1.abc")
    assert parse_line("PRZ1.abc") == Read("qr", "PRZ1.abc")
    from badges.uid import BadUid

    with pytest.raises(BadUid):
        parse_line("nfc:zz")


def test_the_spool_keeps_taps_until_acknowledged_across_reopening(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    spool = Spool(path)
    taps = [SpooledTap.new("nfc", ALICE, f"2026-11-24T09:0{i}:00+01:00", i, "b") for i in range(3)]
    for tap in taps:
        spool.add(tap)
    spool.close()  # a power cut after the commit is the same as a close: it is on disk

    again = Spool(path)
    assert again.oldest(10) == taps and again.pending() == 3
    again.remove([taps[0].id, "not-there"])
    again.reject(taps[1], "malformed")
    assert again.oldest(10) == [taps[2]]
    again.replace_directory("ab" * 32, [("h1", "Alice")])
    assert again.directory_key() == bytes.fromhex("ab" * 32)
    assert again.name_for("h1") == "Alice" and again.name_for("h2") is None
    again.close()


def test_a_full_disk_is_said_aloud_and_nothing_is_claimed(tmp_path: Path) -> None:
    """A tap that cannot be written gets an error on the screen, not a greeting."""
    settings = KioskSection(server_url="http://127.0.0.1:9", token="t")
    spool = Spool(tmp_path / "spool.db")
    # The file may not grow: fill it until SQLite says it is full, as on a full disk.
    pages = spool._db.execute("PRAGMA page_count").fetchone()[0]  # noqa: SLF001
    spool._db.execute(f"PRAGMA max_page_count = {pages}")  # noqa: SLF001
    with pytest.raises(SpoolError):
        for n in range(10_000):
            spool.add(SpooledTap.new("nfc", ALICE, "2026-11-24T09:00:00+01:00", n, "boot"))
    kept = spool.pending()
    screen = Screen()
    uploader = Uploader(settings, spool, screen, "boot")
    reader = SimulatedReader("127.0.0.1:9")
    reader.confirm = lambda outcome: setattr(reader, "said", outcome)  # type: ignore[method-assign]
    kiosk = Kiosk(settings, reader, spool, screen, uploader, "boot")
    assert kiosk.handle(Read("nfc", ALICE)) is None
    assert screen.state["show"] == {"kind": "error", "message": "spool_failed"}
    assert reader.said.startswith("error")  # type: ignore[attr-defined]
    assert spool.pending() == kept  # what was written before is still there


# -- the pipeline in this process, against a real server -----------------------------------


@pytest.fixture
def door(tmp_path: Path) -> Iterator[Door]:
    place = Door(tmp_path, {"Alice": ALICE, "Bruno": BRUNO, "Chloé": CHLOE, "Dai": FELICA})
    place.server.start()
    try:
        yield place
    finally:
        place.server.stop()


class Pipeline:
    """The kiosk's parts wired as the daemon wires them, with a wall clock we can step."""

    def __init__(self, door: Door) -> None:
        path, _port = door.kiosk_config()
        self.settings = load_kiosk_settings(path).kiosk
        self.spool = Spool(self.settings.spool_path)
        self.screen = Screen()
        self.offset = 0.0
        self.boot = read_boot_id()
        wall = lambda: time.time() + self.offset  # noqa: E731
        self.uploader = Uploader(self.settings, self.spool, self.screen, self.boot, wall=wall)
        reader = SimulatedReader(self.settings.simulated_device)  # never opened here
        reader.confirm = lambda outcome: None  # type: ignore[method-assign]
        self.kiosk = Kiosk(
            self.settings, reader, self.spool, self.screen, self.uploader, self.boot, wall=wall
        )
        self.uploader.start()

    def close(self) -> None:
        self.uploader.stop()
        self.uploader.join(5)
        self.spool.close()


@pytest.fixture
def pipeline(door: Door) -> Iterator[Pipeline]:
    built = Pipeline(door)
    try:
        yield built
    finally:
        built.close()


def test_a_tap_is_greeted_then_confirmed_by_the_server(door: Door, pipeline: Pipeline) -> None:
    tap = pipeline.kiosk.handle(Read("nfc", ALICE))
    assert tap is not None
    assert pipeline.screen.state["show"]["tap"] == tap.id  # greeted before any upload
    wait_for(lambda: pipeline.spool.pending() == 0, what="the upload")
    show = pipeline.screen.state["show"]
    assert show["outcome"] == "checked_in" and show["name"] == "Alice"
    assert pipeline.screen.state["head_count"] == 1
    assert [row[:3] for row in server_taps(door)] == [
        (tap.id.replace("-", ""), ALICE, "checked_in")
    ]

    assert pipeline.kiosk.handle(Read("nfc", ALICE)) is None  # still on the reader
    assert pipeline.kiosk.handle(Read("nfc", "04000000000001")) is not None
    wait_for(lambda: pipeline.screen.state["show"].get("outcome") == "unknown_badge")
    assert pipeline.screen.state["show"]["kind"] == "error"


def test_with_the_server_down_a_tap_is_greeted_and_sent_later(
    door: Door, pipeline: Pipeline
) -> None:
    wait_for(lambda: pipeline.spool.directory_key() is not None, what="the directory")
    door.server.stop()

    tap = pipeline.kiosk.handle(Read("nfc", BRUNO))  # how fast: bench/bench_kiosk.py
    assert tap is not None
    assert pipeline.screen.state["show"]["name"] == "Bruno"  # from the cached directory
    wait_for(lambda: pipeline.screen.state["status"]["online"] is False, what="offline")
    assert pipeline.spool.pending() == 1

    door.server.start()
    wait_for(lambda: pipeline.spool.pending() == 0, timeout=60, what="the upload")
    assert [row[1:3] for row in server_taps(door)] == [(BRUNO, "checked_in")]


def test_the_uploader_notices_the_server_back_without_waiting_out_its_backoff(
    door: Door, pipeline: Pipeline
) -> None:
    """While taps wait for an unreachable server, a probe of /healthz every second cuts
    the backoff short: here a backoff of an hour ends when the server is back."""
    door.server.stop()
    probing = Uploader(pipeline.settings, pipeline.spool, pipeline.screen, pipeline.boot)
    found: dict[str, bool] = {}
    waiter = threading.Thread(target=lambda: found.update(back=probing._await_server(3600)))
    waiter.start()
    time.sleep(2)  # a few probes find nobody
    assert waiter.is_alive()
    door.server.start()
    waiter.join(timeout=120)
    assert found == {"back": True}


def test_a_forged_qr_code_is_refused_offline(door: Door, pipeline: Pipeline) -> None:
    from badges.tokens import BadgeToken, new_private_key, sign

    wait_for(lambda: pipeline.spool.badge_key() is not None, what="the directory")
    door.server.stop()
    forged = sign(new_private_key(), BadgeToken(1, 1))
    tap = pipeline.kiosk.handle(Read("qr", forged))
    assert tap is not None and pipeline.spool.pending() == 1  # kept: the server logs it
    # Tied to its tap: the server's answer, when it comes, has the last word.
    assert pipeline.screen.state["show"] == {"kind": "error", "message": "forged", "tap": tap.id}


def test_offline_a_badge_revoked_before_the_last_directory_is_refused(
    door: Door, pipeline: Pipeline
) -> None:
    subprocess.run(
        [sys.executable, "-m", "presence", "--config", str(door.config)]
        + ["badges", "revoke", CHLOE],
        check=True,
        capture_output=True,
    )
    pipeline.uploader._next_directory = 0  # noqa: SLF001 (refresh now, as every 10 min)
    pipeline.uploader.wake()
    wait_for(lambda: pipeline.spool.directory_key() is not None, what="the directory")
    door.server.stop()
    pipeline.kiosk.handle(Read("nfc", BRUNO))  # goes offline trying to send it
    wait_for(lambda: pipeline.screen.state["status"]["online"] is False, what="offline")
    tap = pipeline.kiosk.handle(Read("nfc", CHLOE))
    assert tap is not None
    refused = {"kind": "error", "message": "unknown_offline", "tap": tap.id}
    assert pipeline.screen.state["show"] == refused
    pipeline.kiosk.handle(Read("nfc", ALICE))
    assert pipeline.screen.state["show"]["name"] == "Alice"  # still listed: greeted


def test_an_hour_jump_of_the_wall_clock_does_not_move_the_taps(
    door: Door, pipeline: Pipeline
) -> None:
    first = pipeline.kiosk.handle(Read("nfc", ALICE))
    pipeline.offset = 3600.0  # NTP steps the clock forward an hour
    time.sleep(0.3)
    second = pipeline.kiosk.handle(Read("nfc", BRUNO))
    assert first is not None and second is not None
    assert second.read_at > first.read_at  # the kiosk's own wall time did jump
    wait_for(lambda: pipeline.spool.pending() == 0, what="the upload")
    now = datetime.now(UTC)
    for _id, _badge, _outcome, occurred in server_taps(door):
        when = datetime.fromisoformat(occurred).replace(tzinfo=UTC)
        assert abs(when - now) < timedelta(seconds=30), occurred


def test_a_rotated_token_keeps_the_taps_and_says_so(door: Door, pipeline: Pipeline) -> None:
    subprocess.run(
        [sys.executable, "-m", "presence", "--config", str(door.config)]
        + ["kiosks", "rotate-token", "porte"],
        check=True,
        capture_output=True,
    )
    pipeline.kiosk.handle(Read("nfc", CHLOE))
    wait_for(lambda: pipeline.screen.state["status"]["token_refused"], what="the refusal")
    assert pipeline.spool.pending() == 1
    assert server_taps(door) == []


# -- the real program ----------------------------------------------------------------------


@pytest.fixture
def device() -> Iterator[SimulatedDevice]:
    simulated = SimulatedDevice()
    try:
        yield simulated
    finally:
        simulated.unplug()


def test_unplugging_the_reader_does_not_stop_the_kiosk(door: Door, device: SimulatedDevice) -> None:
    config, port = door.kiosk_config(simulated_device=device.address)
    kiosk = KioskProcess(config, port).start()
    try:
        assert device.present(ALICE).startswith("ok ")
        device.unplug()
        wait_for(lambda: kiosk.state()["status"]["reader"] is False, what="reader gone")
        time.sleep(1)
        device.replug()
        assert device.present(BRUNO).startswith("ok ")
        wait_for(lambda: kiosk.state()["status"]["reader"] is True, what="reader back")
        wait_for(lambda: len(server_taps(door)) == 2, what="both taps on the server")
        assert kiosk.process is not None and kiosk.process.poll() is None
    finally:
        kiosk.stop()


def test_the_feedback_page_is_pushed_each_change(door: Door, device: SimulatedDevice) -> None:
    config, port = door.kiosk_config(simulated_device=device.address)
    kiosk = KioskProcess(config, port).start()
    events: list[dict[str, Any]] = []

    def listen() -> None:
        import json

        with requests.get(f"{kiosk.page}/events", stream=True, timeout=30) as response:
            for line in response.iter_lines(chunk_size=1):
                if line.startswith(b"data: "):
                    events.append(json.loads(line[6:]))

    threading.Thread(target=listen, daemon=True).start()
    try:
        wait_for(lambda: events, what="the first event")
        reply = device.present(ALICE)
        tap_id = reply.split()[1]
        wait_for(
            lambda: any(e["show"].get("outcome") == "checked_in" for e in events),
            what="the server's answer on the page",
        )
        shown = [e["show"] for e in events if e["show"].get("tap") == tap_id]
        assert shown[0]["message"] == "saved"  # greeted at once
        assert shown[-1]["name"] == "Alice" and shown[-1]["outcome"] == "checked_in"
        page = requests.get(kiosk.page + "/", timeout=5).text
        assert "kiosk.js" in page
    finally:
        kiosk.stop()


@pytest.fixture
def emulated_tag(tmp_path: Path) -> Iterator[str]:
    """A FeliCa tag held on nfcpy's simulated reader; its nfcpy device path."""
    port = free_port()
    with (tmp_path / "card.log").open("wb") as card_log:
        card = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "nfc_card.py"), str(port), FELICA, "60"],
            stdout=card_log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"udp:localhost:{port}"
    finally:
        card.kill()
        card.wait()


def test_the_nfc_reader_reads_an_emulated_tag_through_nfcpy(door: Door, emulated_tag: str) -> None:
    config, page = door.kiosk_config(reader="nfc", nfc_device=emulated_tag, nfc_targets=["212F"])
    kiosk = KioskProcess(config, page).start()
    try:
        rows = wait_for(lambda: server_taps(door), timeout=30, what="the tag's tap")
        assert rows[0][1:3] == (FELICA, "checked_in")
        # The tag stays on the reader: read again and again, Dai is still in. (On a loaded
        # machine the emulator can miss a poll, which nfcpy reports as the tag leaving;
        # the tag seen again is then a new read, which the debounce makes a `duplicate`.)
        time.sleep(2)
        later = [row[1:3] for row in server_taps(door)[1:]]
        assert set(later) <= {(FELICA, "duplicate")}
        assert kiosk.state()["show"]["name"] == "Dai"
    finally:
        kiosk.stop()


def test_a_signed_token_written_on_a_tag_is_read_when_its_uid_is_no_badge(
    door: Door, emulated_tag: str
) -> None:
    """The kiosk reads a tag's NDEF area only when its UID alone is not a known badge
    (reading it costs several exchanges); a space that writes tokens on its badges
    because UIDs can be copied revokes the UIDs."""

    def presence_cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "presence", "--config", str(door.config), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def write_nfc(member: str) -> subprocess.CompletedProcess[str]:
        return presence_cli(
            "badges", "write-nfc", member, "--device", emulated_tag, "--targets", "212F"
        )

    refused = write_nfc("Alice")  # a member is named by id or e-mail
    assert refused.returncode != 0 and "no member 'Alice'" in refused.stderr
    written = write_nfc("1")
    assert written.returncode == 0, written.stderr
    assert f"written on tag {FELICA}" in written.stdout
    revoked = presence_cli("badges", "revoke", FELICA)  # Dai's UID: copies were found
    assert revoked.returncode == 0, revoked.stderr

    config, page = door.kiosk_config(reader="nfc", nfc_device=emulated_tag, nfc_targets=["212F"])
    kiosk = KioskProcess(config, page).start()
    try:
        rows = wait_for(lambda: server_taps(door), timeout=30, what="the tag's tap")
        _tap, value, outcome, _at = rows[0]
        assert value.startswith("P1") and outcome == "checked_in"  # the token, not the UID
        assert wait_for(lambda: kiosk.state()["show"].get("name"), what="greeting") == "Alice"
    finally:
        kiosk.stop()


def test_the_reader_loop_feeds_the_systemd_watchdog(
    door: Door, device: SimulatedDevice, tmp_path: Path
) -> None:
    import socket

    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(10)
    config, port = door.kiosk_config(simulated_device=device.address)
    kiosk = KioskProcess(config, port, env={"NOTIFY_SOCKET": str(tmp_path / "notify")})
    kiosk.start()
    try:
        messages = [notify.recv(256).decode() for _ in range(4)]
        assert messages[0] == "READY=1"
        assert messages[1:] == ["WATCHDOG=1"] * 3  # every turn of the loop, read or not
    finally:
        kiosk.stop()
        notify.close()


def test_a_reader_that_is_not_there_says_it_is_gone(tmp_path: Path) -> None:
    reader = SimulatedReader(f"127.0.0.1:{free_port()}")
    with pytest.raises(ReaderGone):
        reader.open()


def test_the_kiosk_needs_none_of_the_server_libraries() -> None:
    """What runs on the Pi imports no database, web framework or Socket.IO server."""
    script = (
        "import sys, kiosk.cli, kiosk.daemon, kiosk.readers, kiosk.screen, kiosk.uploader\n"
        "from presence.cli import main\n"
        "main.get_command(None, 'kiosk')\n"
        "server = {'flask', 'sqlalchemy', 'socketio', 'flask_socketio', 'alembic', 'server',\n"
        "          'qrcode', 'fpdf', 'PIL'}\n"
        "print(sorted(server & set(sys.modules)))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert found.strip() == "[]"


def test_a_directory_from_before_the_lookup_key_serves_until_the_new_one_replaces_it(
    tmp_path: Path,
) -> None:
    from badges.lookup import badge_hash, value_hash

    directory_key, lookup_key = bytes([1]) * 32, bytes([2]) * 32
    spool = Spool(tmp_path / "spool.db")
    # cached from a server before the lookup key: entries keyed by the raw value
    spool.replace_directory(directory_key.hex(), [(badge_hash(directory_key, "nfc", ALICE), "A")])
    assert spool.name_for(spool.directory_entry("nfc", ALICE) or "") == "A"

    hashed = value_hash(lookup_key, "nfc", ALICE)
    entries = [(badge_hash(directory_key, "nfc", hashed), "Alice")]
    spool.replace_directory(directory_key.hex(), entries, None, (), lookup_key.hex())
    assert spool.name_for(spool.directory_entry("nfc", ALICE) or "") == "Alice"
    assert ALICE not in (tmp_path / "spool.db").read_bytes().decode("latin-1")  # hashes only

    spool.replace_directory(directory_key.hex(), [])  # a server sending no lookup key again
    assert spool.directory_entry("nfc", ALICE) == badge_hash(directory_key, "nfc", ALICE)
    spool.close()


def test_a_notify_socket_nobody_reads_never_blocks_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader loop tells systemd on every turn: a listener that stopped reading
    (its queue full) costs dropped messages, not a door stuck in `sendall`."""
    import socket

    from kiosk import systemd

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(tmp_path / "notify"))
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    try:
        sent = [systemd.notify("WATCHDOG=1") for _ in range(1000)]  # would block at ~10
        assert sent[0] is True and sent[-1] is False
    finally:
        listener.close()
