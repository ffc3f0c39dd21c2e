"""An emulated NFC tag (FeliCa / Type 3, NDEF, writable) on nfcpy's simulated front end.

    python tests/nfc_card.py PORT IDM SECONDS

It presents the tag with identifier IDM to whoever reads `udp:localhost:PORT`, over and
over (a badge held on the reader), for SECONDS. Its NDEF area starts empty and keeps
what a reader writes, as a real tag would.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import nfc

BLOCKS = 32  # 512 bytes of NDEF data


def attribute_block(length: int) -> bytearray:
    """Type 3 Tag attribute information: version, blocks per read/write, size, length."""
    block = bytearray([0x10, 12, 8, 0, BLOCKS, 0, 0, 0, 0, 0x00, 0x01])
    block += length.to_bytes(3, "big")
    return block + (sum(block) & 0xFFFF).to_bytes(2, "big")


def main() -> None:
    port, idm, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    memory = bytearray(16 * (BLOCKS + 1))
    memory[0:16] = attribute_block(0)

    def on_startup(target: Any) -> Any:
        target.sensf_res = bytearray.fromhex("01" + idm + "FFFFFFFFFFFFFFFF" + "12FC")
        target.brty = "212F"
        return target

    def read(block: int, *_: Any) -> bytearray | None:
        if block < len(memory) // 16:
            return memory[block * 16 : (block + 1) * 16]
        return None

    def write(block: int, data: bytearray, *_: Any) -> bool:
        if block < len(memory) // 16:
            memory[block * 16 : (block + 1) * 16] = data
            return True
        return False

    def on_connect(tag: Any) -> bool:
        tag.add_service(0x0009, read, write)
        tag.add_service(0x000B, read, lambda *_: False)
        return True

    clf = nfc.ContactlessFrontend(f"udp:localhost:{port}")
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            clf.connect(
                card={"on-startup": on_startup, "on-connect": on_connect},
                terminate=lambda: time.monotonic() > deadline,
            )
    finally:
        clf.close()


if __name__ == "__main__":
    main()
