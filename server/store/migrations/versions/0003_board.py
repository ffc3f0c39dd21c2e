"""board: display tokens, change numbers, consent to be named on the internet

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 12:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("display_token_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("board_seq", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_sites_display_token_hash"), ["display_token_hash"]
        )
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("internet_consent_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_column("internet_consent_at")
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_sites_display_token_hash"), type_="unique")
        batch_op.drop_column("board_seq")
        batch_op.drop_column("display_token_hash")
