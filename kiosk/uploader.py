"""The kiosk's network side: uploads the spool, sends heartbeats, refreshes the directory.

One background thread. Taps go up oldest first in batches, back to back; a tap leaves
the spool only when the server's answer names it. Failures back off (1 s doubling to
30 s) and never lose anything: a network cut or a server restart only delays taps, a
rotated token (401) keeps them and says so on the screen, and a tap the server calls
malformed (422, which the kiosk's own checks should make impossible) is set aside rather
than block the rest. While the server is unreachable and taps wait, a short probe of
`/healthz` every second cuts the backoff short as soon as it answers: a spool that
filled during an outage drains as soon as the server is back, not up to 30 s later.
A spool that cannot be written (a full disk) does not stop the thread either: taps the
server acknowledged stay in the spool and are sent again, which the server answers with
its first answer, until the disk has room to forget them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests

from kiosk.screen import Screen
from kiosk.settings import KioskSection
from kiosk.spool import GUEST, Spool, SpooledTap, SpoolError
from presence import __version__

log = logging.getLogger(__name__)

TIMEOUT = (3.05, 15)  # connect, read: a slow server is waited for, a dead one is not
SEND_NOW_TIMEOUT = (1.0, 3.0)  # a member is waiting at the door for this one
MAX_BACKOFF = 30.0
PROBE_EVERY = 1.0  # seconds between probes of an unreachable server while taps wait
PROBE_TIMEOUT = (0.5, 1.0)


class Uploader(threading.Thread):
    def __init__(
        self,
        settings: KioskSection,
        spool: Spool,
        screen: Screen,
        boot_id: str,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name="uploader", daemon=True)
        self.settings, self.spool, self.screen, self.boot_id = settings, spool, screen, boot_id
        self.monotonic, self.wall = monotonic, wall
        self.base = settings.server_url.rstrip("/")
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {settings.token}"
        self.http.headers["User-Agent"] = f"presence-kiosk/{__version__}"
        # The reader's thread sends on its own session: requests' are not thread-safe.
        self.http_now = requests.Session()
        self.http_now.headers.update(self.http.headers)
        self.batch = settings.upload_batch
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._next_heartbeat = 0.0
        self._next_directory = 0.0
        self._refused_logged = False
        self._unreachable = False  # the last upload found no server (not a refusal)

    def wake(self) -> None:
        """A tap was spooled: send it now rather than at the next retry."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def run(self) -> None:
        backoff = 0.0
        while not self._stopping.is_set():
            try:
                moved = self._turn()
            except SpoolError as error:
                log.error("the spool cannot be written, sent taps stay in it: %s", error)
                moved = False
            except Exception:  # a thread dead in silence would strand every tap
                log.exception("the uploader failed; trying again")
                moved = False
            if moved is None:
                continue
            if moved:
                backoff = 0.0
                continue
            backoff = min(MAX_BACKOFF, max(1.0, backoff * 2))
            if self._unreachable:
                self._await_server(backoff)
            else:  # refused (a rotated token): only a member's tap or time tries again
                self._sleep(backoff, wake_early_after=1.0)
        self.http.close()
        self.http_now.close()

    def _turn(self) -> bool | None:
        """Upload the oldest batch: True if the spool moved on, False if it must wait;
        None when there was nothing to send (after waiting for the next duty)."""
        self._maintain()
        batch = self.spool.oldest(self.batch)
        if not batch:
            self._sleep(min(self._next_heartbeat, self._next_directory) - self.monotonic())
            return None
        return self._send(batch)

    def _sleep(self, seconds: float, wake_early_after: float | None = None) -> None:
        """Sleep until woken or `seconds` pass; a wake counts only after
        `wake_early_after` seconds (a member tapping must not hammer a dead server)."""
        if seconds <= 0:
            return
        started = self.monotonic()
        self._wake.clear()
        if wake_early_after is not None:
            self._stopping.wait(min(seconds, wake_early_after))
            seconds -= self.monotonic() - started
        if seconds > 0 and not self._stopping.is_set():
            self._wake.wait(seconds)
        self._wake.clear()

    def _await_server(self, seconds: float) -> bool:
        """Wait up to `seconds` for the server to answer `/healthz` again, asking every
        PROBE_EVERY seconds; True as soon as it does."""
        deadline = self.monotonic() + seconds
        while self.monotonic() < deadline:
            if self._stopping.wait(min(PROBE_EVERY, max(0.0, deadline - self.monotonic()))):
                return False
            try:
                if self.http.get(f"{self.base}/healthz", timeout=PROBE_TIMEOUT).ok:
                    return True
            except requests.RequestException:
                pass
        return False

    # -- taps -------------------------------------------------------------------------------

    def _clock(self) -> dict[str, Any]:
        return {
            "monotonic": self.monotonic(),
            "boot_id": self.boot_id,
            "wall": datetime.fromtimestamp(self.wall(), UTC).isoformat(),
        }

    def _send(self, batch: list[SpooledTap]) -> bool:
        """Upload a batch; True if the spool moved on (so the next one may go at once)."""
        body: dict[str, Any] = {"clock": self._clock(), "taps": [t.as_json() for t in batch]}
        try:
            response = self.http.post(f"{self.base}/api/v1/taps", json=body, timeout=TIMEOUT)
        except requests.RequestException as error:
            pending = self.spool.pending()
            log.info("server unreachable (%s), %d taps wait", type(error).__name__, pending)
            self._offline()
            return False
        self._unreachable = response.status_code >= 500
        if response.status_code == 200:
            answer = response.json()
            results = answer.get("results", [])
            arriving = {tap.id: tap for tap in batch if tap.kind == GUEST}
            for result in results:
                self.screen.answer(result, answer.get("head_count"))
                if result["id"] in arriving and result.get("outcome") == "checked_in":
                    # until the next heartbeat lists them: they may leave at once
                    self.screen.guest_arrived(result["id"], result.get("name") or "")
            self.spool.remove(result["id"] for result in results)  # a full disk raises
            self._refused_logged = False
            self.batch = self.settings.upload_batch
            self.screen.status(online=True, token_refused=False, pending=self.spool.pending())
            return True
        if response.status_code == 401:
            if not self._refused_logged:
                log.error(
                    "the server refuses this kiosk's token (rotated?); %d taps kept in %s",
                    self.spool.pending(),
                    self.settings.spool_path,
                )
                self._refused_logged = True
            self.screen.status(online=True, token_refused=True, pending=self.spool.pending())
            return False
        if response.status_code == 413 and self.batch > 1:
            self.batch = max(1, self.batch // 2)
            return True
        if response.status_code == 422:
            if len(batch) > 1:
                self.batch = 1  # find which tap it is, one at a time
                return True
            log.error("server refused tap %s as malformed: %s", batch[0].id, response.text[:500])
            self.spool.reject(batch[0], response.text[:2000])
            return True
        log.warning("server answered %s; %d taps wait", response.status_code, self.spool.pending())
        self._offline()
        return False

    def send_now(self, tap: SpooledTap) -> tuple[dict[str, Any], int | None] | None:
        """Send one tap at once (the spool could not keep it), from the reader's thread:
        the server's answer for it and the head-count, or None if it did not answer for
        it. A 200 naming the tap means the server has stored it."""
        body: dict[str, Any] = {"clock": self._clock(), "taps": [tap.as_json()]}
        try:
            response = self.http_now.post(
                f"{self.base}/api/v1/taps", json=body, timeout=SEND_NOW_TIMEOUT
            )
            answer = response.json() if response.status_code == 200 else {}
        except (requests.RequestException, ValueError) as error:
            log.warning("tap %s not sent to the server either (%s)", tap.id, type(error).__name__)
            return None
        results = answer.get("results") if isinstance(answer, dict) else None
        for result in results if isinstance(results, list) else []:
            if isinstance(result, dict) and result.get("id") == tap.id:
                head_count = answer.get("head_count")
                return result, head_count if isinstance(head_count, int) else None
        log.warning("tap %s not taken by the server either (%s)", tap.id, response.status_code)
        return None

    def _offline(self) -> None:
        self._unreachable = True
        self.screen.status(online=False, pending=self.spool.pending())

    # -- heartbeat and directory -------------------------------------------------------------

    def _maintain(self) -> None:
        now = self.monotonic()
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + self.settings.heartbeat_seconds
            self._heartbeat()
        if now >= self._next_directory:
            self._next_directory = now + self.settings.directory_minutes * 60
            self._refresh_directory()

    def _heartbeat(self) -> None:
        _version, state = self.screen.snapshot()  # read under the screen's lock
        status = state["status"]
        reader = status.get("reader")  # None: the daemon does not know yet
        if reader is not None:
            fault = status.get("reader_fault")
            reader = "ok" if reader else "stuck" if fault == "stuck" else "gone"
        body: dict[str, Any] = {
            "version": __version__,
            "pending_taps": self.spool.pending(),
            "clock": self._clock(),
            "reader": reader,
        }
        try:
            response = self.http.post(f"{self.base}/api/v1/heartbeat", json=body, timeout=TIMEOUT)
        except requests.RequestException:
            self._offline()
            return
        if response.status_code == 200:
            self.screen.status(online=True, token_refused=False)
            answer = response.json()
            self.screen.count(answer.get("head_count"))
            self.screen.guests_here(answer.get("guests", []))
            self.screen.events_here(answer.get("events", []))

    def _refresh_directory(self) -> None:
        try:
            response = self.http.get(f"{self.base}/api/v1/directory", timeout=TIMEOUT)
        except requests.RequestException:
            self._next_directory = self.monotonic() + 60  # try again sooner
            return
        if response.status_code != 200:
            self._next_directory = self.monotonic() + 60
            return
        data = response.json()
        entries = [(entry["hash"], entry["name"]) for entry in data.get("entries", [])]
        hosts = [(host["id"], host["name"]) for host in data.get("hosts", [])]
        try:
            self.spool.replace_directory(
                data["key"], entries, data.get("badge_key"), hosts, data.get("lookup_key")
            )
        except SpoolError as error:  # the last one cached is kept: greetings may be stale
            log.warning("member directory not cached: %s", error)
            self._next_directory = self.monotonic() + 60
            return
        log.info("member directory refreshed: %d badges", len(entries))
