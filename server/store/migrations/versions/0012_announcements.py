"""announcements: the boards' strip and the public page

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "announcements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=280), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("proposed_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=254), nullable=True),
        sa.ForeignKeyConstraint(
            ["proposed_by_id"], ["members.id"], name="fk_announcements_proposed_by_id_members"
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_announcements_site_id_sites"),
        sa.PrimaryKeyConstraint("id", name="pk_announcements"),
    )
    op.create_index(
        "ix_announcements_shown", "announcements", ["status", "expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_announcements_shown", table_name="announcements")
    op.drop_table("announcements")
