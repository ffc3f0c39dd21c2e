"""Migrations and schema.sql: both kept equal to the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from server.store import migrate
from server.store.db import make_engine
from server.store.models import Base
from tests.conftest import ROOT

SCHEMA_FILE = ROOT / "schema.sql"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on a fresh, empty database."""
    created = make_engine(database_url)
    yield created
    created.dispose()


def constraint_names(engine: Engine) -> dict[str, dict[str, list[str]]]:
    """The names of every table's constraints and indexes, as the database reports them."""
    inspector = inspect(engine)
    found: dict[str, dict[str, list[str]]] = {}
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        found[table] = {
            "pk": [str(inspector.get_pk_constraint(table)["name"])],
            "fk": sorted(str(fk["name"]) for fk in inspector.get_foreign_keys(table)),
            "uq": sorted(str(uq["name"]) for uq in inspector.get_unique_constraints(table)),
            "ck": sorted(str(ck["name"]) for ck in inspector.get_check_constraints(table)),
            "ix": sorted(
                str(ix["name"])
                for ix in inspector.get_indexes(table)
                # PostgreSQL lists the index behind each unique constraint as well.
                if not ix["name"] or not ix["name"].startswith("uq_")
            ),
        }
    return found


def model_constraint_names() -> dict[str, dict[str, list[str]]]:
    """The names the models give to every table's constraints and indexes."""
    found: dict[str, dict[str, list[str]]] = {}
    for table in Base.metadata.sorted_tables:
        kinds: dict[str, list[str]] = {"pk": [], "fk": [], "uq": [], "ck": []}
        for constraint in table.constraints:
            kind = str(constraint.name).split("_", 1)[0]
            kinds[kind].append(str(constraint.name))
        found[table.name] = {kind: sorted(names) for kind, names in kinds.items()}
        found[table.name]["ix"] = sorted(str(index.name) for index in table.indexes)
    return found


def test_schema_file_matches_the_models() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == migrate.schema_sql(), (
        "schema.sql is out of date: regenerate it with `presence db schema > schema.sql`"
    )


def test_schema_sql_is_deterministic_and_readable() -> None:
    sql = migrate.schema_sql()
    assert sql == migrate.schema_sql()
    assert sql.startswith("-- ") and "presence db schema" in sql.splitlines()[1]
    statements = sql.split("\n\n")[1:]
    assert len(statements) == len(Base.metadata.tables) + sum(
        len(table.indexes) for table in Base.metadata.tables.values()
    )
    assert all(statement.rstrip("\n").endswith(";") for statement in statements)
    assert sql.endswith(";\n") and not any(line != line.rstrip() for line in sql.splitlines())
    # Dependency order: a table comes after every table it refers to.
    order = [s.split()[2] for s in statements if s.startswith("CREATE TABLE")]
    assert order == [table.name for table in Base.metadata.sorted_tables]


HEAD = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head()


def test_upgrade_brings_a_fresh_database_to_head(engine: Engine) -> None:
    assert migrate.current_revision(engine) is None
    assert not migrate.is_up_to_date(engine)

    migrate.upgrade(engine)

    assert migrate.current_revision(engine) == HEAD
    assert migrate.is_up_to_date(engine)
    # The equivalent of `alembic check`: the migrations produce exactly the models.
    assert migrate.pending_changes(engine) == []
    # Which autogenerate does not compare: the names of CHECK constraints, among others.
    assert constraint_names(engine) == model_constraint_names()


def test_upgrade_twice_is_harmless(engine: Engine) -> None:
    migrate.upgrade(engine)
    migrate.upgrade(engine)

    assert migrate.current_revision(engine) == HEAD
    assert migrate.is_up_to_date(engine)
    assert migrate.pending_changes(engine) == []


