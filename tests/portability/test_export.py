"""Art. 20 export packages on SQLite, PostgreSQL and MariaDB: contents, scope, restriction."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import zipfile
from datetime import datetime, timezone
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from sqlalchemy import Engine, insert

from dsr.catalog.loader import load_catalog
from dsr.catalog.model import Catalog
from dsr.cli import main
from dsr.clock import FixedClock
from dsr.db import connect
from dsr.demo import schema as s
from dsr.errors import ConfigError
from dsr.ledger.migrate import create_ledger
from dsr.ledger.tables import restrictions
from dsr.portability.export import ExportResult, encode_csv, export_package
from dsr.subject.graph import SubjectGraph

CLOCK = FixedClock(datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc))
ANNA = "anna.adler@partner.example"
CARLA = "carla.clausen@kunde.example"
BOB = "bob.bauer@partner.example"
DIETER = "dieter.dorn@partner.example"
TRICKY = 'Azure, "Office"\nline two ],[ null \\ Ünïcødé'
OTHERS = [CARLA, BOB, DIETER, "Carla", "Clausen", "Bauer", "Dorn"]


def seed(engine: Engine) -> None:
    """Anna: employee, creator of Carla's customer record, newsletter subscriber (2 rows)."""
    s.metadata.create_all(engine)
    t = datetime(2026, 7, 1, 10, 30)
    with engine.begin() as conn:
        conn.execute(
            insert(s.partners).values(
                id=1,
                company_name="Partner GmbH",
                street="Weg 1",
                postal_code="04109",
                city="Leipzig",
                country="DE",
                region="Sachsen",
                employee_count=5,
                pc_count=5,
                currency="EUR",
                inquiry_email="info@partner.example",
                registered_at=t,
            )
        )
        conn.execute(
            insert(s.user_accounts),
            [
                {
                    "id": 1,
                    "partner_id": 1,
                    "first_name": "Anna",
                    "last_name": "Adler",
                    "email": ANNA,
                    "password_hash": "h1",
                    "created_at": t,
                },
                {
                    "id": 2,
                    "partner_id": 1,
                    "first_name": "Bob",
                    "last_name": "Bauer",
                    "email": BOB,
                    "password_hash": "h2",
                    "created_at": t,
                },
            ],
        )
        conn.execute(
            insert(s.partner_contacts).values(
                id=1,
                partner_id=1,
                first_name="Dieter",
                last_name="Dorn",
                email=DIETER,
                phone="+4934100000",
                created_at=t,
            )
        )
        conn.execute(
            insert(s.customers).values(
                id=1,
                partner_id=1,
                customer_number="K-1",
                company_name="Kunde AG",
                street="Str 2",
                postal_code="04103",
                city="Leipzig",
                country="DE",
                region="Sachsen",
                markup_percent=5,
                credit_limit_eur=1000,
                contact_first_name="Carla",
                contact_last_name="Clausen",
                contact_email=CARLA,
                contact_phone="+4934111111",
                created_by=1,
                created_at=t,
            )
        )
        conn.execute(
            insert(s.newsletter_subscriptions),
            [
                {
                    "id": 1,
                    "email": ANNA,
                    "first_name": "Anna",
                    "topics": "Microsoft 365",
                    "consented_at": t,
                    "consent_text_version": "v1",
                },
                {
                    "id": 2,
                    "email": ANNA.upper(),
                    "first_name": None,
                    "topics": TRICKY,
                    "consented_at": t,
                    "consent_text_version": "v2",
                },
                {
                    "id": 3,
                    "email": CARLA,
                    "first_name": "Carla",
                    "topics": "Azure",
                    "consented_at": t,
                    "consent_text_version": "v1",
                },
            ],
        )
        conn.execute(
            insert(s.usage_log),
            [
                {
                    "ts": t,
                    "ip": "198.51.100.7",
                    "file_name": "/",
                    "bytes_sent": 10,
                    "status": 200,
                    "user_account_id": uid,
                }
                for uid in (1, 1, 2)
            ],
        )


@pytest.fixture
def engine(db_url: str) -> Engine:
    e = connect(db_url)
    seed(e)
    yield e
    e.dispose()


