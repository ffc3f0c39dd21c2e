"""The kiosk's durable spool: every tap is on disk before the member sees a greeting.

One SQLite file (WAL, synchronous=FULL): a committed insert survives a power cut at any
moment after it returns. A tap leaves the spool only when the server has acknowledged
it, and it keeps the id it was given when read, so sending it again after a crash is
harmless: the server answers a known tap id with its first answer and stores nothing.
The same file keeps the cached member directory, for greeting while offline.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS taps (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    badge TEXT NOT NULL,
    read_at TEXT NOT NULL,
    monotonic REAL NOT NULL,
    boot_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
    id TEXT PRIMARY KEY,
    tap TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS directory (hash TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class SpoolError(Exception):
    """The spool cannot take the tap (disk full, read-only file system): say so aloud."""


@dataclass(frozen=True)
class SpooledTap:
    """A read as it is kept and sent: its own id, the kiosk's wall and monotonic times."""

    id: str
    kind: str
    badge: str
    read_at: str  # ISO 8601 with offset, the kiosk's wall clock
    monotonic: float
    boot_id: str

    @classmethod
    def new(cls, kind: str, badge: str, read_at: str, monotonic: float, boot_id: str) -> SpooledTap:
        return cls(str(uuid.uuid4()), kind, badge, read_at, monotonic, boot_id)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "badge": self.badge,
            "badge_kind": self.kind,
            "read_at": self.read_at,
            "monotonic": self.monotonic,
            "boot_id": self.boot_id,
        }


class Spool:
    """The spool file, shared by the reader loop and the uploader thread."""

    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _run(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # -- taps ---------------------------------------------------------------------------

    def add(self, tap: SpooledTap) -> None:
        """Keep a tap; when this returns, it is on disk."""
        try:
            self._run(
                "INSERT INTO taps (id, kind, badge, read_at, monotonic, boot_id) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (tap.id, tap.kind, tap.badge, tap.read_at, tap.monotonic, tap.boot_id),
            )
        except sqlite3.OperationalError as error:  # disk full, I/O error, read-only
            raise SpoolError(str(error)) from error

    def oldest(self, limit: int) -> list[SpooledTap]:
        rows = self._run(
            "SELECT id, kind, badge, read_at, monotonic, boot_id FROM taps ORDER BY seq LIMIT ?",
            (limit,),
        )
        return [SpooledTap(*row) for row in rows]

    def remove(self, ids: Iterable[str]) -> None:
        """Forget taps the server acknowledged."""
        with self._lock, self._db:  # one transaction
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("DELETE FROM taps WHERE id = ?", [(i,) for i in ids])

    def reject(self, tap: SpooledTap, reason: str) -> None:
        """Set aside a tap the server refuses as malformed, so it cannot block the rest."""
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT OR REPLACE INTO rejected (id, tap, reason) VALUES (?, ?, ?)",
                (tap.id, json.dumps(tap.as_json()), reason),
            )
            self._db.execute("DELETE FROM taps WHERE id = ?", (tap.id,))

    def pending(self) -> int:
        return int(self._run("SELECT count(*) FROM taps")[0][0])

    # -- the cached directory --------------------------------------------------------------

    def replace_directory(
        self, key: str, entries: Iterable[tuple[str, str]], badge_key: str | None = None
    ) -> None:
        """The server's directory: its lookup key, hash -> name, and the public key that
        checks QR badge tokens."""
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM directory")
            self._db.executemany("INSERT OR REPLACE INTO directory VALUES (?, ?)", entries)
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('directory_key', ?)", (key,))
            if badge_key:
                self._db.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('badge_key', ?)", (badge_key,)
                )

    def _meta(self, name: str) -> bytes | None:
        rows = self._run("SELECT value FROM meta WHERE key = ?", (name,))
        return bytes.fromhex(rows[0][0]) if rows else None

    def directory_key(self) -> bytes | None:
        return self._meta("directory_key")

    def badge_key(self) -> bytes | None:
        """The public key that checks QR badge tokens, once the server has sent it."""
        return self._meta("badge_key")

    def name_for(self, badge_hash: str) -> str | None:
        rows = self._run("SELECT name FROM directory WHERE hash = ?", (badge_hash,))
        return str(rows[0][0]) if rows else None
