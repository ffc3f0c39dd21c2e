"""A real `presence kiosk` process whose NFC reader is unplugged, dies or hangs.

The reader is nfcpy's simulated front end behind a fault-injecting nfcpy driver
(tests/faulty_nfc.py); an emulated tag (tests/nfc_card.py) is held on it all along, as
a badge left on the reader would be. Everything else is the real kiosk and server.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kiosks import Door
from tests.servers import KioskProcess, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]
FELICA = "02FE010203040506"  # the emulated tag's IDm
ALICE = "04A224B2C35A80"


class FaultyReader:
    """The test's hand on the reader: plug, unplug, and how the driver misbehaves."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        folder.mkdir()
        (folder / "port").write_text(str(port))
        self.plug()

    @property
    def device(self) -> str:
        return f"faulty:{self.folder}"

    def plug(self) -> None:
        (self.folder / "node").touch()
        self.behave("ok")

    def unplug(self, mode: str = "enodev") -> None:
        """Pulled out: its node goes, and the driver raises (or, `silent`, says nothing)."""
        self.behave(mode)
        (self.folder / "node").unlink()

    def behave(self, mode: str) -> None:
        (self.folder / "mode").write_text(mode)


@pytest.fixture
def door(tmp_path: Path) -> Iterator[Door]:
    place = Door(tmp_path, {"Alice": ALICE, "Dai": FELICA})
    place.server.start()
    try:
        yield place
    finally:
        place.server.stop()


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[FaultyReader]:
    """A faulty reader with Dai's tag held on it (for ten minutes at most)."""
    port = free_port()
    with (tmp_path / "card.log").open("wb") as card_log:
        card = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "nfc_card.py"), str(port), FELICA, "600"],
            stdout=card_log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield FaultyReader(tmp_path / "reader", port)
    finally:
        card.kill()
        card.wait()


def start_kiosk(
    door: Door, reader: FaultyReader, env: dict[str, str] | None = None
) -> KioskProcess:
    config, page = door.kiosk_config(
        reader="nfc", nfc_device=reader.device, nfc_targets=["212F"], repeat_seconds=0.5
    )
    program = (str(ROOT / "tests" / "faulty_nfc.py"),)
    return KioskProcess(config, page, env=env, program=program).start()


def reader_lines(kiosk: KioskProcess) -> list[str]:
    return [line for line in kiosk.log().splitlines() if "reader" in line.lower()]


def greeted_tap(kiosk: KioskProcess) -> str | None:
    show = kiosk.state()["show"]
    return show.get("tap") if show.get("kind") == "greeting" else None


@pytest.mark.parametrize("how", ["enodev", "silent"])
def test_an_unplugged_reader_is_said_once_and_read_again_once_plugged(
    door: Door, reader: FaultyReader, how: str
) -> None:
    kiosk = start_kiosk(door, reader)
    try:
        first = wait_for(lambda: greeted_tap(kiosk), timeout=30, what="the held tag read")
        reader.unplug(how)
        status = wait_for(
            lambda: (s := kiosk.state()["status"])["reader"] is False and s,
            timeout=10,
            what="the screen saying the reader is unplugged",
        )
        assert status["reader_fault"] == "gone"
        before = len(reader_lines(kiosk))
        time.sleep(3)  # unplugged for a while: tried again and again, said once
        lines = reader_lines(kiosk)
        assert len(lines) - before <= 1, lines
        assert sum("gone" in line for line in lines) == 1, lines

        reader.plug()
        wait_for(lambda: kiosk.state()["status"]["reader"] is True, timeout=10, what="reopened")
        # The tag, still held, is read again: a new tap (the kiosk's repeat window is
        # 0.5 s and it has been away far longer).
        wait_for(lambda: greeted_tap(kiosk) not in (None, first), timeout=10, what="a new read")
        assert sum("back" in line for line in reader_lines(kiosk)) == 1
    finally:
        kiosk.stop()


def test_a_reader_dying_on_its_line_is_said_and_reopened(door: Door, reader: FaultyReader) -> None:
    kiosk = start_kiosk(door, reader)
    try:
        wait_for(lambda: kiosk.state()["status"]["reader"] is True, timeout=30, what="open")
        reader.behave("eio")  # still plugged in, but every command fails
        wait_for(lambda: kiosk.state()["status"]["reader"] is False, timeout=10, what="said")
        reader.behave("ok")
        wait_for(lambda: kiosk.state()["status"]["reader"] is True, timeout=10, what="back")
    finally:
        kiosk.stop()


def test_a_hung_reader_stops_the_watchdog_and_is_said(
    door: Door, reader: FaultyReader, tmp_path: Path
) -> None:
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    kiosk = start_kiosk(door, reader, env={"NOTIFY_SOCKET": str(tmp_path / "notify")})
    try:
        wait_for(lambda: kiosk.state()["status"]["reader"] is True, timeout=30, what="open")
        reader.behave("hang")
        status = wait_for(
            lambda: (s := kiosk.state()["status"])["reader"] is False and s,
            timeout=30,
            what="the screen saying the reader does not answer",
        )
        assert status["reader_fault"] == "stuck"
        # No watchdog message since the read hung: systemd would restart the daemon.
        notify.setblocking(False)
        while True:
            try:
                notify.recv(256)
            except BlockingIOError:
                break
        time.sleep(2)
        with pytest.raises(BlockingIOError):
            notify.recv(256)

        reader.behave("ok")  # it answers again: the loop turns and says so
        wait_for(lambda: kiosk.state()["status"]["reader"] is True, timeout=10, what="back")
        notify.settimeout(10)
        assert notify.recv(256) == b"WATCHDOG=1"
    finally:
        reader.behave("ok")  # a process hung in the reader cannot stop: let it go first
        kiosk.stop()
        notify.close()
