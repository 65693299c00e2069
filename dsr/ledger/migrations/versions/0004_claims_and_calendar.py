"""An answer being approved is claimed first (one approval runs, never two), and the register
records which holiday calendar computed a request's due date.

``dsr_answers.claimed_by`` / ``claimed_at``: set by the approver before the erasure runs or
the link is mailed, cleared if that fails. ``dsr_requests.calendar`` (nullable: requests
registered before keep it unknown): e.g. ``DE-SN``.

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
    with op.batch_alter_table("dsr_answers") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(100), nullable=True))
        batch.add_column(sa.Column("claimed_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("dsr_requests") as batch:
        batch.add_column(sa.Column("calendar", sa.String(60), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dsr_requests") as batch:
        batch.drop_column("calendar")
    with op.batch_alter_table("dsr_answers") as batch:
        batch.drop_column("claimed_at")
        batch.drop_column("claimed_by")
