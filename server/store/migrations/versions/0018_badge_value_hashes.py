"""badges: keep a keyed hash of each value and a short hint, no raw value; taps: the hash

A badge's raw value (an NFC UID in clear, a QR token) is replaced by
HMAC-SHA256(badge lookup key, "kind:value") (`badges.value_hash`, see badges.lookup)
and its last 4 characters (`badges.value_hint`) for staff to tell badges apart. Taps keep
their raw value for `[jobs] retention_days` and now its hash too (`taps.badge_hash`), so
erasing a person still finds the taps of their badges once the raw value is blanked.
The `badge.assign` audit entries keep the hint instead of the value.

The key lives in the data folder (or the configuration), not in the database: the
upgrade gets it from `presence db upgrade` (and `presence restore`, and the embedded
SQLite's upgrade at start), through `config.attributes["badge_lookup_key"]`. A database
holding badges or taps cannot be upgraded without it.

There is no way back: the raw values are gone, `downgrade` refuses (but on a database
without badges).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-13 10:00:00
"""

import hmac
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

badges = sa.table(
    "badges",
    sa.column("id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("value", sa.String),
    sa.column("value_hash", sa.String),
    sa.column("value_hint", sa.String),
)
taps = sa.table(
    "taps",
    sa.column("badge_kind", sa.String),
    sa.column("badge_value", sa.String),
    sa.column("badge_hash", sa.String),
)
audit_log = sa.table(
    "audit_log",
    sa.column("id", sa.Integer),
    sa.column("action", sa.String),
    sa.column("details", sa.JSON),
)


def _hash(key: bytes, kind: str, value: str) -> str:
    # badges.lookup.value_hash, copied: a migration must not change when the code does
    return hmac.new(key, f"{kind}:{value}".encode(), "sha256").hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("badges") as batch:
        batch.add_column(sa.Column("value_hash", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("value_hint", sa.String(length=8), server_default="", nullable=False)
        )
    with op.batch_alter_table("taps") as batch:
        batch.add_column(sa.Column("badge_hash", sa.String(length=64), nullable=True))

    bind = op.get_bind()
    kind = sa.cast(badges.c.kind, sa.String)
    rows = bind.execute(sa.select(badges.c.id, kind, badges.c.value)).all()
    tap_kind = sa.cast(taps.c.badge_kind, sa.String)
    read = bind.execute(
        sa.select(tap_kind, taps.c.badge_value)
        .where(taps.c.badge_kind.is_not(None), taps.c.badge_value.is_not(None))
        .distinct()
    ).all()
    key: bytes = context.config.attributes.get("badge_lookup_key") or b""
    if (rows or read) and not key:
        raise RuntimeError(
            "migration 0018 hashes badge values with the badge lookup key, which is not in "
            "the database: run it with 'presence db upgrade', which reads the key"
        )
    for badge_id, badge_kind, value in rows:
        erased = value.startswith("erased-")  # an erased person's badge: nothing to hash
        bind.execute(
            badges.update()
            .where(badges.c.id == badge_id)
            .values(
                value_hash=value if erased else _hash(key, badge_kind, value),
                value_hint="" if erased else value[-4:],
            )
        )
    for badge_kind, value in read:
        bind.execute(
            taps.update()
            .where(tap_kind == badge_kind, taps.c.badge_value == value)
            .values(badge_hash=_hash(key, badge_kind, value))
        )
    for entry_id, details in bind.execute(
        sa.select(audit_log.c.id, audit_log.c.details).where(audit_log.c.action.like("badge.%"))
    ).all():
        if isinstance(details, dict) and "value" in details:
            kept = {name: item for name, item in details.items() if name != "value"}
            if isinstance(details["value"], str):
                kept["hint"] = details["value"][-4:]
            bind.execute(audit_log.update().where(audit_log.c.id == entry_id).values(details=kept))

    op.drop_index("ix_badges_lookup", table_name="badges")
    with op.batch_alter_table("badges") as batch:
        batch.alter_column("value_hash", existing_type=sa.String(length=64), nullable=False)
        batch.drop_column("value")
    op.create_index("ix_badges_lookup", "badges", ["value_hash"], unique=False)


def downgrade() -> None:
    if op.get_bind().execute(sa.select(sa.func.count()).select_from(badges)).scalar():
        raise RuntimeError(
            "migration 0018 cannot be undone on a database with badges: their values are "
            "kept as keyed hashes only, and the raw values cannot come back; restore a "
            "backup taken before the upgrade instead"
        )
    op.drop_index("ix_badges_lookup", table_name="badges")
    with op.batch_alter_table("taps") as batch:
        batch.drop_column("badge_hash")
    with op.batch_alter_table("badges") as batch:
        batch.add_column(sa.Column("value", sa.String(length=512), nullable=False))
        batch.drop_column("value_hint")
        batch.drop_column("value_hash")
        batch.create_index("ix_badges_lookup", ["kind", "value"], unique=False)
