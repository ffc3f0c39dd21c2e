"""`presence restore` of a backup from before 0018 hashes its badges with the backup's
lookup key, put back first, so the badges still open after the restore."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from presence.cli import main
from server.store.db import make_engine, make_session_factory
from server.store.models import Badge
from tests.server.store.test_badge_hashes_migration import KEY, UID, _at_0017_with_badges, _hash


def test_a_backup_from_before_0018_is_hashed_with_its_own_key(tmp_path: Path) -> None:
    saved = tmp_path / "saved"
    saved.mkdir()
    engine = make_engine(f"sqlite:///{saved / 'presence.db'}")
    _at_0017_with_badges(engine)
    engine.dispose()
    (saved / "badge_lookup_key").write_text(KEY.hex())
    data = tmp_path / "data"
    data.mkdir()
    config = tmp_path / "config.toml"
    config.write_text(
        f'[server]\ndata_dir = "{data}"\ndatabase_url = "sqlite:///{data / "presence.db"}"\n'
        'secret_key = "test-secret"\n',
        encoding="utf-8",
    )

    result = CliRunner().invoke(main, ["--config", str(config), "restore", str(saved)])

    assert result.exit_code == 0, result.output
    assert (data / "badge_lookup_key").read_text() == KEY.hex()
    engine = make_engine(f"sqlite:///{data / 'presence.db'}")
    with make_session_factory(engine, KEY)() as session:
        assert session.scalar(select(Badge.value_hash).where(Badge.id == 1)) == _hash("nfc", UID)
    engine.dispose()
