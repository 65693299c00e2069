"""Secure delivery of export packages: sealing, tokens, single use, expiry, purge."""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from test_export import ANNA, CARLA, CLOCK, DIETER, seed

from dsr.catalog.loader import load_catalog
from dsr.cli import main
from dsr.clock import FixedClock
from dsr.crypto.keys import StaticKeys, derive
from dsr.db import connect
from dsr.errors import ConfigError, DeliveryError
from dsr.ledger import audit
from dsr.ledger.migrate import create_ledger
from dsr.ledger.tables import exports
from dsr.portability.delivery import (
    Delivery,
    deliver,
    download,
    parse_duration,
    purge_expired_packages,
)
from dsr.portability.storage import (
    HEADER_LEN,
    SEGMENT,
    TAG,
    DirectoryStorage,
    SealingWriter,
    unseal_stream,
)
from dsr.subject.graph import SubjectGraph

LATER = FixedClock(CLOCK.now() + timedelta(days=8))


@pytest.fixture
def engine(db_url: str) -> Engine:
    e = connect(db_url)
    seed(e)
    create_ledger(e)
    yield e
    e.dispose()


@pytest.fixture
def storage(tmp_path: Path) -> DirectoryStorage:
    return DirectoryStorage(tmp_path / "store")


def make(
    engine: Engine,
    storage: DirectoryStorage,
    keys: StaticKeys,
    who: str = ANNA,
    clock: FixedClock = CLOCK,
) -> Delivery:
    cat = load_catalog()
    with engine.begin() as conn:
        return deliver(
            conn, cat, SubjectGraph(cat, engine), [f"email={who}"], storage, keys, clock=clock
        )


def stored(storage: DirectoryStorage) -> list[Path]:
    return sorted(storage.path.iterdir()) if storage.path.exists() else []


def test_deliver_seals_at_rest_and_download_restores_the_package(
    engine: Engine, storage: DirectoryStorage, keys: StaticKeys, tmp_path: Path
) -> None:
    d = make(engine, storage, keys)
    assert d.token and d.expires_at == CLOCK.now() + timedelta(days=7)
    (sealed,) = stored(storage)
    assert stat.S_IMODE(storage.path.stat().st_mode) == 0o700
    assert stat.S_IMODE(sealed.stat().st_mode) == 0o600
    assert "anna" not in sealed.name.lower() and d.package_id not in sealed.name
    raw = sealed.read_bytes()
    assert ANNA.encode() not in raw and b"data.json" not in raw
    assert ANNA not in d.token

    out = tmp_path / "got.zip"
    got = download(engine, storage, keys, d.token, out, clock=CLOCK)
    assert got.size == out.stat().st_size
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["tables"]["newsletter_subscriptions"]["rows"] == 2
    # single use: the sealed copy is gone at once
    assert stored(storage) == []
    with engine.connect() as conn:
        row = conn.execute(select(exports)).one()
        assert row.downloaded_at is not None and row.deleted_at is not None
        actions = [r.action for r in conn.execute(select(audit.audit)).all()]
        assert actions == ["export.deliver", "export.download"]
        details = " ".join(r.details for r in conn.execute(select(audit.audit)).all())
        assert "anna" not in details.lower()
        assert audit.verify(conn, keys).ok


def test_reused_token_is_refused_and_writes_nothing(
    engine: Engine, storage: DirectoryStorage, keys: StaticKeys, tmp_path: Path
) -> None:
    d = make(engine, storage, keys)
    assert d.token
    download(engine, storage, keys, d.token, tmp_path / "one.zip", clock=CLOCK)
    with pytest.raises(DeliveryError, match="already used") as err:
        download(engine, storage, keys, d.token, tmp_path / "two.zip", clock=CLOCK)
    assert ANNA not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.zip", "store"]


@pytest.mark.parametrize("part", [1, 2, 3])
def test_tampered_token_is_refused(
    engine: Engine, storage: DirectoryStorage, keys: StaticKeys, tmp_path: Path, part: int
) -> None:
    d = make(engine, storage, keys)
    assert d.token
    pieces = d.token.split(".")
    c = pieces[part][5]
    pieces[part] = pieces[part][:5] + ("1" if c != "1" else "2") + pieces[part][6:]
    with pytest.raises(DeliveryError, match="invalid"):
        download(engine, storage, keys, ".".join(pieces), tmp_path / "x.zip", clock=CLOCK)
    with pytest.raises(DeliveryError, match="invalid"):
        other = StaticKeys(b"o" * 32)
        download(engine, storage, other, d.token, tmp_path / "x.zip", clock=CLOCK)
    assert not (tmp_path / "x.zip").exists()
    # the genuine token still works: a refused attempt does not consume it
    download(engine, storage, keys, d.token, tmp_path / "ok.zip", clock=CLOCK)


