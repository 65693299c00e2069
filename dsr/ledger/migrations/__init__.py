"""Alembic migrations of the ``dsr_*`` tables (see :mod:`dsr.ledger.migrate`)."""
