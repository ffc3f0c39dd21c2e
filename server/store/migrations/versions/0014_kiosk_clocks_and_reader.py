"""kiosks: what their clocks told us, when a tap could not be placed, their badge reader

The boot a kiosk last spoke from and when it began (in server time), the boot before it,
and the last time the server heard from the kiosk before that boot: taps from an earlier
boot are placed by these (see `presence.place_in_time`). The last time one of its taps
could not be placed in time honestly, and the state of its badge reader, for the staff
dashboard. All empty for existing kiosks until they next speak.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("kiosks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("boot_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("boot_started_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("previous_boot_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("previous_boot_started_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("heard_before_boot_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("clock_doubted_at", sa.DateTime(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "reader",
                sa.Enum(
                    "ok",
                    "gone",
                    "stuck",
                    name="reader_state",
                    native_enum=False,
                    create_constraint=True,
                    length=16,
                ),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("kiosks", schema=None) as batch_op:
        # SQLite's copy of the table would keep the CHECK of a column it no longer has.
        batch_op.drop_constraint(op.f("ck_kiosks_reader_state"), type_="check")
        batch_op.drop_column("reader")
        batch_op.drop_column("clock_doubted_at")
        batch_op.drop_column("heard_before_boot_at")
        batch_op.drop_column("previous_boot_started_at")
        batch_op.drop_column("previous_boot_id")
        batch_op.drop_column("boot_started_at")
        batch_op.drop_column("boot_id")