def test_expired_token_is_refused_and_purge_leaves_nothing(
    engine: Engine, storage: DirectoryStorage, keys: StaticKeys, tmp_path: Path
) -> None:
    d = make(engine, storage, keys)
    assert d.token and len(stored(storage)) == 1
    with pytest.raises(DeliveryError, match="expired"):
        download(engine, storage, keys, d.token, tmp_path / "late.zip", clock=LATER)
    assert not (tmp_path / "late.zip").exists()
    with engine.begin() as conn:
        assert purge_expired_packages(conn, storage, CLOCK, keys) == 0
    assert len(stored(storage)) == 1
    with engine.begin() as conn:
        assert purge_expired_packages(conn, storage, LATER, keys) == 1
    assert stored(storage) == []
    with engine.begin() as conn:
        assert purge_expired_packages(conn, storage, LATER, keys) == 0
        assert conn.execute(select(exports.c.deleted_at)).scalar_one() is not None
        assert audit.verify(conn, keys).ok


@pytest.mark.parametrize("damage", ["flip", "truncate", "append", "swap_files"])
def test_damaged_sealed_package_fails_with_clear_error_and_no_output(
    engine: Engine, storage: DirectoryStorage, keys: StaticKeys, tmp_path: Path, damage: str
) -> None:
    d = make(engine, storage, keys)
    d2 = make(engine, storage, keys, who=ANNA)
    assert d.token and d2.token
    with engine.connect() as conn:
        names = dict(conn.execute(select(exports.c.id, exports.c.file_name)).all())
    path = storage.path / names[d.package_id]
    blob = bytearray(path.read_bytes())
    if damage == "flip":
        blob[len(blob) // 2] ^= 0x01
    elif damage == "truncate":
        del blob[-20:]
    elif damage == "append":
        blob += b"\x00" * 32
    else:  # another package's file under this package's name
        blob = bytearray((storage.path / names[d2.package_id]).read_bytes())
    path.write_bytes(bytes(blob))
    out = tmp_path / "bad.zip"
    with pytest.raises(DeliveryError, match="truncated|fails to decrypt"):
        download(engine, storage, keys, d.token, out, clock=CLOCK)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["store"]
    with engine.connect() as conn:
        assert (
            conn.execute(
                select(exports.c.downloaded_at).where(exports.c.id == d.package_id)
            ).scalar_one()
            is None
        )


def test_nothing_portable_stores_nothing(
    engine: Engine, storage: DirectoryStorage, keys: StaticKeys
) -> None:
    d = make(engine, storage, keys, who=DIETER)
    assert d.token is None and d.export.nothing_portable
    assert stored(storage) == []
    with engine.connect() as conn:
        assert conn.execute(select(exports)).all() == []
        (entry,) = conn.execute(select(audit.audit)).all()
        assert json.loads(entry.details)["nothing_portable"] is True


def test_cli_deliver_and_download(
    engine: Engine,
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DSR_SECRET", "ab" * 32)
    store = str(tmp_path / "store")
    base = ["--database-url", db_url]
    args = [*base, "export", ANNA, "--deliver", "--expires", "2d", "--export-dir", store]
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["token"] and data["counts"] == {"newsletter_subscriptions": 2}
    left = datetime.fromisoformat(data["expires_at"]) - datetime.now(timezone.utc)
    assert timedelta(days=2) - timedelta(minutes=5) < left <= timedelta(days=2)
    out = tmp_path / "mine.zip"
    dl = [*base, "download", data["token"], "-o", str(out), "--export-dir", store]
    assert main(dl) == 0
    assert zipfile.is_zipfile(out)
    capsys.readouterr()
    again = [*base, "download", data["token"], "-o", str(tmp_path / "again.zip")]
    assert main([*again, "--export-dir", store]) == 1
    err = capsys.readouterr().err
    assert "already used" in err and ANNA not in err
    assert not (tmp_path / "again.zip").exists()


# -- the segmented AEAD (no database) -------------------------------------------------------------


def seal(data: bytes, key: bytes, context: bytes = b"pkg") -> bytes:
    sink = io.BytesIO()
    w = SealingWriter(sink, key, context)
    for i in range(0, len(data), 70_000):
        w.write(data[i : i + 70_000])
    w.close()
    return sink.getvalue()


def unseal(blob: bytes, key: bytes, context: bytes = b"pkg") -> bytes:
    return b"".join(unseal_stream(io.BytesIO(blob), key, context))


@pytest.mark.parametrize("size", [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT + 5])
def test_sealing_round_trips(size: int) -> None:
    key = os.urandom(32)
    data = os.urandom(size)
    blob = seal(data, key)
    segments = max(1, -(-size // SEGMENT))
    assert len(blob) == HEADER_LEN + size + TAG * segments
    assert unseal(blob, key) == data


def test_sealing_detects_truncation_reordering_and_context() -> None:
    key = os.urandom(32)
    data = os.urandom(3 * SEGMENT + 100)
    blob = seal(data, key)
    seg = SEGMENT + TAG
    body = blob[HEADER_LEN:]
    parts = [body[i : i + seg] for i in range(0, len(body), seg)]
    header = blob[:HEADER_LEN]
    broken = {
        "cut at a segment boundary": header + b"".join(parts[:2]),
        "last segment dropped": header + b"".join(parts[:3]),
        "cut mid-segment": blob[: HEADER_LEN + seg + 100],
        "segments swapped": header + parts[1] + parts[0] + parts[2] + parts[3],
        "header altered": blob[:8] + bytes([blob[8] ^ 1]) + blob[9:],
        "appended": blob + parts[3],
        "empty": b"",
    }
    for what, bad in broken.items():
        with pytest.raises(DeliveryError):
            unseal(bad, key)
            pytest.fail(what)
    with pytest.raises(DeliveryError, match="fails to decrypt"):
        unseal(blob, key, b"another package")
    with pytest.raises(DeliveryError, match="fails to decrypt"):
        unseal(blob, derive(StaticKeys(b"z" * 32), "storage"))


def test_expiry_option() -> None:
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration("12h") == timedelta(hours=12)
    for bad in ("0d", "31d", "7 days", "-1d"):
        with pytest.raises(ConfigError, match="--expires|duration|30 days"):
            parse_duration(bad)


def test_default_storage_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DSR_EXPORT_DIR", str(tmp_path / "x"))
    assert DirectoryStorage().path == tmp_path / "x"
    monkeypatch.delenv("DSR_EXPORT_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert DirectoryStorage().path == tmp_path / "data" / "dsr" / "exports"


def test_request_outcome_is_recorded(
    engine: Engine, storage: DirectoryStorage, keys: StaticKeys
) -> None:
    from datetime import date

    from dsr.ledger.requests import get_request, open_request

    cat = load_catalog()
    with engine.begin() as conn:
        req = open_request(
            conn,
            keys,
            cat,
            type="portability",
            identities=[f"email={ANNA}"],
            received=date(2026, 11, 20),
            clock=CLOCK,
        )
        d = deliver(
            conn,
            cat,
            SubjectGraph(cat, engine),
            [f"email={ANNA}"],
            storage,
            keys,
            clock=CLOCK,
            request_id=req.id,
        )
    assert d.token
    with engine.connect() as conn:
        got = get_request(conn, keys, req.id)
        (entry,) = got.outcome_log
        assert entry["action"] == "export.deliver"
        assert entry["summary"]["rows"] == 2 and entry["summary"]["package"] == d.package_id
        assert got.status == "in_progress"
        assert conn.execute(select(exports.c.request_id)).scalar_one() == req.id


def test_erasure_removes_the_persons_delivered_package_and_refuses_its_token(
    engine: Engine, storage: DirectoryStorage, keys: StaticKeys, tmp_path: Path
) -> None:
    from dsr.rights.erase import erase

    mine = make(engine, storage, keys)
    other = make(engine, storage, keys, who=CARLA)
    assert mine.token and other.token and len(stored(storage)) == 2
    plan = erase(engine, load_catalog(), keys, [f"email={ANNA}"], clock=CLOCK, storage=storage)
    assert len(plan.packages) == 1 and plan.to_json()["packages_erased"] == 1
    assert len(stored(storage)) == 1  # Carla's package stays
    with pytest.raises(DeliveryError):
        download(engine, storage, keys, mine.token, tmp_path / "a.zip", clock=CLOCK)
    assert not (tmp_path / "a.zip").exists()
    download(engine, storage, keys, other.token, tmp_path / "b.zip", clock=CLOCK)
    assert zipfile.ZipFile(tmp_path / "b.zip").testzip() is None
