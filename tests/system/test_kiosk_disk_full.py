"""A kiosk whose disk is full: no tap acknowledged and lost, each refused one said aloud.

The real `presence kiosk` runs with a file size limit (RLIMIT_FSIZE) that stands for a
full disk: the spool's files cannot grow past it, and SQLite's writes fail with EFBIG
(Python ignores SIGXFSZ, so the process is not killed). Lifting the limit of the running
process stands for the staff freeing space. Each badge presented to the simulated
reader gets `ok <tap id>` once the tap is kept (in the spool, or on the server itself),
or `error ...`: what the member at the door is told.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from kiosk.screen import STRINGS, Screen
from kiosk.settings import KioskSection
from kiosk.spool import FULL, Spool, SpooledTap, SpoolError
from kiosk.uploader import Uploader
from tests.kiosks import Door
from tests.servers import KioskProcess, SimulatedDevice, wait_for

#: The spool's WAL file reaches it after about fifteen taps (each commit adds ~12 KiB).
LIMIT = 256 * 1024
MEMBERS = 60  # a badge of its own for each tap: no repeat window in the way


def logged(door: Door) -> list[tuple[str, str]]:
    """(tap id, badge) of every tap in the server's log, as the kiosk wrote the ids."""
    with sqlite3.connect(door.database.removeprefix("sqlite:///")) as db:
        rows = db.execute("SELECT tap_id, badge_value FROM taps").fetchall()
    found = []
    for stored, badge in rows:
        h = stored.replace("-", "")  # SQLite keeps UUIDs as 32 hex digits
        found.append((f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}", badge))
    return found


def page(kiosk: KioskProcess) -> dict[str, Any]:
    """What the kiosk's page loads: its state and the texts it shows."""
    found: dict[str, Any] = requests.get(f"{kiosk.page}/state", timeout=5).json()
    return found


class Members:
    """The people at the door: each taps a badge of their own once, and remembers what
    the kiosk said."""

    def __init__(self, device: SimulatedDevice, badges: list[str]) -> None:
        self.device, self.badges = device, iter(badges)
        self.acknowledged: dict[str, str] = {}  # tap id -> badge
        self.refused: list[str] = []  # badges told "not recorded"

    def tap(self) -> str:
        badge = next(self.badges)
        reply = self.device.present(badge)
        if reply.startswith("ok "):
            self.acknowledged[reply.split()[1]] = badge
        elif reply.startswith("error"):
            self.refused.append(badge)
        return reply


@pytest.fixture
def device() -> Iterator[SimulatedDevice]:
    simulated = SimulatedDevice()
    yield simulated
    simulated.unplug()


# -- the spool alone -------------------------------------------------------------------------


def test_the_spool_says_why_it_is_full_and_takes_taps_again_once_there_is_room(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "spool.db")
    heard: list[str | None] = []
    spool.on_trouble = heard.append
    # The file may not grow: fill it until SQLite says it is full, as on a full disk.
    pages = spool._db.execute("PRAGMA page_count").fetchone()[0]  # noqa: SLF001
    spool._db.execute(f"PRAGMA max_page_count = {pages}")  # noqa: SLF001
    with pytest.raises(SpoolError) as failure:
        for n in range(10_000):
            spool.add(SpooledTap.new("nfc", "04A224B2C35A80", "2026-11-24T09:00:00+01:00", n, "b"))
    assert failure.value.cause == FULL
    assert f"spool {tmp_path / 'spool.db'} full" in str(failure.value)
    assert "free in" in str(failure.value)
    assert spool.trouble == FULL and heard == [FULL]
    kept = spool.pending()
    with pytest.raises(SpoolError):  # the directory cache is a write like any other
        spool.replace_directory("ab" * 32, [(f"h{i}", "x" * 200) for i in range(100)])
    assert spool.directory_key() is None and spool.pending() == kept  # nothing half done

    # Room again (space freed): the same spool takes taps, no reopening.
    spool._db.execute(f"PRAGMA max_page_count = {pages * 4}")  # noqa: SLF001
    spool.add(SpooledTap.new("nfc", "04A224B2C35A80", "2026-11-24T09:01:00+01:00", 0.5, "b"))
    assert spool.trouble is None and heard == [FULL, None]
    assert spool.pending() == kept + 1
    spool.close()


def test_the_full_disk_texts_exist_in_french_and_in_english() -> None:
    assert STRINGS["fr"].keys() == STRINGS["en"].keys()
    assert STRINGS["fr"]["spool_failed"] == "Passage non enregistré — prévenez l'accueil"
    assert STRINGS["fr"]["spool_full"] == "Mémoire du kiosque pleine"


# -- the real kiosk process --------------------------------------------------------------------


@pytest.mark.slow
def test_a_full_disk_loses_no_tap_says_so_and_recovers_once_space_is_freed(
    tmp_path: Path, device: SimulatedDevice
) -> None:
    badges = [f"04{0xB00000 + i:012X}" for i in range(MEMBERS)]
    door = Door(tmp_path, {f"M{i:02d}": badge for i, badge in enumerate(badges)})
    config, port = door.kiosk_config(simulated_device=device.address)
    kiosk = KioskProcess(config, port, file_size_limit=LIMIT)
    members = Members(device, badges)
    door.server.start()
    kiosk.start()
    try:
        # Online, with room on the disk: taps are kept and sent as usual.
        assert [members.tap()[:3] for _ in range(3)] == ["ok "] * 3
        wait_for(lambda: len(logged(door)) == 3, what="the first taps on the server")

        # A long network cut: taps pile up in the spool until its files cannot grow.
        door.server.stop()
        while (reply := members.tap()).startswith("ok "):
            assert len(members.acknowledged) < 40, "the spool never filled up"
        assert reply == "error spool_full"
        assert [members.tap() for _ in range(4)] == ["error spool_full"] * 4
        assert len(members.refused) == 5
        shown = page(kiosk)
        state, strings = shown["state"], shown["strings"]
        assert state["show"] == {"kind": "error", "message": "spool_failed"}
        assert state["status"]["spool"] == "full"
        assert strings[state["show"]["message"]] == "Passage non enregistré — prévenez l'accueil"
        assert strings["spool_" + state["status"]["spool"]] == "Mémoire du kiosque pleine"
        log = kiosk.log()
        spool_path = str(tmp_path / f"spool-{port}.db")
        for badge in members.refused:  # all the staff need to record it by hand, and why
            line = re.search(f"ERROR kiosk.daemon: tap NOT recorded: nfc {badge} read at .*", log)
            assert line is not None, badge
            assert f"spool {spool_path} full" in line[0] and "free in" in line[0]
            assert "RLIMIT_FSIZE" in line[0]

        # The server back, the disk still full: the spooled taps are sent (forgetting them
        # may fail too, see below), and a badge read the spool cannot take goes straight
        # to the server, acknowledged once the server has it.
        door.server.start()
        wait_for(
            lambda: dict(logged(door)) == members.acknowledged,
            timeout=60,
            what="the spooled taps on the server",
        )
        reply = members.tap()
        assert reply.startswith("ok ")
        assert reply.split()[1] in dict(logged(door))
        assert kiosk.state()["status"]["spool"] == "full"  # the staff must still know

        # Space freed (no restart): taps are spooled again, the screen forgets the trouble,
        # and the taps kept during the cut are sent, then forgotten.
        kiosk.lift_file_size_limit()
        assert [members.tap()[:3] for _ in range(3)] == ["ok "] * 3
        wait_for(lambda: kiosk.state()["status"]["spool"] is None, what="the trouble gone")
        wait_for(lambda: kiosk.state()["status"]["pending"] == 0, timeout=90, what="the upload")
        assert kiosk.process is not None and kiosk.process.poll() is None
    finally:
        kiosk.stop()
        door.server.stop()

    # Every tap acknowledged is in the server's log exactly once; nothing else is.
    found = logged(door)
    assert len(found) == len({tap for tap, _badge in found})
    assert dict(found) == members.acknowledged
    assert not set(members.refused) & {badge for _tap, badge in found}
    log = kiosk.log()
    assert "sent straight to the server" in log and "can be written again" in log
    assert "Traceback" not in log  # nothing escaped: no thread died


@pytest.mark.slow
def test_taps_the_spool_cannot_forget_are_sent_again_and_stored_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A delete is a write too: on a full disk, taps the server acknowledged may have to
    stay in the spool. They are sent again (the server answers with its first answer)
    until the disk has room to forget them; the uploader never stops."""
    door = Door(tmp_path, {"Alice": "04A224B2C35A80"})
    spool_path = tmp_path / "spool.db"
    settings = KioskSection(
        server_url=door.server.base, token=door.token, spool_path=str(spool_path)
    )
    spool = Spool(spool_path)
    read_at = datetime.now(UTC).isoformat()
    taps = [SpooledTap.new("nfc", "04A224B2C35A80", read_at, i, "boot") for i in range(2)]
    for tap in taps:
        spool.add(tap)
    sent_back: list[list[str]] = []

    def disk_full(ids: Iterable[str]) -> None:
        sent_back.append(list(ids))
        raise SpoolError(f"spool {spool_path} full: disk I/O error", FULL)

    monkeypatch.setattr(spool, "remove", disk_full)
    uploader = Uploader(settings, spool, Screen(), "boot")
    door.server.start()
    uploader.start()
    try:
        wait_for(lambda: len(sent_back) >= 2, what="the batch acknowledged twice")
        assert sent_back[:2] == [[tap.id for tap in taps]] * 2
        assert uploader.is_alive() and spool.pending() == 2
        monkeypatch.undo()  # room on the disk again
        wait_for(lambda: spool.pending() == 0, timeout=60, what="the taps forgotten")
    finally:
        uploader.stop()
        uploader.join(timeout=10)
        spool.close()
        door.server.stop()
    assert sorted(tap_id for tap_id, _badge in logged(door)) == sorted(tap.id for tap in taps)


@pytest.mark.slow
def test_a_kiosk_started_on_a_full_disk_waits_for_room_instead_of_exiting(
    tmp_path: Path, device: SimulatedDevice
) -> None:
    door = Door(tmp_path, {"Alice": "04A224B2C35A80"})
    config, port = door.kiosk_config(simulated_device=device.address)
    # Less than the 32 KiB of the -shm file that SQLite needs to open the spool at all.
    kiosk = KioskProcess(config, port, file_size_limit=16 * 1024)
    door.server.start()
    kiosk.start()  # its page answers: it is up, not in a restart loop
    try:
        wait_for(lambda: kiosk.state()["status"]["spool"] == "full", what="the trouble shown")
        with pytest.raises(TimeoutError):  # no badge is read that could not be kept
            device.present("04A224B2C35A80", timeout=2)
        assert kiosk.process is not None and kiosk.process.poll() is None
        assert "ERROR kiosk.daemon: cannot open the spool" in kiosk.log()

        kiosk.lift_file_size_limit()
        reply = device.present("04A224B2C35A80", timeout=30)
        assert reply.startswith("ok ")
        wait_for(lambda: reply.split()[1] in dict(logged(door)), what="the tap on the server")
        assert kiosk.state()["status"]["spool"] is None
    finally:
        kiosk.stop()
        door.server.stop()


@pytest.mark.slow
def test_a_log_that_cannot_grow_does_not_stop_the_kiosk(
    tmp_path: Path, device: SimulatedDevice
) -> None:
    door = Door(tmp_path, {"Alice": "04A224B2C35A80"})
    config, port = door.kiosk_config(simulated_device=device.address)
    kiosk = KioskProcess(config, port, file_size_limit=LIMIT)
    kiosk.log_path.write_bytes(b"." * LIMIT)  # the log is as large as a file may grow
    door.server.start()
    kiosk.start()
    try:
        reply = device.present("04A224B2C35A80")
        assert reply.startswith("ok ")
        wait_for(lambda: reply.split()[1] in dict(logged(door)), what="the tap on the server")
        assert kiosk.log_path.stat().st_size == LIMIT  # every log line failed, nothing else
    finally:
        kiosk.stop()
        door.server.stop()


@pytest.mark.slow
def test_the_page_tells_the_member_and_the_staff_that_the_disk_is_full(
    tmp_path: Path, device: SimulatedDevice, browser: Any
) -> None:
    badges = [f"04{0xC00000 + i:012X}" for i in range(MEMBERS)]
    door = Door(tmp_path, {f"M{i:02d}": badge for i, badge in enumerate(badges)})
    config, port = door.kiosk_config(simulated_device=device.address)
    kiosk = KioskProcess(config, port, file_size_limit=LIMIT).start()  # the server is down
    members = Members(device, badges)
    try:
        screen = browser.new_page(locale="fr-FR")
        screen.goto(kiosk.page + "/")
        while not members.refused:
            members.tap()
            assert len(members.acknowledged) < 40, "the spool never filled up"
        screen.locator("#headline").filter(
            has_text="Passage non enregistré — prévenez l'accueil"
        ).wait_for(timeout=10_000)
        assert screen.locator("#detail").inner_text() == "Mémoire du kiosque pleine"
        marker = "Mémoire du kiosque pleine — prévenez l'accueil"
        screen.locator("#marker").filter(has_text=marker).wait_for(timeout=10_000)
        screen.close()
    finally:
        kiosk.stop()
