"""The kiosk's durable spool: every tap is on disk before the member sees a greeting.

One SQLite file (WAL, synchronous=FULL): a committed insert survives a power cut at any
moment after it returns. A tap leaves the spool only when the server has acknowledged
it, and it keeps the id it was given when read, so sending it again after a crash is
harmless: the server answers a known tap id with its first answer and stores nothing.
The same file keeps the cached member directory, for greeting while offline.

A write the disk cannot take (full, read-only, failing) is rolled back whole and raised
as a `SpoolError` that says why; nothing is half written, and the next write that fits
just works, with no reopening.
"""

from __future__ import annotations

import errno
import json
import logging
import resource
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from badges.lookup import directory_entry

log = logging.getLogger(__name__)

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
CREATE TABLE IF NOT EXISTS hosts (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


#: Why the spool cannot be written: its storage is full (the disk, or the largest file
#: this process may write), or it cannot be written at all (read-only, a failing card).
FULL, UNWRITABLE = "full", "unwritable"
LOW_SPACE = 1024 * 1024  # bytes free under which a write error is a full disk


class SpoolError(Exception):
    """The spool cannot take a write (disk full, read-only file system): say so aloud.

    `cause` is FULL or UNWRITABLE; the message names the file, SQLite's error, the free
    space and the file size limit, for the log."""

    def __init__(self, message: str, cause: str = UNWRITABLE) -> None:
        super().__init__(message)
        self.cause = cause


def _size(count: int) -> str:
    """A number of bytes as people read it: "812 bytes", "96.0 KiB", "3.2 GiB"."""
    if count < 1024:
        return f"{count} bytes"
    scaled, unit = count / 1024, "KiB"
    for bigger in ("MiB", "GiB", "TiB"):
        if scaled < 1024:
            break
        scaled, unit = scaled / 1024, bigger
    return f"{scaled:.1f} {unit}"


def diagnose(path: Path, error: BaseException) -> SpoolError:
    """Why the spool at `path` could not be written, with what the system can tell.

    SQLite says SQLITE_FULL for a full disk, but only "disk I/O error" when a file would
    pass the size limit of the process (EFBIG: systemd's LimitFSIZE=, a quota): the free
    space and the files' sizes against that limit tell a full spool from a failing card."""
    code = getattr(error, "sqlite_errorcode", None)
    files: dict[str, int] = {}
    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        with suppress(OSError):
            files[name] = (path.parent / name).stat().st_size
    try:
        free: int | None = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    limited = limit != resource.RLIM_INFINITY
    full = (
        (code is not None and code & 0xFF == sqlite3.SQLITE_FULL)
        or (isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EFBIG))
        or (free is not None and free < LOW_SPACE)
        or (limited and any(size + 65536 >= limit for size in files.values()))  # nearly
    )
    name = getattr(error, "sqlite_errorname", None) or type(error).__name__
    facts = [
        f"spool {path} {'full' if full else 'cannot be written'}: {error} ({name})",
        f"{_size(free)} free in {path.parent}" if free is not None else "free space unknown",
        ", ".join(f"{file} {_size(size)}" for file, size in files.items()) or "no spool file",
    ]
    if limited:
        facts.append(f"this process may write files up to {_size(limit)} (RLIMIT_FSIZE)")
    return SpoolError("; ".join(facts), FULL if full else UNWRITABLE)


#: Kinds of taps that are not badge reads (their form is in `details`): a guest arriving
#: or leaving, someone at the door for an event without a ticket.
GUEST, GUEST_LEAVING, WALK_IN = "guest", "guest_leaving", "walk_in"


@dataclass(frozen=True)
class SpooledTap:
    """A read as it is kept and sent: its own id, the kiosk's wall and monotonic times.

    A badge read has its `kind` ("nfc", "qr") and value; a guest arriving has the kind
    `GUEST` and the form in `details` ({"name", "email", "host"}); a guest leaving has
    `GUEST_LEAVING` and {"leaving": the arrival's tap id}; a walk-in has `WALK_IN` and
    {"event", "name", "email"}."""

    id: str
    kind: str
    badge: str
    read_at: str  # ISO 8601 with offset, the kiosk's wall clock
    monotonic: float
    boot_id: str
    details: dict[str, Any] | None = None

    @classmethod
    def new(
        cls,
        kind: str,
        badge: str,
        read_at: str,
        monotonic: float,
        boot_id: str,
        details: dict[str, Any] | None = None,
    ) -> SpooledTap:
        return cls(str(uuid.uuid4()), kind, badge, read_at, monotonic, boot_id, details)

    def as_json(self) -> dict[str, Any]:
        sent: dict[str, Any] = {
            "id": self.id,
            "read_at": self.read_at,
            "monotonic": self.monotonic,
            "boot_id": self.boot_id,
        }
        if self.kind == GUEST:
            return sent | {"guest": self.details}
        if self.kind == GUEST_LEAVING:
            return sent | {"leaving": (self.details or {}).get("leaving")}
        if self.kind == WALK_IN:
            return sent | {"walk_in": self.details}
        return sent | {"badge": self.badge, "badge_kind": self.kind}


