"""A fault-injecting NFC reader for a real `presence kiosk` process.

    python tests/faulty_nfc.py --config CONFIG kiosk      (the kiosk's own arguments)

with `nfc_device = "faulty:FOLDER"` in the kiosk's config. The reader is nfcpy's own
simulated front end (`udp:localhost:PORT`, the port in FOLDER/port) behind an nfcpy
driver (`nfc.clf.device.Device`, the interface nfcpy's real PN532, PN533 and ACR122
drivers implement) that the test makes misbehave by writing files in FOLDER:

    FOLDER/node   present while the reader is plugged in (its /dev node, as the kiosk
                  sees it: nfcpy names the device by this path)
    FOLDER/mode   how the driver answers while plugged in:
                    ok      as nfcpy's simulated reader does
                    enodev  raises IOError(ENODEV) (a USB reader pulled out: libusb)
                    eio     raises IOError(EIO) (a reader dying on its serial line)
                    silent  answers nothing and raises nothing (a driver that swallows)
                    hang    never returns from the call (a reader stuck mid-command)

Opening succeeds only when the node is there and the mode is `ok`; nfcpy then raises
IOError(ENODEV) from `ContactlessFrontend()` as it does for a missing real reader.
Everything else in the kiosk process is the real program.
"""

from __future__ import annotations

import errno
import os
import sys
import time
from pathlib import Path
from typing import Any

import nfc.clf.device
import nfc.clf.udp

PREFIX = "faulty:"


class FaultyDevice(nfc.clf.udp.Device):  # type: ignore[misc]  # nfcpy has no type hints
    """nfcpy's simulated reader with faults injected at the driver interface."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        super().__init__("localhost", int((folder / "port").read_text()))
        self._path = str(folder / "node")
        # What nfcpy's own `udp.init()` sets.
        self._vendor_name, self._device_name, self._chipset_name = "Test", "Faulty", "UDP"

    def mode(self) -> str:
        try:
            return (self.folder / "mode").read_text().strip() or "ok"
        except FileNotFoundError:
            return "ok"

    def _fault(self) -> bool:
        """Raise or hang as the mode says; True when the call must answer nothing."""
        while (mode := self.mode()) == "hang":
            time.sleep(0.1)
        if mode in ("enodev", "eio"):
            code = errno.ENODEV if mode == "enodev" else errno.EIO
            raise OSError(code, os.strerror(code))
        return mode == "silent"

    def mute(self) -> None:
        if not self._fault():
            super().mute()

    def sense_tta(self, target: Any) -> Any:
        return None if self._fault() else super().sense_tta(target)

    def sense_ttb(self, target: Any) -> Any:
        return None if self._fault() else super().sense_ttb(target)

    def sense_ttf(self, target: Any) -> Any:
        return None if self._fault() else super().sense_ttf(target)

    def sense_dep(self, target: Any) -> Any:
        return None if self._fault() else super().sense_dep(target)

    def send_cmd_recv_rsp(self, target: Any, data: Any, timeout: float) -> Any:
        if self._fault():
            raise nfc.clf.TimeoutError("no answer")
        return super().send_cmd_recv_rsp(target, data, timeout)


def install() -> None:
    """Make nfcpy open a FaultyDevice for `faulty:FOLDER` paths."""
    real_connect = nfc.clf.device.connect

    def connect(path: str) -> Any:
        if not path.startswith(PREFIX):
            return real_connect(path)
        folder = Path(path.removeprefix(PREFIX))
        device = FaultyDevice(folder)
        if (folder / "node").exists() and device.mode() == "ok":
            return device
        device.close()
        return None  # no reader on this path: ContactlessFrontend raises ENODEV

    nfc.clf.device.connect = connect


if __name__ == "__main__":
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1)  # a test that finds it hung asks where
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    install()
    from presence.cli import main

    main(sys.argv[1:], prog_name="presence")
