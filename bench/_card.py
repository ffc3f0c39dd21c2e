"""Badges presented one at a time on nfcpy's simulated front end, when told to.

    python bench/_card.py PORT

For each line `IDM` read on standard input, it presents a FeliCa card (Type 3 tag) with
that IDm to whoever reads `udp:localhost:PORT`, prints `presented IDM T` (T: the moment
it began listening, `time.perf_counter()`, the system's monotonic clock, which the
benchmark reads too), and takes the card away 0.3 s after a reader has it, or after 5 s,
printing `read IDM` or `missed IDM`.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import nfc

PRESENT_FOR = 5.0  # seconds a card stays on the reader if nobody reads it
HOLD = 0.3  # seconds it stays once read, answering the reader's commands


def main() -> None:
    clf = nfc.ContactlessFrontend(f"udp:localhost:{sys.argv[1]}")
    try:
        for line in sys.stdin:
            idm = line.strip()
            if not idm:
                continue
            read: list[float] = []

            def on_startup(target: Any, idm: str = idm) -> Any:
                target.sensf_res = bytearray.fromhex("01" + idm + "FFFFFFFFFFFFFFFF" + "12FC")
                target.brty = "212F"
                return target

            def on_connect(tag: Any, read: list[float] = read) -> bool:
                read.append(time.perf_counter())  # the reader has the card
                return True  # and answers its commands for a moment

            began = time.perf_counter()
            print(f"presented {idm} {began:.6f}", flush=True)
            clf.connect(
                card={"on-startup": on_startup, "on-connect": on_connect},
                terminate=lambda began=began, read=read: (
                    time.perf_counter() > (read[0] + HOLD if read else began + PRESENT_FOR)
                ),
            )
            print(f"{'read' if read else 'missed'} {idm}", flush=True)
    finally:
        clf.close()


if __name__ == "__main__":
    main()