def test_an_old_database_is_not_up_to_date_until_upgraded(engine: Engine) -> None:
    migrate.upgrade(engine, "base")
    assert migrate.current_revision(engine) is None
    assert not migrate.is_up_to_date(engine)
    assert migrate.pending_changes(engine) != []

    migrate.upgrade(engine)

    assert migrate.is_up_to_date(engine)
    assert migrate.pending_changes(engine) == []


def test_downgrade_to_base_and_back(engine: Engine) -> None:
    migrate.upgrade(engine)
    config = migrate.alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
    assert migrate.current_revision(engine) is None
    assert inspect(engine).get_table_names() == ["alembic_version"]

    migrate.upgrade(engine)

    assert migrate.is_up_to_date(engine)
    assert migrate.pending_changes(engine) == []


def test_pending_changes_sees_a_database_that_differs(engine: Engine) -> None:
    migrate.upgrade(engine)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_visits_span")

    changes = migrate.pending_changes(engine)

    assert [change[0] for change in changes] == ["add_index"]
    assert migrate.is_up_to_date(engine)  # the revision alone cannot tell


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_schema_sql_creates_the_models_on_postgresql(engine: Engine) -> None:
    statements = migrate.schema_sql().split("\n\n")[1:]
    with engine.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)

    assert migrate.pending_changes(engine) == []
    assert constraint_names(engine) == model_constraint_names()


def test_a_deployed_database_keeps_its_data_through_upgrades(engine: Engine) -> None:
    """A site created under the first schema is still there, untouched, at head."""
    migrate.upgrade(engine, "0001")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO sites (slug, name, timezone, opening_hours, created_at) "
                "VALUES ('cantine', 'La Cantine', 'Europe/Paris', '{}', '2026-01-01 00:00:00')"
            )
        )

    migrate.upgrade(engine)

    with engine.connect() as connection:
        row = connection.execute(text("SELECT slug, name, url, lat FROM sites")).one()
    assert tuple(row) == ("cantine", "La Cantine", None, None)
    assert migrate.is_up_to_date(engine)


def test_visits_get_their_local_day_and_length_when_upgraded(engine: Engine) -> None:
    """Visits written before 0008 get the day they began in their site's time zone (a
    visit at 23:30 UTC in winter is on the next day in Paris) and their length."""
    migrate.upgrade(engine, "0007")
    with engine.begin() as connection:
        for statement in (
            "INSERT INTO sites (id, slug, name, timezone, opening_hours, created_at, board_seq) "
            "VALUES (1, 'cantine', 'La Cantine', 'Europe/Paris', '{}', '2026-01-01 00:00:00', 0)",
            "INSERT INTO members (id, given_name, family_name, display_name, language, skills,"
            " working_on, open_to_chat_about, visibility, created_at) VALUES (1, 'A', '', 'A',"
            " 'fr', '[]', '', '', 'hidden', '2026-01-01 00:00:00')",
            "INSERT INTO taps (id, tap_id, kind, site_id, member_id, reason, occurred_at, clock,"
            " received_at, outcome, response) VALUES (1, '00000000000000000000000000000001',"
            " 'staff_in', 1, 1, '', '2026-11-23 23:30:00', 'server', '2026-11-23 23:30:00',"
            " 'checked_in', '{}')",
            "INSERT INTO visits (member_id, site_id, checked_in_at, checked_out_at, closes_at,"
            " in_tap_id) VALUES (1, 1, '2026-11-23 23:30:00', '2026-11-24 01:15:00',"
            " '2026-11-24 23:00:00', 1)",
        ):
            connection.execute(text(statement))
    migrate.upgrade(engine)
    with engine.connect() as connection:
        day, minutes = connection.execute(text("SELECT local_day, minutes FROM visits")).one()
    assert (str(day), minutes) == ("2026-11-24", 105)


