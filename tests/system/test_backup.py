"""`presence backup` while a real server takes taps, and `presence restore` afterwards:
the copy is consistent, the restore puts back exactly what the backup held, keeps what it
replaced, and brings the keys that sign the badges and the members' photos."""

from __future__ import annotations

import io
import sqlite3
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import requests
from PIL import Image

from server.domain.photos import store_photo
from tests.kiosks import Door
from tests.servers import presence

BADGES = {f"M{n}": f"04A224B2C35A{n:02X}" for n in range(20)}


def taps_in(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return int(db.execute("SELECT count(*) FROM taps").fetchone()[0])


def a_photo(data_dir: Path) -> Path:
    """A member's photo as the staff page stores it; its file."""
    upload = io.BytesIO()
    Image.new("RGB", (64, 64), "teal").save(upload, format="PNG")
    address = store_photo(data_dir, upload.getvalue())
    return data_dir / "photos" / address.removeprefix("/photos/")


def test_a_backup_taken_under_load_restores_exactly_what_it_held(tmp_path: Path) -> None:
    door = Door(tmp_path, BADGES, debounce_seconds=0)
    photo = a_photo(tmp_path / "data")
    door.server.start()
    stop = threading.Event()
    sent: list[int] = []

    def tapping() -> None:  # the door keeps working while the backup is taken
        auth = {"Authorization": f"Bearer {door.token}"}
        with requests.Session() as http:
            while not stop.is_set():
                now = datetime.now(UTC).isoformat()
                batch = [
                    {"id": str(uuid.uuid4()), "badge": badge, "read_at": now}
                    for badge in BADGES.values()
                ]
                answer = http.post(
                    f"{door.server.base}/api/v1/taps",
                    json={"taps": batch},
                    headers=auth,
                    timeout=30,
                )
                assert answer.status_code == 200
                sent.append(len(batch))

    writer = threading.Thread(target=tapping)
    writer.start()
    try:
        while len(sent) < 5:
            stop.wait(0.05)
        folder = Path(presence(door.config, "backup", "--into", str(tmp_path / "saved")).strip())
        while len(sent) < 10:  # more taps after the copy: the restore must drop them
            stop.wait(0.05)
    finally:
        stop.set()
        writer.join(30)
        door.server.stop()

    database = tmp_path / "server.store.db"
    saved = taps_in(folder / "presence.db")
    assert 0 < saved < taps_in(database) == sum(sent)
    assert {p.name for p in folder.iterdir()} >= {"presence.db"}
    with sqlite3.connect(folder / "presence.db") as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # whole uploads only: a batch is one transaction, so the copy never has half of one
        assert saved % len(BADGES) == 0

    assert (folder / "photos" / photo.name).read_bytes() == photo.read_bytes()
    saved_photo = photo.read_bytes()
    (tmp_path / "data" / "badge_signing_key").unlink()  # a machine rebuilt from scratch
    photo.unlink()
    out = presence(door.config, "restore", str(folder))
    assert "kept as" in out and taps_in(database) == saved
    aside = next(tmp_path.glob("server.store.db.before-restore-*"))
    assert taps_in(aside) == sum(sent)  # what the restore replaced is still there
    assert (tmp_path / "data" / "badge_signing_key").read_text() == (
        folder / "badge_signing_key"
    ).read_text()
    assert photo.read_bytes() == saved_photo
    door.server.start()  # and the server runs on the restored database
    try:
        health = requests.get(f"{door.server.base}/healthz", timeout=10)
        assert health.status_code == 200
    finally:
        door.server.stop()


def test_backup_says_what_to_do_on_postgresql_and_restore_refuses_a_folder_that_is_not_one(
    config_file: Path, database_url: str, tmp_path: Path
) -> None:
    empty = tmp_path / "not-a-backup"
    empty.mkdir()
    for args in (("backup", "--into", str(tmp_path / "b")), ("restore", str(empty))):
        result = subprocess.run(
            [sys.executable, "-m", "presence", "--config", str(config_file), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0 and "Traceback" not in result.stderr
        if database_url.startswith("postgresql"):
            assert "pg_dump" in result.stderr
        elif args[0] == "backup":
            assert "no database" in result.stderr
        else:
            assert "holds no presence.db" in result.stderr
