"""Badge readers behind one small interface, the backend chosen in `[kiosk] reader`.

- `nfc`: an NFC reader through nfcpy (a PN532 is the reference), polling only the
  configured technologies with a short interval;
- `qr`: a USB QR scanner that types like a keyboard, read from its input device with
  python-evdev, grabbed, from raw key codes (so neither the browser's focus nor an AZERTY
  layout garbles it);
- `stdin`: one badge per line, for development;
- `simulated`: a device on a local socket that sends badges and hears back what became
  of each (development and tests; it can be "unplugged" by closing the socket).

A reader that disappears or stops answering raises `ReaderGone`; the daemon closes it
and opens it again until it is back.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from badges.ndef import token_on
from badges.uid import BadUid, normalise_badge


class ReaderGone(Exception):
    """The reader was unplugged or stopped answering: close it and open it again."""


@dataclass(frozen=True)
class Read:
    """One badge presented: its kind ("nfc" or "qr") and normalised value."""

    kind: str
    value: str


class Reader(Protocol):
    def open(self) -> None: ...

    def read(self, timeout: float) -> Read | None:
        """The next badge presented within `timeout` seconds, else None."""
        ...

    def confirm(self, outcome: str) -> None:
        """Tell the reader what became of the last read (a beep, a LED, a reply)."""
        ...

    def close(self) -> None: ...


def parse_line(line: str) -> Read:
    """A typed or simulated read: `nfc:04A2...`, `qr:TOKEN`, or a bare UID or token."""
    text = line.strip()
    kind, colon, rest = text.partition(":")
    if colon and kind in ("nfc", "qr"):
        return Read(kind, normalise_badge(kind, rest))
    try:
        return Read("nfc", normalise_badge("nfc", text))
    except BadUid:
        return Read("qr", normalise_badge("qr", text))


# -- NFC (nfcpy) --------------------------------------------------------------------------


#: A reader that has read nothing for this long is closed and opened again: a PN532 on a
#: Pi's UART has been seen to slow down to seconds a read after hours idle (nfcpy #62).
IDLE_REOPEN = 600.0


def device_node(path: str) -> str | None:
    """The file in /dev that is there while nfcpy's device `path` is plugged in.

    usb:001:023  (bus, device: how nfcpy names an opened USB reader)  ->  /dev/bus/usb/001/023
    /dev/ttyUSB0 (how it names an opened serial reader)              ->  itself
    udp:host:port (the simulated front end)                          ->  None: no file
    """
    kind, _, rest = path.partition(":")
    if kind == "usb":
        bus, _, device = rest.partition(":")
        return f"/dev/bus/usb/{bus}/{device}" if bus and device else None
    return path if path.startswith("/") else None


class NfcReader:
    """An nfcpy reader; the badge value is the tag's normalised identifier, or the signed
    token written on the tag when its identifier alone is not a known badge.

    It polls with nfcpy's `sense()` rather than `connect()`: `connect()` catches the
    device's `IOError` itself, logs it and returns False, so an unplugged or dying reader
    looked like a reader with no tag on it (a loop burning a core, hundreds of thousands
    of log lines, the watchdog fed). `sense()` lets the error through; a driver that
    swallows it too is caught by its device node vanishing (`device_node`).
    """

    def __init__(
        self,
        device: str,
        targets: list[str],
        interval: float,
        known: Callable[[str, str], bool] = lambda kind, value: False,
    ) -> None:
        self.device, self.targets, self.interval = device, targets, interval
        self.known = known  # whether a badge (kind, value) is in the kiosk's directory
        self._clf: Any = None
        self._node: str | None = None
        self._last_read = 0.0
        self._indicator_off_at: float | None = None

    def open(self) -> None:
        import nfc  # only a kiosk with an NFC reader needs nfcpy
        from nfc.clf import RemoteTarget

        # nfcpy logs every failure itself, as an ERROR, on every attempt: the daemon says
        # once that the reader is gone and once that it is back.
        logging.getLogger("nfc").setLevel(logging.CRITICAL)
        try:
            self._clf = nfc.ContactlessFrontend(self.device)
        except OSError as error:  # no such device, permission denied, busy
            raise ReaderGone(f"cannot open NFC reader {self.device}: {error}") from None
        self._remote = [RemoteTarget(technology) for technology in self.targets]
        self._node = device_node(str(self._clf.device.path or ""))
        self._last_read = time.monotonic()

    def read(self, timeout: float) -> Read | None:
        if time.monotonic() - self._last_read > IDLE_REOPEN:
            self.close()
            self.open()
        deadline = time.monotonic() + timeout
        while True:
            began = time.monotonic()
            self._indicator()
            found = self._poll()
            if found is not None:
                self._last_read = time.monotonic()
                return found
            if self._node is not None and not os.path.exists(self._node):
                raise ReaderGone(f"NFC reader {self.device}: {self._node} is gone")
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(left, max(0.0, self.interval - (time.monotonic() - began))))

    def _poll(self) -> Read | None:
        """One round of polling the configured technologies; the badge on the reader."""
        import nfc.clf
        import nfc.tag

        try:
            target = self._clf.sense(*self._remote, iterations=1)
            if target is None or _is_phone(target):
                return None
            tag = nfc.tag.activate(self._clf, target)
            if tag is None:  # left the field, or a kind of tag nfcpy cannot read
                return None
            return self._badge_of(tag)
        except nfc.clf.UnsupportedTargetError as error:  # a technology this reader lacks
            why = f"cannot poll {self.targets}: {error}"
            raise ReaderGone(f"NFC reader {self.device} {why}") from None
        except nfc.clf.CommunicationError:  # the tag left while being read
            return None
        except OSError as error:  # unplugged, or the device stopped answering (ETIMEDOUT)
            raise ReaderGone(f"NFC reader {self.device}: {error}") from None

    def _badge_of(self, tag: Any) -> Read | None:
        """The tag's identifier if it is a known badge; else the signed token written on
        it, if any (reading the NDEF area costs several exchanges: only when needed)."""
        try:
            uid = normalise_badge("nfc", bytes(tag.identifier).hex())
        except BadUid:
            uid = None  # not a badge's identifier (a random 3-byte id, a phone)
        if uid is not None and self.known("nfc", uid):
            return Read("nfc", uid)
        token = token_on(tag)
        if token is not None:
            try:
                return Read("qr", normalise_badge("qr", token))
            except BadUid:
                pass
        return Read("nfc", uid) if uid is not None else None

    def confirm(self, outcome: str) -> None:
        """Beep and light up on readers that can (an ACR122U; a bare PN532 cannot)."""
        if outcome.startswith("ok ") and self._clf is not None:
            try:
                self._clf.device.turn_on_led_and_buzzer()
            except OSError:
                return  # unplugged: the next read says so
            self._indicator_off_at = time.monotonic() + 0.15

    def _indicator(self) -> None:
        """Turn the LED and buzzer off when their time is up (from the reading thread,
        between polls: the device is never driven from two threads)."""
        if self._indicator_off_at is not None and time.monotonic() >= self._indicator_off_at:
            self._indicator_off_at = None
            try:
                self._clf.device.turn_off_led_and_buzzer()
            except OSError as error:
                raise ReaderGone(f"NFC reader {self.device}: {error}") from None

    def close(self) -> None:
        if self._clf is not None:
            try:
                self._clf.close()
            except Exception:  # noqa: BLE001 (a dead device fails to close in many ways)
                pass
            self._clf = None


def _is_phone(target: Any) -> bool:
    """A phone or another reader offering peer-to-peer, not a badge (nfcpy's own test in
    `connect()`)."""
    if target.sel_res and target.sel_res[0] & 0x40:
        return True
    return bool(target.sensf_res and target.sensf_res[1:3] == b"\x01\xfe")


# -- QR scanner (evdev) -------------------------------------------------------------------

#: Linux key codes (input-event-codes.h) as a US-layout scanner sends them: code ->
#: (character, character with shift). Scanners are set to the US layout by default.
_ROWS = {
    2: "1!",
    3: "2@",
    4: "3#",
    5: "4$",
    6: "5%",
    7: "6^",
    8: "7&",
    9: "8*",
    10: "9(",
    11: "0)",
    12: "-_",
    13: "=+",
    16: "qQ",
    17: "wW",
    18: "eE",
    19: "rR",
    20: "tT",
    21: "yY",
    22: "uU",
    23: "iI",
    24: "oO",
    25: "pP",
    26: "[{",
    27: "]}",
    30: "aA",
    31: "sS",
    32: "dD",
    33: "fF",
    34: "gG",
    35: "hH",
    36: "jJ",
    37: "kK",
    38: "lL",
    39: ";:",
    40: "'\"",
    41: "`~",
    43: "\\|",
    44: "zZ",
    45: "xX",
    46: "cC",
    47: "vV",
    48: "bB",
    49: "nN",
    50: "mM",
    51: ",<",
    52: ".>",
    53: "/?",
    57: "  ",
}
KEY_ENTER, KEY_KPENTER = 28, 96
KEY_LEFTSHIFT, KEY_RIGHTSHIFT = 42, 54
EV_KEY = 1


class KeyDecoder:
    """Turns key events (code, value: 1 down, 0 up, 2 repeat) into scanned lines."""

    def __init__(self) -> None:
        self.shift = False
        self.buffer: list[str] = []

    def feed(self, code: int, value: int) -> str | None:
        if code in (KEY_LEFTSHIFT, KEY_RIGHTSHIFT):
            self.shift = value != 0
            return None
        if value != 1:
            return None
        if code in (KEY_ENTER, KEY_KPENTER):
            line, self.buffer = "".join(self.buffer), []
            return line
        pair = _ROWS.get(code)
        if pair is not None:
            self.buffer.append(pair[1] if self.shift else pair[0])
        return None


class QrReader:
    """A keyboard-like QR scanner, grabbed so its keys reach no other program."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._device: Any = None
        self._decoder = KeyDecoder()
        self._lines: deque[str] = deque()

    def open(self) -> None:
        import evdev  # only a kiosk with a QR scanner needs python-evdev

        try:
            self._device = evdev.InputDevice(self.path)
            self._device.grab()
        except OSError as error:
            raise ReaderGone(f"cannot open QR scanner {self.path}: {error}") from None
        self._decoder = KeyDecoder()

    def read(self, timeout: float) -> Read | None:
        deadline = time.monotonic() + timeout
        while not self._lines:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                ready, _, _ = select.select([self._device.fd], [], [], left)
                if not ready:
                    return None
                for event in self._device.read():
                    if event.type == EV_KEY:
                        line = self._decoder.feed(event.code, event.value)
                        if line:
                            self._lines.append(line)
            except OSError as error:  # ENODEV: unplugged
                raise ReaderGone(f"QR scanner {self.path}: {error}") from None
        try:
            return Read("qr", normalise_badge("qr", self._lines.popleft()))
        except BadUid:
            return None

    def confirm(self, outcome: str) -> None:
        """Scanners beep on their own when they read."""

    def close(self) -> None:
        if self._device is not None:
            try:
                self._device.ungrab()
                self._device.close()
            except OSError:
                pass
            self._device = None


