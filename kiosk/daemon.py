"""The kiosk's main loop: read, drop repeat reads, spool, greet, hand over to the uploader.

    read -> repeat read of a badge still held? -> spool (on disk) -> greeting -> upload

The loop feeds systemd's watchdog on every turn, so a reader that hangs gets the daemon
restarted; a reader that is unplugged is closed and opened again until it is back.
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

from badges.lookup import badge_hash
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
REOPEN_MAX = 5.0


def read_boot_id() -> str:
    """Linux's id of this boot: monotonic times compare only within one boot."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:  # not Linux: one id per run is the safe approximation
        import uuid

        return str(uuid.uuid4())


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

    def handle(self, read: Read) -> SpooledTap | None:
        """One badge presented: spool it (unless it is a repeat) and greet."""
        now = self.monotonic()
        last = self._last_read.get(read)
        self._last_read[read] = now  # a badge held on the reader stays one tap
        if last is not None and now - last < self.settings.repeat_seconds:
            self.reader.confirm("repeat")
            return None
        self._forget_old_reads(now)
        tap = self._new_tap(read.kind, read.value)
        error = self._keep(tap)
        if error is not None:
            self.reader.confirm(f"error {error}")
            return None
        # Refusals decided here are shown at once; the tap is kept all the same, and the
        # server's answer has the last word (it logs forged attempts too).
        name = self._name(read)
        refusal = self._forged(read)
        if refusal is None and name is None and self._offline_with_directory():
            refusal = "unknown_offline"  # revoked, replaced, or never given: not listed
        if refusal is None:
            self.screen.greet(tap.id, name)
        else:
            self.screen.failed(refusal)
        self.reader.confirm(f"ok {tap.id}")
        self._sent(tap)
        return tap

    def _new_tap(self, kind: str, value: str, details: dict[str, Any] | None = None) -> SpooledTap:
        read_at = datetime.fromtimestamp(self.wall(), UTC).astimezone().isoformat()
        return SpooledTap.new(kind, value, read_at, self.monotonic(), self.boot_id, details)

    def _keep(self, tap: SpooledTap) -> SpoolError | None:
        """Spool a tap; on failure say so on the screen and in the log."""
        try:
            self.spool.add(tap)
        except SpoolError as error:
            log.error("tap NOT recorded (%s): %s %s %s", error, tap.kind, tap.badge, tap.details)
            self.screen.failed("spool_failed")
            return error
        return None

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
        key = self.spool.directory_key()
        return None if key is None else self.spool.name_for(badge_hash(key, read.kind, read.value))

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
        """Read until `stop` is set, reopening the reader whenever it goes away."""
        opened, delay = False, 0.5
        systemd.notify("READY=1")
        while not stop.is_set():
            systemd.notify("WATCHDOG=1")
            try:
                if not opened:
                    self.reader.open()
                    opened, delay = True, 0.5
                    self.screen.status(reader=True)
                    log.info("reader open")
                read = self.reader.read(READ_TIMEOUT)
            except ReaderGone as error:
                if opened:
                    log.warning("reader gone: %s", error)
                    self.reader.close()
                    opened = False
                self.screen.status(reader=False)
                stop.wait(delay)
                delay = min(REOPEN_MAX, delay * 2)
                continue
            if read is not None:
                self.handle(read)
        if opened:
            self.reader.close()
