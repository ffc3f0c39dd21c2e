"""members: a `search` column (names and e-mail, accents dropped, case folded) for the
staff's search, and an index in the list's order (family name, given name) holding what
the list's filters and search read, so a page of 100,000 members reads the index alone

The column is filled here for the members already stored; from now on the model keeps
it (`server.store.models._fold_names`). A migration does not import the models: the
folding is written out again below, and must stay equal to `models.folded`.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-15 10:00:00
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("search", sa.Text(), server_default="", nullable=False))
        batch.create_index(
            "ix_members_by_name",
            ["family_name", "given_name", "id", "erased_at", "archived_at", "is_guest", "search"],
            unique=False,
        )
    members = sa.table(
        "members",
        sa.column("id", sa.Integer()),
        sa.column("given_name", sa.String()),
        sa.column("family_name", sa.String()),
        sa.column("display_name", sa.String()),
        sa.column("email", sa.String()),
        sa.column("search", sa.Text()),
    )
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.select(
                members.c.id,
                members.c.given_name,
                members.c.family_name,
                members.c.display_name,
                members.c.email,
            )
            .where(members.c.id > last)
            .order_by(members.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        bind.execute(
            members.update().where(members.c.id == sa.bindparam("key")),
            [{"key": row.id, "search": _folded(" ".join(p for p in row[1:] if p))} for row in rows],
        )
        last = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.drop_index("ix_members_by_name")
        batch.drop_column("search")
