"""`presence kiosk` with nfcpy's simulated reader answering a poll as fast as a real one.

    python bench/_udp_reader.py --config CONFIG kiosk     (the kiosk's own arguments)

nfcpy's simulated front end (`udp:`) waits up to 1 s for a card to answer each poll, so
with no card on it a poll takes a full second, and a card put on it waits for that
second to end: the simulator, not the kiosk, would set the figure. A PN532 answers an
empty poll (InListPassiveTarget, one try) in a few milliseconds. Here the simulated
reader's wait for a poll's answer is cut to POLL_ANSWER; everything else in the process
is the real kiosk and nfcpy.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import nfc.clf.udp

POLL_ANSWER = 0.025  # seconds: a card on loopback answers in well under 1 ms


def install() -> None:
    device = nfc.clf.udp.Device
    receive = device._recv_data

    def _recv_data(self: Any, timeout: float | None, *technologies: str) -> Any:
        polling = getattr(self, "_polling", False)
        return receive(self, POLL_ANSWER if polling else timeout, *technologies)

    def polled(sense: Any) -> Any:
        def sense_quickly(self: Any, target: Any) -> Any:
            self._polling = True
            try:
                return sense(self, target)
            finally:
                self._polling = False

        return sense_quickly

    device._recv_data = _recv_data
    for name in ("sense_tta", "sense_ttb", "sense_ttf"):
        setattr(device, name, polled(getattr(device, name)))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    install()
    from presence.cli import main

    main(sys.argv[1:], prog_name="presence")
