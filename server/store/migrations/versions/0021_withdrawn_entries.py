"""taps: a staff entry may withdraw a wrong one (`cancels_id`), which then takes no part

Fixing a member's day never edits a stored tap: staff add a `void` entry naming the
entry it withdraws, and the member's visits are replayed without it (see
`server.domain.corrections`).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-14 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | Sequence[str] | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("taps") as batch:
        batch.add_column(sa.Column("cancels_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_taps_cancels_id_taps", "taps", ["cancels_id"], ["id"])
        batch.create_index("ix_taps_cancels_id", ["cancels_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("taps") as batch:
        batch.drop_index("ix_taps_cancels_id")
        batch.drop_constraint("fk_taps_cancels_id_taps", type_="foreignkey")
        batch.drop_column("cancels_id")
