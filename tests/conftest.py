"""Fixtures: every database test runs on SQLite, PostgreSQL and MariaDB.

Each test (or module, for read-only fixtures) gets a database of its own, created and dropped
here, so runs never collide or leave data. Where a server is unreachable the test is skipped
with the reason; with ``DSR_REQUIRE_ALL_DATABASES=1`` (CI sets it) that is a failure instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from dsr.catalog.loader import load_catalog
from dsr.catalog.model import Catalog
from dsr.crypto.keys import StaticKeys
from dsr.db import connect

BACKENDS = ("sqlite", "postgresql", "mariadb")
SERVER_URLS = {
    "postgresql": os.environ.get(
        "DSR_TEST_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
    "mariadb": os.environ.get("DSR_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}
REQUIRE_ALL = os.environ.get("DSR_REQUIRE_ALL_DATABASES") == "1"


def _unavailable(backend: str, reason: str) -> None:
    message = f"{backend} unreachable: {reason}"
    if REQUIRE_ALL:
        pytest.fail(message + " (DSR_REQUIRE_ALL_DATABASES=1 forbids skipping)", pytrace=False)
    pytest.skip(message)


@contextmanager
def fresh_database(backend: str, tmp_dir: str) -> Iterator[str]:
    """A new, empty database on ``backend``; yields its URL and drops it afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_dir}/dsr-test-{uuid.uuid4().hex[:8]}.db"
        return
    name = f"dsr_t_{uuid.uuid4().hex[:12]}"
    admin_url = SERVER_URLS[backend]
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
    except Exception as exc:  # noqa: BLE001 - any connection failure means "unreachable"
        _unavailable(backend, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        return
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :n AND pid <> pg_backend_pid()"
                    ),
                    {"n": name},
                )
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


@pytest.fixture(scope="session", autouse=True)
def _own_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """dsr's cache (validated catalogs) in a directory of the run's own, never in ~/.cache."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty database of its own for one test, on each backend."""
    with fresh_database(backend, str(tmp_path_factory.mktemp("db"))) as url:
        yield url


@pytest.fixture(scope="module", params=BACKENDS)
def module_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty database shared by one test module (for read-only tests), on each backend."""
    with fresh_database(str(request.param), str(tmp_path_factory.mktemp("db"))) as url:
        yield url


@pytest.fixture
def keys() -> StaticKeys:
    return StaticKeys(b"k" * 32)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The example catalog (policies/comparex.yaml: the seed system); a module that tests its
    own schema defines its own ``catalog``."""
    return load_catalog()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on the test's empty database (tests/rights seeds it; modules with a schema
    of their own define their own ``engine``)."""
    e = connect(db_url)
    yield e
    e.dispose()
