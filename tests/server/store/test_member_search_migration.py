"""0022 fills the members' search column (names and e-mail, folded as the model folds
them), so people stored before it are found like everyone else."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import Engine, text

from server.store import migrate
from server.store.db import make_engine
from server.store.models import member_search_text


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    created = make_engine(database_url)
    yield created
    created.dispose()


def test_the_migration_fills_the_search_column_of_the_members_already_there(
    engine: Engine,
) -> None:
    migrate.upgrade(engine, "0021")
    people = [
        (1, "Héloïse", "Fournier", "Élo", "heloise@example.org"),
        (2, "ANAÏS", "Nin", "", None),
        (3, "", "", "", None),  # an erased person's tombstone
    ]
    with engine.begin() as db:
        for member_id, given, family, display, email in people:
            db.execute(
                text(
                    "INSERT INTO members (id, given_name, family_name, display_name, email,"
                    " language, skills, working_on, open_to_chat_about, visibility, created_at)"
                    " VALUES (:id, :given, :family, :display, :email, 'fr', '[]', '', '',"
                    " 'hidden', :now)"
                ),
                {
                    "id": member_id,
                    "given": given,
                    "family": family,
                    "display": display,
                    "email": email,
                    "now": datetime(2026, 11, 1),
                },
            )

    migrate.upgrade(engine)

    with engine.connect() as db:
        rows = db.execute(text("SELECT id, search FROM members ORDER BY id")).all()
    found: dict[int, str] = {member_id: search for member_id, search in rows}
    assert found == {
        1: "heloise fournier elo heloise@example.org",
        2: "anais nin",
        3: "",
    }
    assert found == {m: member_search_text(*rest) for m, *rest in people}
