"""billing: pack purchases, closed monthly statements, closed months

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pack_purchases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("bought_on", sa.Date(), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("recorded_by", sa.String(length=254), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_pack_purchases_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pack_purchases")),
    )
    op.create_index(
        "ix_pack_purchases_member", "pack_purchases", ["member_id", "bought_on"], unique=False
    )
    op.create_table(
        "statements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("member_name", sa.String(length=210), nullable=False),
        sa.Column("total_cents", sa.Integer(), nullable=False),
        sa.Column("vat_cents", sa.Integer(), nullable=False),
        sa.Column("credits_left", sa.Integer(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=False),
        sa.Column("closed_by", sa.String(length=254), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_statements_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statements")),
        sa.UniqueConstraint("member_id", "month", name=op.f("uq_statements_member_id_month")),
    )
    op.create_table(
        "billing_closures",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=False),
        sa.Column("closed_by", sa.String(length=254), nullable=False),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_billing_closures")),
    )


def downgrade() -> None:
    op.drop_table("billing_closures")
    op.drop_table("statements")
    op.drop_index("ix_pack_purchases_member", table_name="pack_purchases")
    op.drop_table("pack_purchases")
