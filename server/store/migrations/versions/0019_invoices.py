"""invoices: members' billing details, invoices and credit notes, their counters, payments

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 01:00:00
"""

import sqlite3
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BILLING_COLUMNS = (
    ("billing_name", 200, ""),
    ("billing_company", 200, ""),
    ("billing_siren", 14, ""),
    ("billing_street", 200, ""),
    ("billing_postcode", 16, ""),
    ("billing_city", 100, ""),
    ("billing_country", 2, "FR"),
)


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        for name, length, default in BILLING_COLUMNS:
            batch.add_column(
                sa.Column(name, sa.String(length=length), server_default=default, nullable=False)
            )
    op.create_table(
        "invoice_counters",
        sa.Column("entity", sa.String(length=14), nullable=False),
        sa.Column("series", sa.String(length=4), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("entity", "series", name=op.f("pk_invoice_counters")),
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(length=14), nullable=False),
        sa.Column("series", sa.String(length=4), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "invoice",
                "credit_note",
                name="invoice_kind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("statement_id", sa.Integer(), nullable=True),
        sa.Column("corrects_id", sa.Integer(), nullable=True),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("total_cents", sa.Integer(), nullable=False),
        sa.Column("vat_cents", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.Column("issued_by", sa.String(length=254), nullable=False),
        sa.ForeignKeyConstraint(
            ["corrects_id"], ["invoices.id"], name=op.f("fk_invoices_corrects_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_invoices_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["statement_id"], ["statements.id"], name=op.f("fk_invoices_statement_id_statements")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint(
            "entity", "series", "number", name=op.f("uq_invoices_entity_series_number")
        ),
    )
    op.create_index("ix_invoices_member", "invoices", ["member_id"], unique=False)
    op.create_index("ix_invoices_month", "invoices", ["month"], unique=False)
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column(
            "method",
            sa.Enum(
                "cash",
                "card",
                "transfer",
                "helloasso",
                "cheque",
                name="payment_method",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=254), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_payments_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
    )
    op.create_index("ix_payments_invoice", "payments", ["invoice_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_payments_invoice", table_name="payments")
    op.drop_table("payments")
    op.drop_index("ix_invoices_month", table_name="invoices")
    op.drop_index("ix_invoices_member", table_name="invoices")
    op.drop_table("invoices")
    op.drop_table("invoice_counters")
    # SQLite since 3.35 drops a column in place: copying `members` (batch mode's way)
    # would drop the old table, which rows of other tables refer to.
    native = op.get_bind().dialect.name != "sqlite" or sqlite3.sqlite_version_info >= (3, 35)
    with op.batch_alter_table("members", recreate="never" if native else "auto") as batch:
        for name, _length, _default in reversed(BILLING_COLUMNS):
            batch.drop_column(name)