class Spool:
    """The spool file, shared by the reader loop and the uploader thread.

    Every write is one transaction that a full disk rolls back whole and turns into a
    `SpoolError`; `trouble` then says why (FULL or UNWRITABLE) until a write succeeds
    again, and `on_trouble` hears each change (the screen shows it)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.trouble: str | None = None
        self.on_trouble: Callable[[str | None], None] | None = None
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.DatabaseError) as error:
            raise diagnose(self.path, error) from error
        try:  # on a full disk, even opening fails: WAL mode needs its -shm file
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(taps)")}
            if "details" not in columns:  # a spool from before guests: its taps stay as they are
                self._db.execute("ALTER TABLE taps ADD COLUMN details TEXT")
        except sqlite3.DatabaseError as error:
            self._db.close()
            raise diagnose(self.path, error) from error

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _run(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it on disk when the block ends, or none of it and
        a `SpoolError` saying why."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except sqlite3.DatabaseError as error:  # disk full, I/O error, read-only
                self._roll_back()
                failed = diagnose(self.path, error)
                self._set_trouble(failed.cause)
                raise failed from error
            except BaseException:
                self._roll_back()
                raise
            if self.trouble is not None:
                log.info("spool %s can be written again", self.path)
                self._set_trouble(None)

    def _roll_back(self) -> None:
        if self._db.in_transaction:  # SQLite may have rolled back already
            with suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def _set_trouble(self, cause: str | None) -> None:
        if cause != self.trouble:
            self.trouble = cause
            if self.on_trouble is not None:
                self.on_trouble(cause)

    # -- taps ---------------------------------------------------------------------------

    def add(self, tap: SpooledTap) -> None:
        """Keep a tap; when this returns, it is on disk. Raises `SpoolError` if it is not."""
        details = None if tap.details is None else json.dumps(tap.details)
        with self._writing() as db:
            db.execute(
                "INSERT INTO taps (id, kind, badge, read_at, monotonic, boot_id, details) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (tap.id, tap.kind, tap.badge, tap.read_at, tap.monotonic, tap.boot_id, details),
            )

    def oldest(self, limit: int) -> list[SpooledTap]:
        rows = self._run(
            "SELECT id, kind, badge, read_at, monotonic, boot_id, details FROM taps "
            "ORDER BY seq LIMIT ?",
            (limit,),
        )
        return [
            SpooledTap(
                tap_id,
                kind,
                badge,
                read_at,
                monotonic,
                boot_id,
                json.loads(details) if details else None,
            )
            for tap_id, kind, badge, read_at, monotonic, boot_id, details in rows
        ]

    def guests_arriving(self) -> list[dict[str, str]]:
        """Guests whose arrival is still waiting to be sent: {"arrival", "name"}."""
        rows = self._run("SELECT id, details FROM taps WHERE kind = ? ORDER BY seq", (GUEST,))
        return [
            {"arrival": tap_id, "name": json.loads(details)["name"]} for tap_id, details in rows
        ]

    def remove(self, ids: Iterable[str]) -> None:
        """Forget taps the server acknowledged (kept, to be sent again, if this fails)."""
        with self._writing() as db:
            db.executemany("DELETE FROM taps WHERE id = ?", [(i,) for i in ids])

    def reject(self, tap: SpooledTap, reason: str) -> None:
        """Set aside a tap the server refuses as malformed, so it cannot block the rest."""
        with self._writing() as db:
            db.execute(
                "INSERT OR REPLACE INTO rejected (id, tap, reason) VALUES (?, ?, ?)",
                (tap.id, json.dumps(tap.as_json()), reason),
            )
            db.execute("DELETE FROM taps WHERE id = ?", (tap.id,))

    def pending(self) -> int:
        return int(self._run("SELECT count(*) FROM taps")[0][0])

    # -- the cached directory --------------------------------------------------------------

    def replace_directory(
        self,
        key: str,
        entries: Iterable[tuple[str, str]],
        badge_key: str | None = None,
        hosts: Iterable[tuple[int, str]] = (),
        lookup_key: str | None = None,
    ) -> None:
        """The server's directory: its key, hash -> name, the public key that checks QR
        badge tokens, the members a guest may name as host, and the key a read is hashed
        with first (see badges.lookup; a server from before sends none)."""
        with self._writing() as db:
            db.execute("DELETE FROM directory")
            db.executemany("INSERT OR REPLACE INTO directory VALUES (?, ?)", entries)
            db.execute("DELETE FROM hosts")
            db.executemany("INSERT OR REPLACE INTO hosts VALUES (?, ?)", hosts)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('directory_key', ?)", (key,))
            if badge_key:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('badge_key', ?)", (badge_key,))
            if lookup_key:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('lookup_key', ?)", (lookup_key,))
            else:
                db.execute("DELETE FROM meta WHERE key = 'lookup_key'")

    def _meta(self, name: str) -> bytes | None:
        rows = self._run("SELECT value FROM meta WHERE key = ?", (name,))
        return bytes.fromhex(rows[0][0]) if rows else None

    def directory_key(self) -> bytes | None:
        return self._meta("directory_key")

    def directory_entry(self, kind: str, value: str) -> str | None:
        """The entry a read of `kind` with normalised `value` is looked up by, if there is
        a directory (one cached before the lookup key existed is keyed by raw values: it
        serves until the next refresh replaces it)."""
        key = self.directory_key()
        if key is None:
            return None
        return directory_entry(key, self._meta("lookup_key"), kind, value)

    def badge_key(self) -> bytes | None:
        """The public key that checks QR badge tokens, once the server has sent it."""
        return self._meta("badge_key")

    def hosts(self) -> list[dict[str, Any]]:
        """The members a guest may name as host, by name."""
        rows = self._run("SELECT id, name FROM hosts ORDER BY name, id")
        return [{"id": host_id, "name": name} for host_id, name in rows]

    def knows(self, badge_hash: str) -> bool:
        return bool(self._run("SELECT 1 FROM directory WHERE hash = ?", (badge_hash,)))

    def name_for(self, badge_hash: str) -> str | None:
        rows = self._run("SELECT name FROM directory WHERE hash = ?", (badge_hash,))
        return str(rows[0][0]) if rows else None
