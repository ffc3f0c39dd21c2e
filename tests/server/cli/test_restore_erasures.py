"""`presence restore` of a backup taken before an erasure erases the person again."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from presence.cli import main
from server import create_app
from server.domain.members import erase_member
from server.runtime import Runtime
from server.settings import ServerSection, Settings
from server.store import migrate
from server.store.models import Erasure, Member
from tests.conftest import FrozenClock
from tests.factories import make_badge, make_member
from tests.server.domain.test_erasure import EMAIL, FAMILY, NAME, UID, file_traces


def test_a_backup_taken_before_an_erasure_does_not_bring_the_person_back(
    tmp_path: Path, clock: FrozenClock
) -> None:
    database = tmp_path / "presence.db"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[server]\ndata_dir = "{tmp_path}"\ndatabase_url = "sqlite:///{database}"\n'
        'secret_key = "test-secret"\n',
        encoding="utf-8",
    )
    settings = Settings(
        server=ServerSection(
            data_dir=str(tmp_path), database_url=f"sqlite:///{database}", secret_key="test-secret"
        )
    )
    runtime: Runtime = create_app(settings, clock=clock).extensions["presence"]
    migrate.upgrade(runtime.engine)
    with runtime.sessions() as session:
        zoe = make_member(session, given_name=NAME, family_name=FAMILY, email=EMAIL)
        make_badge(session, zoe, value=UID)
        bob = make_member(session, given_name="Bob")
        session.commit()
    runner = CliRunner()

    def presence(*args: str) -> str:
        result = runner.invoke(main, ["--config", str(config), *args])
        assert result.exit_code == 0, result.output
        return result.output

    folder = Path(presence("backup", "--into", str(tmp_path / "saved")).strip())
    with runtime.sessions() as session:
        erase_member(session, session.get(Member, zoe.id), datetime(2026, 12, 1, tzinfo=UTC))
        session.commit()
    runtime.engine.dispose()
    traces = file_traces(folder / "presence.db")
    assert traces >= {NAME, EMAIL} and UID not in traces  # the backup has her, not her UID

    out = presence("restore", str(folder))

    assert "erased again: 1 person(s)" in out
    assert file_traces(database) == set()
    assert file_traces(database.with_name("presence.db-wal")) == set()
    with runtime.sessions() as session:
        back = session.get(Member, zoe.id)
        assert back is not None and back.given_name == "" and back.email is None
        assert back.erased_at == datetime(2026, 12, 1, tzinfo=UTC)  # on the first date
        assert session.get(Member, bob.id).given_name == "Bob"  # type: ignore[union-attr]
        assert session.scalar(select(func.count()).select_from(Erasure)) == 1
    runtime.engine.dispose()

    # The log survived the restore: restoring the same backup again erases her again.
    assert "erased again: 1 person(s)" in presence("restore", str(folder))
    assert file_traces(database) == set()
