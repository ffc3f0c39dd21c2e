"""deliveries: keep no answer text of a webhook call, only a short error code

Before, a failed webhook call kept the first 500 characters of the answer (or of the
connection error) in `last_error`, shown on the staff webhooks page: whatever answered,
even a machine inside, could be read there. Now a call keeps a code (see
`server.domain.outbound`); the texts stored so far become the nearest code. E-mail
deliveries keep theirs (the errors of the space's own mail server).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-12 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CODES = ("invalid_address", "refused_address", "unresolvable", "timeout", "tls_failed")

deliveries = sa.table(
    "deliveries",
    sa.column("channel", sa.String),
    sa.column("last_status", sa.Integer),
    sa.column("last_error", sa.Text),
)


def upgrade() -> None:
    failed = sa.and_(
        deliveries.c.channel == "webhook",
        deliveries.c.last_error != "",
        deliveries.c.last_error.not_in(CODES + ("connection_failed",)),
        ~deliveries.c.last_error.like("http\\_%", escape="\\"),
    )
    status = deliveries.c.last_status
    op.execute(
        deliveries.update()
        .where(failed, status.is_not(None))
        .values(last_error=sa.literal("http_", sa.Text) + sa.cast(status, sa.Text))
    )
    op.execute(
        deliveries.update()
        .where(failed, status.is_(None), deliveries.c.last_error.like("%Timeout%"))
        .values(last_error="timeout")
    )
    op.execute(
        deliveries.update()
        .where(failed, status.is_(None), deliveries.c.last_error.like("SSLError%"))
        .values(last_error="tls_failed")
    )
    op.execute(deliveries.update().where(failed).values(last_error="connection_failed"))


def downgrade() -> None:
    pass  # the texts are gone, and the codes read well enough