def test_kiosk_taps_get_codes_for_reasons_and_staff_entries_keep_their_text(
    engine: Engine,
) -> None:
    """0013: a kiosk tap's prose reason becomes a code; a staff member's typed reason,
    even one that reads the same, is left as typed."""
    migrate.upgrade(engine, "0012")
    rows = [  # (id, kiosk, reason)
        (1, 1, "guest arrival"),
        (2, 1, "guest arrival (host no longer listed)"),
        (3, 1, "guest departure"),
        (4, 1, "malformed_badge: an NFC UID is written in hexadecimal"),
        (5, 1, "ticket"),
        (6, None, "guest arrival"),
    ]
    with engine.begin() as connection:
        for statement in (
            "INSERT INTO sites (id, slug, name, timezone, opening_hours, created_at, board_seq) "
            "VALUES (1, 'cantine', 'La Cantine', 'Europe/Paris', '{}', '2026-01-01 00:00:00', 0)",
            "INSERT INTO kiosks (id, site_id, name, token_hash, mode, created_at, token_issued_at) "
            "VALUES (1, 1, 'Entrée', 'x', 'toggle', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        ):
            connection.execute(text(statement))
        for id_, kiosk, reason in rows:
            connection.execute(
                text(
                    "INSERT INTO taps (id, tap_id, kind, site_id, kiosk_id, reason, occurred_at,"
                    " clock, received_at, outcome, response) VALUES (:id, :tap, 'void', 1,"
                    " :kiosk, :reason, '2026-11-23 10:00:00', 'server', '2026-11-23 10:00:00',"
                    " 'invalid', '{}')"
                ),
                {"id": id_, "tap": f"{id_:032x}", "kiosk": kiosk, "reason": reason},
            )
    migrate.upgrade(engine)
    with engine.connect() as connection:
        found: dict[int, str] = dict(connection.execute(text("SELECT id, reason FROM taps")).all())
    assert found == {
        1: "guest_arrival",
        2: "guest_arrival_host_gone",
        3: "guest_departure",
        4: "malformed_badge",
        5: "ticket",
        6: "guest arrival",
    }


def test_kiosks_keep_their_rows_through_0014_and_back(engine: Engine) -> None:
    """0014 adds what a kiosk's clocks and reader say, empty until it next speaks; a
    reader state the API does not know is refused by the database too; and going back
    to 0013 leaves the kiosk as it was."""
    migrate.upgrade(engine, "0013")
    with engine.begin() as connection:
        for statement in (
            "INSERT INTO sites (id, slug, name, timezone, opening_hours, created_at, board_seq) "
            "VALUES (1, 'cantine', 'La Cantine', 'Europe/Paris', '{}', '2026-01-01 00:00:00', 0)",
            "INSERT INTO kiosks (id, site_id, name, token_hash, mode, created_at, token_issued_at,"
            " last_seen_at, clock_skew_seconds) VALUES (1, 1, 'Entrée', 'x', 'toggle',"
            " '2026-01-01 00:00:00', '2026-01-01 00:00:00', '2026-12-01 09:00:00', 1.5)",
        ):
            connection.execute(text(statement))

    migrate.upgrade(engine)

    with engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT name, clock_skew_seconds, boot_id, boot_started_at, previous_boot_id,"
                " previous_boot_started_at, heard_before_boot_at, clock_doubted_at, reader"
                " FROM kiosks"
            )
        ).one()
    assert tuple(row) == ("Entrée", 1.5, None, None, None, None, None, None, None)
    with engine.begin() as connection:
        connection.execute(text("UPDATE kiosks SET reader = 'gone', boot_id = 'b1'"))
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(text("UPDATE kiosks SET reader = 'asleep'"))

    config = migrate.alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0013")

    assert migrate.current_revision(engine) == "0013"
    assert "reader" not in {column["name"] for column in inspect(engine).get_columns("kiosks")}
    with engine.connect() as connection:
        row = connection.execute(text("SELECT name, last_seen_at FROM kiosks")).one()
    assert row[0] == "Entrée" and str(row[1]).startswith("2026-12-01 09:00:00")
