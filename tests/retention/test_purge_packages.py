"""``dsr purge`` also deletes expired Art. 20 packages, leaving nothing of them on disk."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from dsr.catalog.loader import load_catalog
from dsr.clock import FixedClock
from dsr.crypto.keys import StaticKeys
from dsr.db import connect
from dsr.demo.data import populate
from dsr.ledger.migrate import create_ledger
from dsr.portability.delivery import deliver
from dsr.portability.storage import DirectoryStorage
from dsr.retention.purge import purge
from dsr.subject.graph import SubjectGraph

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)


def test_expired_package_is_deleted_by_the_purge(db_url: str, tmp_path: Path) -> None:
    engine = connect(db_url)
    people = populate(engine, scale=1, now=NOW.replace(tzinfo=None))
    create_ledger(engine)
    catalog, keys = load_catalog(), StaticKeys(b"p" * 32)
    storage = DirectoryStorage(tmp_path / "packages")
    with engine.begin() as conn:
        delivery = deliver(
            conn,
            catalog,
            SubjectGraph(catalog, engine),
            people.dual_role.identities,
            storage,
            keys,
            clock=FixedClock(NOW),
            expires=timedelta(days=7),
        )
    assert delivery.token and any((tmp_path / "packages").iterdir())

    early = purge(engine, catalog, keys, clock=FixedClock(NOW + timedelta(days=6)), storage=storage)
    assert early.packages_deleted == 0 and any((tmp_path / "packages").iterdir())

    late = purge(engine, catalog, keys, clock=FixedClock(NOW + timedelta(days=8)), storage=storage)
    assert late.packages_deleted == 1
    assert late.to_json()["packages_deleted"] == 1
    assert list((tmp_path / "packages").iterdir()) == []
    engine.dispose()
