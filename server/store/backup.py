"""Backups of a space on SQLite, and getting one back.

`presence backup` copies the database with SQLite's online backup API: a consistent
copy taken while the server runs and writes (kiosks keep tapping), then checked with
`PRAGMA integrity_check`. Beside it go the secrets the server generated in its data
folder, if any (`secret_key`, which signs members' links and sessions, and
`badge_signing_key`, which signs QR badges and tickets: without it every printed badge
stops working, and `badge_lookup_key`, which badge values are kept hashed with: without
it every badge is unknown), and the members' photos. A backup is a folder:

    presence-20261130T201500Z/
        presence.db
        secret_key            (only if generated, not configured)
        badge_signing_key     (likewise)
        badge_lookup_key      (likewise)
        photos/               (members' photos, if any)

`presence restore FOLDER` puts one back: the current database is first copied aside
(`presence.db.before-restore-<time>`), the backup is copied in through the same online
API, the schema is brought up to date (a backup from an older version works), and the
secrets are put back where the data folder has none, and the photos the data folder
lacks. People erased since the backup was taken would come back with it: the log of
erasures (`erasures`, no personal data) is read from the current database before it is
replaced, and `presence restore` merges it into the restored one and erases them again.
Stop the server first: its
processes would otherwise keep serving what they had in memory (boards, kiosks' answers
are fine, but a restore under a running server is not a thing to do by accident).

PostgreSQL has its own tools, which are better at it: `pg_dump` / `pg_restore` (see
docs/operations.md).
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import NamedTuple, Protocol

from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from server.store.models import Erasure


class Installation(Protocol):
    """Where an installation keeps its data (the server's Settings is one)."""

    @property
    def database_url(self) -> str: ...

    @property
    def data_path(self) -> Path: ...


SECRETS = ("secret_key", "badge_signing_key", "badge_lookup_key")
DATABASE = "presence.db"
PHOTOS = "photos"  # as server.domain.photos.folder names it


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why, in one line."""


def sqlite_path(settings: Installation) -> Path:
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise BackupError(
            "presence backup and restore work on SQLite; on PostgreSQL use pg_dump and "
            "pg_restore (docs/operations.md)"
        )
    return Path(url.database)


def _copy(source: Path, target: Path) -> None:
    """A consistent copy through SQLite's online backup (writers may carry on)."""
    with sqlite3.connect(source) as origin, sqlite3.connect(target) as copy:
        origin.backup(copy)
        checked = copy.execute("PRAGMA integrity_check").fetchone()[0]
    if checked != "ok":
        raise BackupError(f"the copy in {target} does not check out: {checked}")


def backup(settings: Installation, into: Path, now: datetime) -> Path:
    """Back the space up into a new folder under `into`; that folder."""
    database = sqlite_path(settings)
    if not database.exists():
        raise BackupError(f"there is no database at {database} yet")
    folder = into / f"presence-{now:%Y%m%dT%H%M%SZ}"
    folder.mkdir(parents=True, exist_ok=False)
    folder.chmod(0o700)  # the database and the keys are personal data and secrets
    _copy(database, folder / DATABASE)
    for name in SECRETS:
        kept = settings.data_path / name
        if kept.exists():
            shutil.copy2(kept, folder / name)
            (folder / name).chmod(0o600)
    _copy_photos(settings.data_path / PHOTOS, folder / PHOTOS)
    return folder


def _copy_photos(source: Path, target: Path) -> None:
    """Copy the photos `target` lacks. A photo is never changed once written (a new one
    gets a new random name), and appears whole (server/domain/photos.py renames it into place):
    files being written, named `.*.partial`, are left out."""
    if not source.is_dir():
        return
    target.mkdir(mode=0o700, exist_ok=True)
    for photo in source.iterdir():
        if photo.name.startswith("."):
            continue
        if photo.is_file() and not (target / photo.name).exists():
            shutil.copy2(photo, target / photo.name)


class Erased(NamedTuple):
    """One line of the log of erasures (see `Erasure`)."""

    member_id: int
    member_created_at: datetime
    erased_at: datetime


def erasure_log(engine: Engine) -> list[Erased]:
    """The people erased in this database (none before the log existed)."""
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Erasure.member_id, Erasure.member_created_at, Erasure.erased_at)
            ).all()
    except DBAPIError:  # a database from before version 0016 has no log
        return []
    return [Erased(*row) for row in rows]


@dataclass(frozen=True)
class Restored:
    """What a restore did: the copy of the database it replaced (None if there was
    none), and the erasures that database had logged, to apply to the restored one."""

    aside: Path | None
    erasures: list[Erased] = field(default_factory=list)


def restore(
    settings: Installation,
    folder: Path,
    now: datetime,
    lookup_key: Callable[[], bytes] | None = None,
) -> Restored:
    """Put a backup back; what the caller must still do is in `Restored.erasures`."""
    from server.store import migrate
    from server.store.db import make_engine

    database = sqlite_path(settings)
    source = folder / DATABASE
    if not source.is_file():
        raise BackupError(f"{folder} holds no {DATABASE}: is it a presence backup folder?")
    with sqlite3.connect(source) as check:
        if check.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupError(f"{source} is damaged: choose another backup")
    database.parent.mkdir(parents=True, exist_ok=True)
    aside, erasures = None, []
    if database.exists():
        current = make_engine(settings.database_url)
        try:
            erasures = erasure_log(current)
        finally:
            current.dispose()
        aside = database.with_name(f"{database.name}.before-restore-{now:%Y%m%dT%H%M%SZ}")
        _copy(database, aside)
    _copy(source, database)
    # The keys first: bringing an older backup up to date hashes its badges with the
    # lookup key, which must be the one the server will use.
    for name in SECRETS:
        saved, kept = folder / name, settings.data_path / name
        if saved.exists() and not kept.exists():
            shutil.copy2(saved, kept)
            kept.chmod(0o600)
    engine = make_engine(settings.database_url)
    try:
        migrate.upgrade(engine, lookup_key=None if lookup_key is None else lookup_key())
    finally:
        engine.dispose()
    _copy_photos(folder / PHOTOS, settings.data_path / PHOTOS)
    return Restored(aside, erasures)
