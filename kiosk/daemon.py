"""The kiosk's main loop: read, drop repeat reads, spool, greet, hand over to the uploader.

    read -> repeat read of a badge still held? -> spool (on disk) -> greeting -> upload
                                  spool full? -> straight to the server -> greeting
                                                 no answer? -> "not recorded", ERROR logged

The loop feeds systemd's watchdog on every turn, so a reader that hangs gets the daemon
restarted; a reader that is unplugged or dead is closed and opened again until it is
back, said once on the screen, in the log and in the heartbeat. A
spool that cannot be written (a full disk) never stops the loop: each tap it cannot keep
is said aloud, and taps are kept again as soon as the disk has room.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from badges.tokens import TokenError, looks_like_token, read_token
from kiosk import systemd
from kiosk.readers import Read, Reader, ReaderGone
from kiosk.screen import Screen
from kiosk.settings import KioskSection
from kiosk.spool import GUEST, GUEST_LEAVING, WALK_IN, Spool, SpooledTap, SpoolError
from kiosk.uploader import Uploader

log = logging.getLogger(__name__)

LEFT_MEMORY = 600.0  # seconds a guest who left here stays off the list whatever it says
READ_TIMEOUT = 0.5  # seconds a read waits before the loop turns (and feeds the watchdog)
# A reader that is gone is opened again after 0.5, 1, then every 2 s: back within 5 s of
# being plugged in again, without a busy loop while it is out.
REOPEN_FIRST, REOPEN_MAX = 0.5, 2.0
STUCK_AFTER = 5.0  # seconds a read may take before the reader is said not to answer
SPOOL_RETRY = 5.0  # seconds between attempts to open a spool the disk cannot take


def read_boot_id() -> str:
    """Linux's id of this boot: monotonic times compare only within one boot."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:  # not Linux: one id per run is the safe approximation
        import uuid

        return str(uuid.uuid4())


def open_spool(
    path: str, screen: Screen, stop: threading.Event, waiting: Callable[[], object]
) -> Spool | None:
    """The spool, opened; None if `stop` is set first.

    On a full disk even opening fails (SQLite's WAL needs its -shm file). Rather than
    exit and be restarted in a loop, the kiosk says so on its page (`waiting()` is called
    once, to serve it) and in its log, tells systemd it is up (and feeds the watchdog),
    reads no badge it could not keep, and tries again every few seconds until the disk
    has room.
    """
    attempts = 0
    while not stop.is_set():
        try:
            spool = Spool(path)
        except SpoolError as error:
            screen.status(spool=error.cause)
            if attempts % 12 == 0:  # once a minute
                log.error("cannot open the spool, no badge is read until it can be: %s", error)
            if attempts == 0:
                waiting()
                systemd.notify("READY=1")  # up and saying what is wrong: no restart loop
            attempts += 1
            systemd.notify("WATCHDOG=1")
            stop.wait(SPOOL_RETRY)
            continue
        if attempts:
            log.info("spool %s open, badges are read again", path)
            screen.status(spool=None)
        return spool
    return None


def in_directory(spool: Spool) -> Callable[[str, str], bool]:
    """Whether a badge (kind, value) is in the directory the server last sent."""

    def known(kind: str, value: str) -> bool:
        entry = spool.directory_entry(kind, value)
        return entry is not None and spool.knows(entry)

    return known


