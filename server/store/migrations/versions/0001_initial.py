"""Initial schema: sites, members and plans, badges, kiosks, staff, the tap log, visits.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 09:45:37.833286
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("given_name", sa.String(length=100), nullable=False),
        sa.Column("family_name", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("working_on", sa.Text(), nullable=False),
        sa.Column("open_to_chat_about", sa.Text(), nullable=False),
        sa.Column("photo", sa.String(length=300), nullable=True),
        sa.Column(
            "visibility",
            sa.Enum(
                "hidden",
                "first_name",
                "profile",
                name="visibility",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("visibility_consent_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("archived_at", sa.DateTime(), nullable=True),
        sa.Column("erased_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_members")),
        sa.UniqueConstraint("email", name=op.f("uq_members_email")),
    )
    op.create_table(
        "sites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("opening_hours", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
        sa.UniqueConstraint("slug", name=op.f("uq_sites_slug")),
    )
    op.create_table(
        "staff_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "admin",
                "staff",
                name="staff_role",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_users")),
        sa.UniqueConstraint("email", name=op.f("uq_staff_users_email")),
    )
    op.create_table(
        "badges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "nfc", "qr", name="badge_kind", native_enum=False, create_constraint=True, length=16
            ),
            nullable=False,
        ),
        sa.Column("value", sa.String(length=512), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_badges_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_badges")),
    )
    with op.batch_alter_table("badges", schema=None) as batch_op:
        batch_op.create_index("ix_badges_lookup", ["kind", "value"], unique=False)

    op.create_table(
        "kiosks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column(
            "mode",
            sa.Enum(
                "toggle",
                "in",
                "out",
                name="kiosk_mode",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("token_issued_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=True),
        sa.Column("last_version", sa.String(length=40), nullable=True),
        sa.Column("pending_taps", sa.Integer(), nullable=True),
        sa.Column("clock_skew_seconds", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_kiosks_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kiosks")),
        sa.UniqueConstraint("name", name=op.f("uq_kiosks_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_kiosks_token_hash")),
    )
    op.create_table(
        "member_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column(
            "plan",
            sa.Enum(
                "payg",
                "pack",
                "monthly",
                "free",
                name="plan",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_member_plans_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_member_plans")),
        sa.UniqueConstraint(
            "member_id", "starts_on", name=op.f("uq_member_plans_member_id_starts_on")
        ),
    )
    op.create_table(
        "opening_exceptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("hours", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name=op.f("fk_opening_exceptions_site_id_sites"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opening_exceptions")),
        sa.UniqueConstraint("site_id", "day", name=op.f("uq_opening_exceptions_site_id_day")),
    )
    op.create_table(
        "taps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tap_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "badge",
                "staff_in",
                "staff_out",
                "auto_out",
                "void",
                name="tap_kind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("kiosk_id", sa.Integer(), nullable=True),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column(
            "mode",
            sa.Enum(
                "toggle",
                "in",
                "out",
                name="kiosk_mode",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column(
            "badge_kind",
            sa.Enum(
                "nfc", "qr", name="badge_kind", native_enum=False, create_constraint=True, length=16
            ),
            nullable=True,
        ),
        sa.Column("badge_value", sa.String(length=512), nullable=True),
        sa.Column("badge_id", sa.Integer(), nullable=True),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=254), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column(
            "clock",
            sa.Enum(
                "corrected",
                "unverified",
                "implausible",
                "server",
                name="clock_status",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "checked_in",
                "checked_out",
                "duplicate",
                "unknown_badge",
                "revoked",
                "archived",
                "invalid",
                name="outcome",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["badge_id"], ["badges.id"], name=op.f("fk_taps_badge_id_badges")),
        sa.ForeignKeyConstraint(["kiosk_id"], ["kiosks.id"], name=op.f("fk_taps_kiosk_id_kiosks")),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_taps_member_id_members")
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_taps_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_taps")),
        sa.UniqueConstraint("tap_id", name=op.f("uq_taps_tap_id")),
    )
    with op.batch_alter_table("taps", schema=None) as batch_op:
        batch_op.create_index(
            "ix_taps_member_time", ["member_id", "occurred_at", "tap_id"], unique=False
        )
        batch_op.create_index("ix_taps_unknown", ["outcome", "received_at"], unique=False)

    op.create_table(
        "visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("checked_in_at", sa.DateTime(), nullable=False),
        sa.Column("checked_out_at", sa.DateTime(), nullable=True),
        sa.Column("closes_at", sa.DateTime(), nullable=False),
        sa.Column(
            "ended_by",
            sa.Enum(
                "tap",
                "auto",
                "staff",
                name="visit_end",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=True,
        ),
        sa.Column("in_tap_id", sa.Integer(), nullable=False),
        sa.Column("out_tap_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["in_tap_id"], ["taps.id"], name=op.f("fk_visits_in_tap_id_taps")),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_visits_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["out_tap_id"], ["taps.id"], name=op.f("fk_visits_out_tap_id_taps")
        ),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_visits_site_id_sites")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
    )
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.create_index(
            "ix_visits_member_start", ["member_id", "checked_in_at"], unique=False
        )
        batch_op.create_index(
            "ix_visits_present", ["site_id", "checked_out_at", "closes_at"], unique=False
        )
        batch_op.create_index(
            "ix_visits_span", ["site_id", "checked_in_at", "checked_out_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_index("ix_visits_span")
        batch_op.drop_index("ix_visits_present")
        batch_op.drop_index("ix_visits_member_start")

    op.drop_table("visits")
    with op.batch_alter_table("taps", schema=None) as batch_op:
        batch_op.drop_index("ix_taps_unknown")
        batch_op.drop_index("ix_taps_member_time")

    op.drop_table("taps")
    op.drop_table("opening_exceptions")
    op.drop_table("member_plans")
    op.drop_table("kiosks")
    with op.batch_alter_table("badges", schema=None) as batch_op:
        batch_op.drop_index("ix_badges_lookup")

    op.drop_table("badges")
    op.drop_table("staff_users")
    op.drop_table("sites")
    op.drop_table("members")
