"""site public details

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 11:36:32.966880
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("url", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("logo_url", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("contact_email", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("address", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("lat", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("lon", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("lon")
        batch_op.drop_column("lat")
        batch_op.drop_column("address")
        batch_op.drop_column("contact_email")
        batch_op.drop_column("logo_url")
        batch_op.drop_column("url")
