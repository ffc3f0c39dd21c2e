"""staff_users.session_generation, members.link_generation: sessions and links that end

A staff session carries its account's session generation, raised at logout and at a
password change, so a copied cookie stops working then. A member's personal link carries
the member's link generation, raised when staff replace the link.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-12 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as table:
        table.add_column(
            sa.Column("session_generation", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("members") as table:
        table.add_column(
            sa.Column("link_generation", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("members") as table:
        table.drop_column("link_generation")
    with op.batch_alter_table("staff_users") as table:
        table.drop_column("session_generation")
