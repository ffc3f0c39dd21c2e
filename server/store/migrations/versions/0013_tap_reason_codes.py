"""taps.reason: codes instead of prose for the taps kiosks make

A kiosk's tap now stores a code as its reason (`guest_arrival`, `malformed_badge`...);
a staff entry keeps the free text its author typed. Older rows are rewritten the same way.
The stored answer of a tap (`response`, given again on a replay) is left as it was.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: old prose -> code, for rows whose whole reason was the prose
RENAMED = {
    "guest arrival": "guest_arrival",
    "guest arrival (host no longer listed)": "guest_arrival_host_gone",
    "guest departure": "guest_departure",
}
TAPS = sa.table("taps", sa.column("reason", sa.String), sa.column("kiosk_id", sa.Integer))
FROM_KIOSKS = TAPS.c.kiosk_id.is_not(None)  # a staff entry's reason is its author's text


def upgrade() -> None:
    for old, new in RENAMED.items():
        op.execute(TAPS.update().where(FROM_KIOSKS, TAPS.c.reason == old).values(reason=new))
    op.execute(
        TAPS.update()
        .where(FROM_KIOSKS, TAPS.c.reason.like("malformed_badge: %"))
        .values(reason="malformed_badge")
    )


def downgrade() -> None:
    for old, new in RENAMED.items():
        op.execute(TAPS.update().where(FROM_KIOSKS, TAPS.c.reason == new).values(reason=old))
