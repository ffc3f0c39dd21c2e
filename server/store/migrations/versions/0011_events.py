"""events and their tickets; taps of tickets

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("brought_by", sa.String(length=16), nullable=False),
        sa.Column("open_to_all", sa.Boolean(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_events_site_id_sites"),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_site_start", "events", ["site_id", "starts_at"], unique=False)
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("token", sa.String(length=200), nullable=False),
        sa.Column("walk_in", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("checked_in_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], name="fk_tickets_event_id_events"),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
    )
    op.create_index("ix_tickets_event", "tickets", ["event_id", "checked_in_at"], unique=False)
    with op.batch_alter_table("taps") as batch:
        batch.add_column(sa.Column("ticket_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_taps_ticket_id_tickets", "tickets", ["ticket_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("taps") as batch:
        batch.drop_constraint("fk_taps_ticket_id_tickets", type_="foreignkey")
        batch.drop_column("ticket_id")
    op.drop_index("ix_tickets_event", table_name="tickets")
    op.drop_table("tickets")
    op.drop_index("ix_events_site_start", table_name="events")
    op.drop_table("events")
