"""erasures: the people erased, so that restoring an older backup erases them again

One row per erasure: the tombstone's member id, when that member row was made (a later
member given the same id is someone else) and when the person was erased. No name, no
e-mail, no badge value. Empty for erasures made before this version.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-14 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("member_created_at", sa.DateTime(), nullable=False),
        sa.Column("erased_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasures")),
        sa.UniqueConstraint(
            "member_id", "member_created_at", name=op.f("uq_erasures_member_id_member_created_at")
        ),
    )


def downgrade() -> None:
    op.drop_table("erasures")
