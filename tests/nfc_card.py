"""An emulated NFC tag (FeliCa / Type 3) on nfcpy's simulated front end, for tests.

    python tests/nfc_card.py PORT IDM SECONDS

It presents the tag with identifier IDM to whoever reads `udp:localhost:PORT`, over and
over (a badge held on the reader), for SECONDS, then leaves the field.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import nfc


def main() -> None:
    port, idm, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])

    def on_startup(target: Any) -> Any:
        target.sensf_res = bytearray.fromhex("01" + idm + "FFFFFFFFFFFFFFFF" + "12FC")
        target.brty = "212F"
        return target

    clf = nfc.ContactlessFrontend(f"udp:localhost:{port}")
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            clf.connect(
                card={"on-startup": on_startup, "on-connect": lambda tag: True},
                terminate=lambda: time.monotonic() > deadline,
            )
    finally:
        clf.close()


if __name__ == "__main__":
    main()
