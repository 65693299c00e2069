"""Fixtures of the rights tests: the small seed system of ``_rights_seed`` with a ledger."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _rights_seed import seed
from sqlalchemy import Engine

from dsr.db import connect
from dsr.ledger.migrate import create_ledger


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    e = connect(db_url)
    seed(e)
    create_ledger(e)
    yield e
    e.dispose()
