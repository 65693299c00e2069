"""Alembic environment of dsr's ledger: runs on the connection :mod:`dsr.ledger.migrate` passes.

There is no ``alembic.ini``: ``dsr migrate`` (or ``dsr init --upgrade``) builds the
configuration in code. The version table is ``dsr_schema_version``, so a database whose own
schema is managed by Alembic keeps its ``alembic_version`` untouched.
"""

from __future__ import annotations

from alembic import context

from dsr.ledger.migrate import VERSION_TABLE
from dsr.ledger.tables import ledger_metadata


def _ours(name: str | None, type_: str, parent_names: object) -> bool:
    # the application's own tables are not ours to compare or migrate
    return type_ != "table" or bool(name and name.startswith("dsr_"))


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=ledger_metadata,
    version_table=VERSION_TABLE,
    include_name=_ours,
    transaction_per_migration=True,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