# -- lines: standard input and the simulated device ----------------------------------------


class StdinReader:
    """One badge per line on standard input (`nfc:04A2...`, `qr:...` or a bare value)."""

    def open(self) -> None:
        self._ended = False

    def read(self, timeout: float) -> Read | None:
        if self._ended:
            time.sleep(timeout)
            return None
        ready, _, _ = select.select([sys.stdin], [], [], timeout)
        if not ready:
            return None
        line = sys.stdin.readline()
        if not line:
            self._ended = True
            return None
        try:
            return parse_line(line) if line.strip() else None
        except BadUid as error:
            print(f"not a badge: {error}", file=sys.stderr)
            return None

    def confirm(self, outcome: str) -> None:
        print(outcome, file=sys.stderr)

    def close(self) -> None:
        pass


class SimulatedReader:
    """A reader on a local socket: the device sends one badge per line and hears back
    `ok <tap id>`, `repeat` or `error <why>` for each; closing the socket unplugs it."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.address = (host or "127.0.0.1", int(port))
        self._socket: socket.socket | None = None
        self._buffer = b""

    def open(self) -> None:
        try:
            self._socket = socket.create_connection(self.address, timeout=2)
        except OSError as error:
            raise ReaderGone(f"simulated reader {self.address}: {error}") from None
        self._buffer = b""

    def read(self, timeout: float) -> Read | None:
        assert self._socket is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                ready, _, _ = select.select([self._socket], [], [], left)
                if not ready:
                    return None
                chunk = self._socket.recv(4096)
            except OSError as error:
                raise ReaderGone(f"simulated reader: {error}") from None
            if not chunk:
                raise ReaderGone("simulated reader unplugged")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            return parse_line(line.decode("utf-8", "replace"))
        except BadUid as error:
            self.confirm(f"error {error}")
            return None

    def confirm(self, outcome: str) -> None:
        if self._socket is None:
            return
        try:
            self._socket.sendall(outcome.encode() + b"\n")
        except OSError:
            pass  # unplugged: the next read says so

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def make_reader(
    settings: Any, known: Callable[[str, str], bool] = lambda kind, value: False
) -> Reader:
    """The reader `[kiosk] reader` names; `known(kind, value)` says whether a badge is in
    the kiosk's directory (an NFC reader then skips reading the tag's NDEF area)."""
    if settings.reader == "nfc":
        return NfcReader(settings.nfc_device, settings.nfc_targets, settings.nfc_interval, known)
    if settings.reader == "qr":
        return QrReader(settings.qr_device)
    if settings.reader == "stdin":
        return StdinReader()
    return SimulatedReader(settings.simulated_device)
