"""0016 adds the log of erasures, empty; going back to 0015 drops it and nothing else."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from server.store import migrate
from server.store.db import make_engine


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    created = make_engine(database_url)
    yield created
    created.dispose()


def test_the_erasure_log_comes_with_0016_and_goes_with_it(engine: Engine) -> None:
    migrate.upgrade(engine, "0015")
    assert "erasures" not in inspect(engine).get_table_names()

    migrate.upgrade(engine, "0016")

    row = "INSERT INTO erasures (member_id, member_created_at, erased_at) VALUES (7, '2026-01-01 00:00:00', '2026-12-01 00:00:00')"  # noqa: E501
    with engine.begin() as connection:
        connection.execute(text(row))
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(text(row))  # one line per person
    config = migrate.alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0015")
    assert migrate.current_revision(engine) == "0015"
    assert "erasures" not in inspect(engine).get_table_names()
    assert "members" in inspect(engine).get_table_names()
