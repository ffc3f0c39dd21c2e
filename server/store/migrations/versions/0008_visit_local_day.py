"""visits: local day and length, kept for reports

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 16:20:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("visits") as batch:
        batch.add_column(sa.Column("local_day", sa.Date(), nullable=True))
        batch.add_column(sa.Column("minutes", sa.Integer(), nullable=True))
    op.create_index("ix_visits_site_day", "visits", ["site_id", "local_day"], unique=False)
    op.create_index("ix_visits_day_member", "visits", ["local_day", "member_id"], unique=False)
    # Existing visits: their day in their site's time zone, their length if ended.
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(
            "SELECT visits.id, visits.checked_in_at, visits.checked_out_at, sites.timezone "
            "FROM visits JOIN sites ON sites.id = visits.site_id"
        )
    ).all()
    update = sa.text("UPDATE visits SET local_day = :day, minutes = :minutes WHERE id = :id")
    for visit_id, checked_in, checked_out, timezone in rows:
        start = _utc(checked_in)
        minutes = None
        if checked_out is not None:
            minutes = int((_utc(checked_out) - start).total_seconds() // 60)
        day = start.astimezone(ZoneInfo(timezone)).date()
        connection.execute(update, {"day": day, "minutes": minutes, "id": visit_id})
    with op.batch_alter_table("visits") as batch:
        batch.alter_column("local_day", existing_type=sa.Date(), nullable=False)


def _utc(value: datetime | str) -> datetime:
    """A stored time (naive UTC; SQLite may hand back text) as an aware datetime."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def downgrade() -> None:
    op.drop_index("ix_visits_day_member", table_name="visits")
    op.drop_index("ix_visits_site_day", table_name="visits")
    with op.batch_alter_table("visits") as batch:
        batch.drop_column("minutes")
        batch.drop_column("local_day")
