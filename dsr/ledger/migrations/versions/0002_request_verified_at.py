"""The register records when a person's identity was verified, and lists by status quickly.

``dsr_requests.verified_at`` (nullable: requests registered before stay as they were, their
verification time unknown) and an index on ``(status, due)`` for ``dsr request list``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dsr_requests") as batch:
        batch.add_column(sa.Column("verified_at", sa.DateTime(), nullable=True))
    op.create_index("ix_dsr_requests_status_due", "dsr_requests", ["status", "due"])


def downgrade() -> None:
    op.drop_index("ix_dsr_requests_status_due", table_name="dsr_requests")
    with op.batch_alter_table("dsr_requests") as batch:
        batch.drop_column("verified_at")
