"""A request body cut mid-way (a kiosk's network drops during an upload) against a real
server process: nothing of it is stored, the server carries on, and the same upload sent
again whole is stored exactly once."""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path

import requests

from tests.kiosks import Door

BADGES = {f"M{n}": f"04B224B2C35A{n:02X}" for n in range(10)}


def taps_in(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return int(db.execute("SELECT count(*) FROM taps").fetchone()[0])


def test_an_upload_cut_mid_way_stores_nothing_and_is_stored_once_when_sent_again(
    tmp_path: Path,
) -> None:
    door = Door(tmp_path, BADGES)
    door.server.start()
    try:
        now = datetime.now(UTC).isoformat()
        taps = [
            {"id": str(uuid.uuid4()), "badge": badge, "read_at": now} for badge in BADGES.values()
        ]
        body = json.dumps({"taps": taps}).encode()
        host, port = "127.0.0.1", int(door.server.base.rsplit(":", 1)[1])
        for cut_at in (0, len(body) // 2, len(body) - 1):  # nothing, half, all but a byte
            with socket.create_connection((host, port), timeout=10) as raw:
                raw.sendall(
                    b"POST /api/v1/taps HTTP/1.1\r\nHost: "
                    + host.encode()
                    + b"\r\nContent-Type: application/json\r\nAuthorization: Bearer "
                    + door.token.encode()
                    + b"\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\n\r\n"
                    + body[:cut_at]
                )
                raw.shutdown(socket.SHUT_WR)  # the network drops: the rest never comes
                raw.settimeout(30)
                answer = b""
                while chunk := raw.recv(4096):
                    answer += chunk
            # A precise refusal (400: the body ends early; 422: no body at all), no 500.
            assert re.match(rb"HTTP/1\.1 4(00|22) ", answer), answer[:200]
            assert b"Traceback" not in answer
        database = tmp_path / "server.store.db"
        assert taps_in(database) == 0

        auth = {"Authorization": f"Bearer {door.token}"}
        url = f"{door.server.base}/api/v1/taps"
        for _attempt in range(2):  # the kiosk sends it again, and once more for luck
            whole = requests.post(
                url, data=body, timeout=30, headers={**auth, "Content-Type": "application/json"}
            )
            assert whole.status_code == 200
            assert [r["outcome"] for r in whole.json()["results"]] == ["checked_in"] * len(taps)
        assert taps_in(database) == len(taps)
    finally:
        door.server.stop()
