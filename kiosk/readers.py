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

import select
import socket
import sys
import time
from collections import deque
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


class NfcReader:
    """An nfcpy reader; the badge value is the tag's normalised identifier."""

    def __init__(self, device: str, targets: list[str], interval: float) -> None:
        self.device, self.targets, self.interval = device, targets, interval
        self._clf: Any = None
        self._last_read = 0.0
        self._indicator_off_at: float | None = None

    def open(self) -> None:
        import nfc  # only a kiosk with an NFC reader needs nfcpy

        try:
            self._clf = nfc.ContactlessFrontend(self.device)
        except OSError as error:  # no such device, permission denied, busy
            raise ReaderGone(f"cannot open NFC reader {self.device}: {error}") from None
        self._last_read = time.monotonic()

    def read(self, timeout: float) -> Read | None:
        if time.monotonic() - self._last_read > IDLE_REOPEN:
            self.close()
            self.open()
        found: list[tuple[str, str]] = []
        deadline = time.monotonic() + timeout

        def on_connect(tag: Any) -> bool:
            # A signed token on the tag is preferred to its UID, which can be copied.
            token = token_on(tag)
            found.append(("qr", token) if token else ("nfc", bytes(tag.identifier).hex()))
            return False  # do not hold the tag: the next poll sees it again if still there

        try:
            self._clf.connect(
                rdwr={
                    "targets": self.targets,
                    "interval": self.interval,
                    "on-connect": on_connect,
                    "beep-on-connect": False,
                },
                terminate=lambda: self._indicator() or bool(found) or time.monotonic() > deadline,
            )
        except OSError as error:  # unplugged: the USB or serial device went away
            raise ReaderGone(f"NFC reader {self.device}: {error}") from None
        if not found:
            return None
        self._last_read = time.monotonic()
        kind, value = found[0]
        try:
            return Read(kind, normalise_badge(kind, value))
        except BadUid:
            return None  # not a badge's identifier (a random 3-byte id, a phone)

    def confirm(self, outcome: str) -> None:
        """Beep and light up on readers that can (an ACR122U; a bare PN532 cannot)."""
        if outcome.startswith("ok ") and self._clf is not None:
            self._clf.device.turn_on_led_and_buzzer()
            self._indicator_off_at = time.monotonic() + 0.15

    def _indicator(self) -> bool:
        """Turn the LED and buzzer off when their time is up (from the reading thread,
        between polls: the device is never driven from two threads). Always False."""
        if self._indicator_off_at is not None and time.monotonic() >= self._indicator_off_at:
            self._indicator_off_at = None
            self._clf.device.turn_off_led_and_buzzer()
        return False

    def close(self) -> None:
        if self._clf is not None:
            try:
                self._clf.close()
            except OSError:
                pass
            self._clf = None


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


def make_reader(settings: Any) -> Reader:
    """The reader `[kiosk] reader` names."""
    if settings.reader == "nfc":
        return NfcReader(settings.nfc_device, settings.nfc_targets, settings.nfc_interval)
    if settings.reader == "qr":
        return QrReader(settings.qr_device)
    if settings.reader == "stdin":
        return StdinReader()
    return SimulatedReader(settings.simulated_device)
