"""An answer being approved is claimed first (one approval runs, never two), the register
records which holiday calendar computed a request's due date, and erased people are
suppressed (not re-created by importers), and every erasure leaves a receipt.

``dsr_answers.claimed_by`` / ``claimed_at``: set by the approver before the erasure runs or
the link is mailed, cleared if that fails. ``dsr_requests.calendar`` (nullable: requests
registered before keep it unknown): e.g. ``DE-SN``. ``dsr_suppressions``: one keyed pseudonym
per identity of an erased person. ``dsr_receipts``: proof of each erasure, its hash in the
audit entry.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # written to be rerun on what an earlier attempt (or an earlier draft of 0004) left
    inspector = sa.inspect(op.get_bind())
    answers = {c["name"] for c in inspector.get_columns("dsr_answers")}
    if "claimed_by" not in answers:
        with op.batch_alter_table("dsr_answers") as batch:
            batch.add_column(sa.Column("claimed_by", sa.String(100), nullable=True))
            batch.add_column(sa.Column("claimed_at", sa.DateTime(), nullable=True))
    if "calendar" not in {c["name"] for c in inspector.get_columns("dsr_requests")}:
        with op.batch_alter_table("dsr_requests") as batch:
            batch.add_column(sa.Column("calendar", sa.String(60), nullable=True))
    if not inspector.has_table("dsr_suppressions"):
        _suppressions()
    if not inspector.has_table("dsr_receipts"):
        _receipts()


def _suppressions() -> None:
    op.create_table(
        "dsr_suppressions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("identity", sa.String(40), nullable=False),
        sa.Column("identity_type", sa.String(40), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("request_id", sa.Integer()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("lifted_at", sa.DateTime()),
        sa.Column("lifted_reason", sa.Text()),
    )
    op.create_index("ix_dsr_suppressions_identity", "dsr_suppressions", ["identity"])


def _receipts() -> None:
    op.create_table(
        "dsr_receipts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("request_id", sa.Integer()),
        sa.Column("subject", sa.String(40)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dsr_receipts")
    op.drop_index("ix_dsr_suppressions_identity", table_name="dsr_suppressions")
    op.drop_table("dsr_suppressions")
    with op.batch_alter_table("dsr_requests") as batch:
        batch.drop_column("calendar")
    with op.batch_alter_table("dsr_answers") as batch:
        batch.drop_column("claimed_at")
        batch.drop_column("claimed_by")
