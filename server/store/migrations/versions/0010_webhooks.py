"""webhooks, deliveries (webhook calls and e-mails to send), arrival alerts

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("arrival_alerts_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("alert_webhook_url", sa.String(length=500), nullable=True))
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=254), nullable=False),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_webhooks_site_id_sites"),
        sa.PrimaryKeyConstraint("id", name="pk_webhooks"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("webhook_id", sa.Integer(), nullable=True),
        sa.Column("target", sa.String(length=500), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("gave_up_at", sa.DateTime(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            ondelete="SET NULL",
            name="fk_deliveries_webhook_id_webhooks",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.UniqueConstraint("delivery_id", name="uq_deliveries_delivery_id"),
    )
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["delivered_at", "gave_up_at", "next_attempt_at"],
        unique=False,
    )
    op.create_table(
        "arrival_watches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("watcher_id", sa.Integer(), nullable=False),
        sa.Column("watched_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_sent_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["watched_id"], ["members.id"], name="fk_arrival_watches_watched_id_members"
        ),
        sa.ForeignKeyConstraint(
            ["watcher_id"], ["members.id"], name="fk_arrival_watches_watcher_id_members"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_arrival_watches"),
        sa.UniqueConstraint(
            "watcher_id", "watched_id", name="uq_arrival_watches_watcher_id_watched_id"
        ),
    )


def downgrade() -> None:
    op.drop_table("arrival_watches")
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_table("webhooks")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("alert_webhook_url")
        batch.drop_column("arrival_alerts_at")
