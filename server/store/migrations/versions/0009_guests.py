"""guests: guest members, their days and one-day passes, hosts' consent, sponsors

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(
            sa.Column("is_guest", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("became_member_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("host_consent_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("sponsor_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_members_sponsor_id_members", "members", ["sponsor_id"], ["id"])
    with op.batch_alter_table("badges") as batch:
        batch.add_column(sa.Column("valid_on", sa.Date(), nullable=True))
    op.create_table(
        "guest_days",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("guest_id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=True),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("badge_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.ForeignKeyConstraint(["badge_id"], ["badges.id"], name="fk_guest_days_badge_id_badges"),
        sa.ForeignKeyConstraint(
            ["guest_id"], ["members.id"], name="fk_guest_days_guest_id_members"
        ),
        sa.ForeignKeyConstraint(["host_id"], ["members.id"], name="fk_guest_days_host_id_members"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_guest_days_site_id_sites"),
        sa.PrimaryKeyConstraint("id", name="pk_guest_days"),
        sa.UniqueConstraint(
            "guest_id", "site_id", "day", name="uq_guest_days_guest_id_site_id_day"
        ),
    )
    op.create_index("ix_guest_days_host_day", "guest_days", ["host_id", "day"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_guest_days_host_day", table_name="guest_days")
    op.drop_table("guest_days")
    with op.batch_alter_table("badges") as batch:
        batch.drop_column("valid_on")
    with op.batch_alter_table("members") as batch:
        batch.drop_constraint("fk_members_sponsor_id_members", type_="foreignkey")
        batch.drop_column("sponsor_id")
        batch.drop_column("host_consent_at")
        batch.drop_column("became_member_at")
        batch.drop_column("is_guest")
