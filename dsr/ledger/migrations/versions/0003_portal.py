"""The portal and console (``dsr serve``): the person's message and language with a
request, identity
verifications, staff and their sessions,
answers prepared and approved, and the media type of a sealed delivery (a report, not only a
package).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dsr_requests") as batch:
        batch.add_column(sa.Column("message_enc", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("lang", sa.String(5), nullable=True))
    with op.batch_alter_table("dsr_exports") as batch:
        batch.add_column(sa.Column("media_type", sa.String(100), nullable=True))
    op.create_table(
        "dsr_verifications",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("identity", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("method", sa.String(200), nullable=False),
        sa.Column("code_mac", sa.String(64)),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("verified_at", sa.DateTime()),
        sa.Column("verified_by", sa.String(100)),
    )
    op.create_index(
        "ix_dsr_verifications_identity", "dsr_verifications", ["identity", "created_at"]
    )
    op.create_index("ix_dsr_verifications_request", "dsr_verifications", ["request_id"])
    op.create_table(
        "dsr_staff",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("disabled_at", sa.DateTime()),
    )
    op.create_table(
        "dsr_staff_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "dsr_answers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("package_id", sa.String(40)),
        sa.Column("token_enc", sa.LargeBinary()),
        sa.Column("prepared_by", sa.String(100), nullable=False),
        sa.Column("prepared_at", sa.DateTime(), nullable=False),
        sa.Column("approved_by", sa.String(100)),
        sa.Column("approved_at", sa.DateTime()),
        sa.Column("withdrawn_at", sa.DateTime()),
    )
    op.create_index("ix_dsr_answers_request", "dsr_answers", ["request_id"])


def downgrade() -> None:
    op.drop_index("ix_dsr_answers_request", table_name="dsr_answers")
    op.drop_table("dsr_answers")
    op.drop_table("dsr_staff_sessions")
    op.drop_table("dsr_staff")
    op.drop_index("ix_dsr_verifications_request", table_name="dsr_verifications")
    op.drop_index("ix_dsr_verifications_identity", table_name="dsr_verifications")
    op.drop_table("dsr_verifications")
    with op.batch_alter_table("dsr_exports") as batch:
        batch.drop_column("media_type")
    with op.batch_alter_table("dsr_requests") as batch:
        batch.drop_column("lang")
        batch.drop_column("message_enc")
