"""Baseline: the ledger as ``dsr init`` created it before migrations were versioned (dsr 0.1).

A frozen copy of the tables of that day, not an import of :mod:`dsr.ledger.tables` (which moves
on with later revisions). On a database without a ledger it creates them; on an unversioned
ledger made by an earlier ``dsr init`` it adopts what is there: missing tables and indexes are
created, missing columns (all nullable in that history) are added, and nothing is dropped or
rewritten, so no request, audit entry, hold or restriction is touched.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _tables() -> sa.MetaData:
    md = sa.MetaData()
    c = sa.Column
    sa.Table(
        "dsr_requests",
        md,
        c("id", sa.Integer, primary_key=True, autoincrement=True),
        c("type", sa.String(20), nullable=False),
        c("subject", sa.String(40), nullable=False),
        c("identities_enc", sa.LargeBinary, nullable=False),
        c("received", sa.Date, nullable=False),
        c("verified_by", sa.String(200)),
        c("due", sa.Date, nullable=False),
        c("extended_due", sa.Date),
        c("extension_reason", sa.Text),
        c("extended_at", sa.DateTime),
        c("extension_months", sa.Integer),
        c("status", sa.String(20), nullable=False),
        c("outcome", sa.Text),
        c("outcome_log", sa.Text),
        c("created_at", sa.DateTime, nullable=False),
        c("closed_at", sa.DateTime),
    )
    sa.Table(
        "dsr_audit",
        md,
        c("seq", _BigId, primary_key=True, autoincrement=False),
        c("at", sa.DateTime, nullable=False),
        c("actor", sa.String(100), nullable=False),
        c("action", sa.String(50), nullable=False),
        c("request_id", sa.Integer),
        c("subject", sa.String(40)),
        c("details", sa.Text, nullable=False),
        c("prev_mac", sa.String(64), nullable=False),
        c("mac", sa.String(64), nullable=False),
    )
    sa.Table(
        "dsr_holds",
        md,
        c("id", sa.Integer, primary_key=True, autoincrement=True),
        c("table_name", sa.String(128)),
        c("row_keys", sa.Text),
        c("subject", sa.String(40)),
        c("identities_enc", sa.LargeBinary),
        c("reason", sa.Text, nullable=False),
        c("until", sa.Date),
        c("created_at", sa.DateTime, nullable=False),
        c("released_at", sa.DateTime),
    )
    restrictions = sa.Table(
        "dsr_restrictions",
        md,
        c("id", sa.Integer, primary_key=True, autoincrement=True),
        c("table_name", sa.String(128), nullable=False),
        c("row_key", sa.String(64), nullable=False),
        c("subject", sa.String(40), nullable=False),
        c("reason", sa.Text, nullable=False),
        c("request_id", sa.Integer),
        c("since", sa.DateTime, nullable=False),
        c("until", sa.Date),
        c("lifted_at", sa.DateTime),
        c("informed_at", sa.DateTime),
    )
    sa.Index("ix_dsr_restrictions_table_key", restrictions.c.table_name, restrictions.c.row_key)
    kept = sa.Table(
        "dsr_kept",
        md,
        c("id", sa.Integer, primary_key=True, autoincrement=True),
        c("table_name", sa.String(128), nullable=False),
        c("row_key", sa.String(64), nullable=False),
        c("party", sa.String(64), nullable=False),
        c("identity", sa.String(40), nullable=False),
        c("request_id", sa.Integer),
        c("created_at", sa.DateTime, nullable=False),
    )
    sa.Index("ix_dsr_kept_identity", kept.c.identity)
    sa.Index("ix_dsr_kept_table_key", kept.c.table_name, kept.c.row_key)
    supplements = sa.Table(
        "dsr_supplements",
        md,
        c("id", sa.Integer, primary_key=True, autoincrement=True),
        c("table_name", sa.String(128), nullable=False),
        c("row_key", sa.String(64), nullable=False),
        c("field", sa.String(128), nullable=False),
        c("statement", sa.LargeBinary, nullable=False),
        c("subject", sa.String(40), nullable=False),
        c("created_at", sa.DateTime, nullable=False),
        c("request_id", sa.Integer),
    )
    sa.Index("ix_dsr_supplements_table_key", supplements.c.table_name, supplements.c.row_key)
    sa.Table(
        "dsr_purge_checkpoints",
        md,
        c("id", sa.Integer, primary_key=True, autoincrement=True),
        c("run_id", sa.String(40), nullable=False),
        c("rule", sa.String(128), nullable=False),
        c("table_name", sa.String(128), nullable=False),
        c("as_of", sa.DateTime, nullable=False),
        c("last_key", sa.String(64)),
        c("rows_done", _BigId, nullable=False),
        c("finished_at", sa.DateTime),
        sa.UniqueConstraint("run_id", "rule", "table_name", name="uq_dsr_purge_checkpoint"),
    )
    sa.Table(
        "dsr_settings",
        md,
        c("name", sa.String(64), primary_key=True),
        c("value", sa.String(200), nullable=False),
    )
    sa.Table(
        "dsr_locks",
        md,
        c("name", sa.String(64), primary_key=True),
        c("holder", sa.String(100), nullable=False),
        c("acquired_at", sa.DateTime, nullable=False),
    )
    sa.Table(
        "dsr_exports",
        md,
        c("id", sa.String(40), primary_key=True),
        c("file_name", sa.String(100), nullable=False),
        c("subject", sa.String(40), nullable=False),
        c("request_id", sa.Integer),
        c("created_at", sa.DateTime, nullable=False),
        c("expires_at", sa.DateTime, nullable=False),
        c("downloaded_at", sa.DateTime),
        c("deleted_at", sa.DateTime),
        c("size", _BigId),
    )
    return md


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    for table in _tables().sorted_tables:
        if not inspector.has_table(table.name):
            table.create(bind)  # with its indexes and constraints
            continue
        present = {col["name"] for col in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            if not column.nullable:
                raise RuntimeError(
                    f"{table.name} lacks the column {column.name}, which cannot be added to "
                    "an existing table without a value; this ledger was not made by dsr"
                )
            op.add_column(table.name, sa.Column(column.name, column.type, nullable=True))
        indexes = {ix["name"] for ix in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in indexes:
                op.create_index(index.name, table.name, [col.name for col in index.columns])


def downgrade() -> None:
    for table in reversed(_tables().sorted_tables):
        op.drop_table(table.name)
