"""systemd's notify protocol, without a dependency: READY, STATUS and the watchdog."""

from __future__ import annotations

import os
import socket


def notify(message: str) -> bool:
    """Send `message` (e.g. "WATCHDOG=1") to systemd; False when not run by systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            # Never wait: the reader loop calls this on every turn, and a listener that
            # does not read (its queue full) must not stop the door.
            sock.setblocking(False)
            sock.connect(address)
            sock.send(message.encode())
    except OSError:  # BlockingIOError included: this message is dropped
        return False
    return True