class Kiosk:
    def __init__(
        self,
        settings: KioskSection,
        reader: Reader,
        spool: Spool,
        screen: Screen,
        uploader: Uploader,
        boot_id: str,
        *,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings, self.reader, self.spool = settings, reader, spool
        self.screen, self.uploader, self.boot_id = screen, uploader, boot_id
        self.wall, self.monotonic = wall, monotonic
        self._last_read: dict[Read, float] = {}
        self._left: dict[str, float] = {}  # guests' arrival tap id -> when they left here
        self._reading_since: float | None = None  # when the read under way began
        self._reader_lock = threading.Lock()
        self._reader_fault: str | None = "unknown"  # None: open; "gone", "stuck"
        # The screen says when the spool cannot be written, and stops saying so once it can.
        spool.on_trouble = lambda cause: screen.status(spool=cause)
        screen.status(spool=spool.trouble)

    def handle(self, read: Read) -> SpooledTap | None:
        """One badge presented: spool it (unless it is a repeat) and greet.

        The reader hears `ok <tap id>` only once the tap is kept: in the spool, or, when
        the spool cannot take it, on the server itself (see `_send_at_once`).
        """
        now = self.monotonic()
        last = self._last_read.get(read)
        self._last_read[read] = now  # a badge held on the reader stays one tap
        if last is not None and now - last < self.settings.repeat_seconds:
            self.reader.confirm("repeat")
            return None
        self._forget_old_reads(now)
        tap = self._new_tap(read.kind, read.value)
        try:
            self.spool.add(tap)
        except SpoolError as error:
            return self._send_at_once(read, tap, error)
        # Refusals decided here are shown at once; the tap is kept all the same, and the
        # server's answer has the last word (it logs forged attempts too).
        name = self._name(read)
        refusal = self._forged(read)
        if refusal is None and name is None and self._offline_with_directory():
            refusal = "unknown_offline"  # revoked, replaced, or never given: not listed
        if refusal is None:
            self.screen.greet(tap.id, name)
        else:
            self.screen.failed(refusal, tap_id=tap.id)
        self.reader.confirm(f"ok {tap.id}")
        self._sent(tap)
        return tap

    def _new_tap(self, kind: str, value: str, details: dict[str, Any] | None = None) -> SpooledTap:
        read_at = datetime.fromtimestamp(self.wall(), UTC).astimezone().isoformat()
        return SpooledTap.new(kind, value, read_at, self.monotonic(), self.boot_id, details)

    def _send_at_once(self, read: Read, tap: SpooledTap, error: SpoolError) -> SpooledTap | None:
        """A badge read the spool could not keep: recorded only if the server answers for
        it now, else the member is told it was not recorded (never greeted).

        Only badge reads go this way. Should the server store the tap but its answer be
        lost, the member is wrongly told to see the front desk and may tap again: that
        second tap is harmless, the server's rule ignoring a badge read again within
        60 s. A guest's form has no such rule: it is refused instead (`_keep`).
        """
        answer = self.uploader.send_now(tap)
        if answer is None:
            self._not_recorded(tap, error)
            self.reader.confirm(f"error spool_{error.cause}")
            return None
        log.warning("tap %s sent straight to the server, the spool could not keep it", tap.id)
        result, head_count = answer
        self.screen.greet(tap.id, self._name(read))
        self.screen.answer(result, head_count)
        self.reader.confirm(f"ok {tap.id}")
        self._sound()
        return tap

    def _keep(self, tap: SpooledTap) -> SpoolError | None:
        """Spool a guest's form; if the spool cannot keep it, say so."""
        try:
            self.spool.add(tap)
        except SpoolError as error:
            self._not_recorded(tap, error)
            return error
        return None

    def _not_recorded(self, tap: SpooledTap, error: SpoolError) -> None:
        """Say aloud that a tap is lost: on the screen to the member, and in the log with
        what the staff need to record it by hand."""
        what = f"{tap.kind} {tap.badge}" if tap.badge else f"{tap.kind} {tap.details}"
        log.error("tap NOT recorded: %s read at %s; %s", what, tap.read_at, error)
        self.screen.failed("spool_failed")

    def _sent(self, tap: SpooledTap) -> None:
        self.uploader.wake()
        self.screen.status(pending=self.spool.pending())
        self._sound()

    # -- guests, from the kiosk's page ------------------------------------------------------

    def hosts(self) -> list[dict[str, Any]]:
        return self.spool.hosts()

    def guests_here(self) -> list[dict[str, str]]:
        """Guests who may be leaving: those the server last listed and those whose arrival
        is still waiting to be sent, less those who just left here."""
        horizon = self.monotonic() - LEFT_MEMORY
        self._left = {arrival: at for arrival, at in self._left.items() if at >= horizon}
        found = {guest["arrival"]: guest for guest in self.screen.guests_on_server}
        found.update((guest["arrival"], guest) for guest in self.spool.guests_arriving())
        here = [guest for arrival, guest in found.items() if arrival not in self._left]
        return sorted(here, key=lambda guest: guest["name"].casefold())

    def guest_arrives(self, name: str, email: str | None, host: int | None) -> SpooledTap | None:
        """A guest checked in from the page: spooled like a badge read, greeted at once."""
        tap = self._new_tap(GUEST, "", {"name": name, "email": email, "host": host})
        if self._keep(tap) is not None:
            return None
        self.screen.greet(tap.id, name)
        self._sent(tap)
        return tap

    def events_today(self) -> list[dict[str, Any]]:
        return self.screen.events_today

    def walk_in_arrives(self, event: int, name: str, email: str | None) -> SpooledTap | None:
        """Someone at the door for an event without a ticket: spooled, greeted at once."""
        tap = self._new_tap(WALK_IN, "", {"event": event, "name": name, "email": email})
        if self._keep(tap) is not None:
            return None
        self.screen.greet(tap.id, name)
        self._sent(tap)
        return tap

    def guest_leaves(self, arrival: str) -> SpooledTap | None:
        guest = next((g for g in self.guests_here() if g["arrival"] == arrival), None)
        if guest is None:
            return None
        tap = self._new_tap(GUEST_LEAVING, "", {"leaving": arrival})
        if self._keep(tap) is not None:
            return None
        self._left[arrival] = self.monotonic()
        self.screen.greet(tap.id, guest["name"], leaving=True)
        self._sent(tap)
        return tap

    def _forged(self, read: Read) -> str | None:
        """Why a QR token cannot be a real badge, checked offline with the public key."""
        key = self.spool.badge_key()
        if read.kind != "qr" or key is None or not looks_like_token(read.value):
            return None
        try:
            read_token(key, read.value)  # a badge or an event ticket
        except TokenError as error:
            return "forged" if error.reason != "malformed" else "invalid"
        return None

    def _offline_with_directory(self) -> bool:
        offline = self.screen.state["status"]["online"] is False
        return offline and self.spool.directory_key() is not None

    def _name(self, read: Read) -> str | None:
        entry = self.spool.directory_entry(read.kind, read.value)
        return None if entry is None else self.spool.name_for(entry)

    def _forget_old_reads(self, now: float) -> None:
        if len(self._last_read) > 256:
            horizon = now - self.settings.repeat_seconds
            self._last_read = {r: t for r, t in self._last_read.items() if t >= horizon}

    def _sound(self) -> None:
        if self.settings.sound_command:
            try:
                subprocess.Popen(
                    shlex.split(self.settings.sound_command),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            except OSError as error:
                log.warning("sound command failed: %s", error)

    def run(self, stop: threading.Event) -> None:
        """Read until `stop` is set, reopening the reader whenever it goes away.

        The watchdog is fed on every turn of this loop, and only there: a reader that
        hangs the loop gets the daemon restarted by systemd. A reader that is gone (or
        never came) is tried again every REOPEN_MAX seconds at most, and said once.
        """
        opened, delay = False, REOPEN_FIRST
        watch = threading.Thread(target=self._watch_reads, args=(stop,), daemon=True)
        watch.start()
        systemd.notify("READY=1")
        while not stop.is_set():
            systemd.notify("WATCHDOG=1")
            # Any call into the reader may hang on a device that stopped answering: the
            # open, the read, and the close of a reader that failed (nfcpy's close talks
            # to the device too).
            self._reading_since = self.monotonic()
            try:
                if not opened:
                    self.reader.open()
                    opened, delay = True, REOPEN_FIRST
                    self._reader_back()
                read = self.reader.read(READ_TIMEOUT)
            except ReaderGone as error:
                if opened:
                    self.reader.close()
                    opened = False
                self._reading_since = None
                self._reader_gone("gone", str(error))
                stop.wait(delay)
                delay = min(REOPEN_MAX, delay * 2)
                continue
            self._reading_since = None
            if self._reader_fault == "stuck":  # it answered again after all
                self._reader_back()
            if read is not None:
                self.handle(read)
        if opened:
            self.reader.close()

    def _watch_reads(self, stop: threading.Event) -> None:
        """Say when a read has hung (a reader that stopped answering mid-command): the
        loop no longer feeds the watchdog, and the screen and the heartbeat say why."""
        while not stop.wait(1.0):
            since = self._reading_since
            if since is not None and self.monotonic() - since > STUCK_AFTER:
                self._reader_gone("stuck", f"no answer from the reader for {STUCK_AFTER:g} s")

    def _reader_gone(self, fault: str, why: str) -> None:
        with self._reader_lock:
            if self._reader_fault == fault:
                return  # said already: one log line per fault, not one per attempt
            self._reader_fault = fault
        log.warning("badge reader %s: %s", "not answering" if fault == "stuck" else "gone", why)
        self.screen.status(reader=False, reader_fault=fault)

    def _reader_back(self) -> None:
        with self._reader_lock:
            fault, self._reader_fault = self._reader_fault, None
        log.info("badge reader open" if fault == "unknown" else "badge reader back")
        self.screen.status(reader=True, reader_fault=None)