def export(
    engine: Engine, who: list[str], out: Any, catalog: Catalog | None = None
) -> ExportResult:
    cat = catalog or load_catalog()
    graph = SubjectGraph(cat, engine)
    with engine.begin() as conn:
        return export_package(conn, cat, graph, who, out, clock=CLOCK)


def read_package(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        return {n: zf.read(n) for n in zf.namelist()}


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def as_csv_text(v: Any) -> str:
    return "" if v is None else v if isinstance(v, str) else json.dumps(v)


def test_package_opens_hashes_match_schema_validates_csv_equals_json(
    engine: Engine, tmp_path: Path
) -> None:
    out = tmp_path / "package.zip"
    result = export(engine, [f"email={ANNA}"], out)
    assert result.counts == {"newsletter_subscriptions": 2}
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    files = read_package(out)
    assert set(files) == {
        "README.txt",
        "schema.json",
        "data.json",
        "newsletter_subscriptions.csv",
        "manifest.json",
    }
    manifest = json.loads(files["manifest.json"])
    assert manifest["format_version"] == 1
    assert manifest["controller"]["name"] == "COMPAREX AG"
    assert manifest["identities"] == [f"email={ANNA}"]
    assert manifest["tables"]["newsletter_subscriptions"]["rows"] == 2
    assert set(manifest["files"]) == set(files) - {"manifest.json"}
    for name, meta in manifest["files"].items():
        assert sha256(files[name]).hexdigest() == meta["sha256"]
        assert len(files[name]) == meta["size"]

    data = json.loads(files["data.json"])
    schema = json.loads(files["schema.json"])
    Draft202012Validator.check_schema(schema)
    Draft202012Validator(schema).validate(data)
    props = schema["properties"]["tables"]["properties"]["newsletter_subscriptions"]["items"]
    email = props["properties"]["email"]
    assert email["x-legal-basis"]["article"] == "6(1)(a)"
    assert email["x-source"]["id"] == "data_subject"
    assert email["x-purpose"]["id"] == "newsletter"
    assert email["title"] and email["description"] and email["format"] == "email"

    rows = data["tables"]["newsletter_subscriptions"]
    assert sorted(r["topics"] for r in rows) == sorted(["Microsoft 365", TRICKY])
    # consent evidence was observed, not provided by Anna: not portable
    assert set(rows[0]) == {"email", "first_name", "topics"}
    from_csv = csv_rows(files["newsletter_subscriptions.csv"])
    assert from_csv == [{k: as_csv_text(v) for k, v in r.items()} for r in rows]

    readme = files["README.txt"].decode("utf-8")
    assert "Art. 20 GDPR" in readme and "Art. 20 DSGVO" in readme
    blob = b"".join(files.values()).decode("utf-8").lower()
    for other in OTHERS:
        assert other.lower() not in blob
    assert ANNA in blob


def test_value_types_are_typed_and_dates_iso(engine: Engine, tmp_path: Path) -> None:
    cat = load_catalog()
    purposes = dict(cat.purposes)
    purposes["newsletter"] = dataclasses.replace(purposes["newsletter"], legal_basis="6(1)(a)")
    nl = cat.tables["newsletter_subscriptions"]
    fields = {k: dataclasses.replace(f, portable=True) for k, f in nl.fields.items()}
    tables = {**cat.tables, nl.name: dataclasses.replace(nl, fields=fields)}
    variant = dataclasses.replace(cat, purposes=purposes, tables=tables)
    out = tmp_path / "p.zip"
    export(engine, [f"email={ANNA}"], out, variant)
    files = read_package(out)
    rows = json.loads(files["data.json"])["tables"]["newsletter_subscriptions"]
    # naive DB time is wall-clock time in Europe/Berlin: summer time, UTC+2
    assert {r["consented_at"] for r in rows} == {"2026-07-01T10:30:00+02:00"}
    assert all(r["unsubscribed_at"] is None for r in rows)
    Draft202012Validator(json.loads(files["schema.json"])).validate(json.loads(files["data.json"]))


def test_other_party_fields_on_the_persons_rows_are_masked(engine: Engine, tmp_path: Path) -> None:
    """A variant where customer records are portable: Anna created Carla's record."""
    cat = load_catalog()
    t = cat.tables["customers"]
    purposes = {
        k: dataclasses.replace(p, legal_basis="6(1)(b)", legitimate_interest=None)
        if k in {f.purpose for f in t.fields.values()}
        else p
        for k, p in cat.purposes.items()
    }
    fields = {k: dataclasses.replace(f, portable=True) for k, f in t.fields.items()}
    variant = dataclasses.replace(
        cat,
        purposes=purposes,
        tables={**cat.tables, "customers": dataclasses.replace(t, fields=fields)},
    )
    out = tmp_path / "creator.zip"
    result = export(engine, [f"email={ANNA}"], out, variant)
    assert result.counts["customers"] == 1
    files = read_package(out)
    (row,) = json.loads(files["data.json"])["tables"]["customers"]
    # only the creator's fields: Carla's contact data is not even selected
    assert row == {"company_name": "Kunde AG", "created_by": 1, "created_at": row["created_at"]}
    blob = b"".join(files.values()).decode("utf-8")
    assert CARLA not in blob and "Clausen" not in blob

    # Anna is also the contact of a customer Bob created: both roles, row by row
    with engine.begin() as conn:
        conn.execute(
            insert(s.customers).values(
                id=2,
                partner_id=1,
                customer_number="K-2",
                company_name="Adler KG",
                street="Str 3",
                postal_code="04103",
                city="Leipzig",
                country="DE",
                region="Sachsen",
                markup_percent=5,
                credit_limit_eur=1000,
                contact_first_name="Anna",
                contact_last_name="Adler",
                contact_email=ANNA,
                contact_phone="+4934122222",
                created_by=2,
                created_at=datetime(2026, 8, 1),
            )
        )
    out2 = tmp_path / "both.zip"
    export(engine, [f"email={ANNA}"], out2, variant)
    files = read_package(out2)
    rows = {r["company_name"]: r for r in json.loads(files["data.json"])["tables"]["customers"]}
    assert rows["Kunde AG"]["created_by"] == 1
    assert rows["Kunde AG"]["contact_email"] is None  # Carla's, masked in SQL
    assert rows["Kunde AG"]["contact_last_name"] is None
    assert rows["Adler KG"]["contact_email"] == ANNA
    assert rows["Adler KG"]["created_by"] is None  # Bob's account, masked
    blob = b"".join(files.values()).decode("utf-8")
    assert CARLA not in blob and "Clausen" not in blob
    csv_back = csv_rows(files["customers.csv"])
    assert {r["company_name"]: r["created_by"] for r in csv_back} == {
        "Kunde AG": "1",
        "Adler KG": "",
    }


def test_nothing_portable_writes_nothing_and_says_why(engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "contact.zip"
    result = export(engine, [f"email={DIETER}"], out)
    assert result.nothing_portable and result.found
    assert not out.exists()
    (item,) = result.not_portable
    assert item.table == "partner_contacts" and item.legal_basis == "6(1)(f)"
    assert item.reason == "legal_basis" and "6(1)(f)" in item.message
    assert "none of it is portable" in result.message

    nobody = export(engine, ["email=nobody@nowhere.example"], out)
    assert nobody.nothing_portable and not nobody.found and not out.exists()
    assert "no data about this person" in nobody.message


def test_restricted_rows_are_left_out_and_counted(engine: Engine, tmp_path: Path) -> None:
    create_ledger(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(restrictions).values(
                table_name="newsletter_subscriptions",
                row_key="2",
                subject="ps_x",
                reason="r",
                since=datetime(2026, 11, 1),
            )
        )
        conn.execute(
            insert(restrictions).values(
                table_name="newsletter_subscriptions",
                row_key="1",
                subject="ps_x",
                reason="r",
                since=datetime(2026, 10, 1),
                lifted_at=datetime(2026, 10, 2),
            )
        )
    out = tmp_path / "r.zip"
    result = export(engine, [f"email={ANNA}"], out)
    assert result.counts == {"newsletter_subscriptions": 1}
    assert result.restricted == {"newsletter_subscriptions": 1}
    files = read_package(out)
    assert TRICKY.encode() not in files["data.json"]
    manifest = json.loads(files["manifest.json"])
    assert manifest["tables"]["newsletter_subscriptions"]["restricted_rows"] == 1
    assert "restricted (Art. 18 GDPR)" in files["README.txt"].decode()


def test_file_name_holding_the_identity_is_refused(engine: Engine, tmp_path: Path) -> None:
    out = tmp_path / "anna.adler-export.zip"
    with pytest.raises(ConfigError, match="personal data") as err:
        export(engine, [f"email={ANNA}"], out)
    assert ANNA not in str(err.value)
    assert not out.exists() and os.listdir(tmp_path) == []


def test_export_to_an_unseekable_stream(engine: Engine) -> None:
    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.buf = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, b: Any) -> int:
            self.buf += b
            return len(b)

    pipe = Pipe()
    export(engine, [f"email={ANNA}"], pipe)
    with zipfile.ZipFile(io.BytesIO(bytes(pipe.buf))) as zf:
        assert len(json.loads(zf.read("data.json"))["tables"]["newsletter_subscriptions"]) == 2


def test_cli_export_json_and_exit_codes(
    engine: Engine, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli.zip"
    base = ["--database-url", db_url]
    assert main([*base, "export", f"email={ANNA}", "-o", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["file"] == str(out) and data["expires_at"] is None
    assert data["counts"] == {"newsletter_subscriptions": 2}
    assert main([*base, "export", f"email={DIETER}", "-o", str(tmp_path / "d.zip"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["nothing_portable"] is True and data["file"] is None
    assert data["not_portable"][0]["legal_basis"] == "6(1)(f)"
    assert not (tmp_path / "d.zip").exists()
    assert main([*base, "export", f"email={ANNA}"]) == 2


# -- CSV encoding (no database) -------------------------------------------------------------------


@pytest.mark.parametrize(
    "rows",
    [
        [["a", 1, None, 2.5, True], ["b", -3, "x", None, False]],
        [[TRICKY, "null"], ['"quoted"', None]],
        [["a],[b", 1], ["c", None]],
        [["nullable", None]],
        [["", 0]],
    ],
)
def test_csv_encoding_round_trips(rows: list[list[Any]]) -> None:
    encoded = encode_csv(rows).decode("utf-8")
    assert encoded.endswith("\r\n")
    back = list(csv.reader(io.StringIO(encoded, newline="")))
    assert back == [[as_csv_text(v) for v in r] for r in rows]
    slow = b"".join(encode_csv([r]) for r in rows)
    assert encode_csv(rows) == slow


def test_datetime_columns_get_the_zone_offset_of_each_value() -> None:
    from zoneinfo import ZoneInfo

    from dsr.portability.encoding import DateTimeColumn

    conv = DateTimeColumn(ZoneInfo("Europe/Berlin"))
    winter, summer = "2026-03-28 12:00:00", "2026-03-29 12:00:00"
    expected = ("2026-03-28T12:00:00+01:00", "2026-03-29T12:00:00+02:00")
    assert conv((winter, summer), 0) == expected  # straddles the switch: value by value
    assert conv((summer, summer + ".250000"), 0) == (
        "2026-03-29T12:00:00+02:00",
        "2026-03-29T12:00:00.250000+02:00",
    )
    assert conv((summer + ".000000",) * 2, 0) == ("2026-03-29T12:00:00+02:00",) * 2
    assert conv((winter, None), 1) == ("2026-03-28T12:00:00+01:00", None)
    as_dt = tuple(datetime.fromisoformat(v) for v in (winter, summer))
    assert orjson_values(conv(as_dt, 0)) == list(expected)
    same_day = tuple(datetime(2026, 7, 1, h) for h in (1, 23))
    assert orjson_values(conv(same_day, 0)) == [
        "2026-07-01T01:00:00+02:00",
        "2026-07-01T23:00:00+02:00",
    ]


def orjson_values(values: Any) -> list[Any]:
    import orjson

    return list(orjson.loads(orjson.dumps(list(values))))
