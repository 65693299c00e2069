"""``dsr demo``: build the demo database of the seed system and serve its demo people.

In a directory of its own, on SQLite: the demo database, the toolkit secret, the ledger, and
for each demo person a registered access request answered with an Art. 15 report (JSON, HTML,
PDF); plus the other services run on the dual-role person. File names carry roles, never
personal data.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from dsr.catalog.loader import example_catalog_path, load_catalog
from dsr.catalog.model import Catalog
from dsr.clock import Clock, SystemClock
from dsr.db import connect
from dsr.demo.data import DemoPeople, DemoPerson, populate
from dsr.ledger import init_ledger
from dsr.ledger.audit import verify
from dsr.ledger.keys import FileKeys, KeyProvider
from dsr.ledger.requests import open_request
from dsr.render import render_html, render_json, render_pdf
from dsr.rights.access import access_report, record_access
from dsr.subject.graph import SubjectGraph

SLUGS = {
    "dual_role": "dual-role",
    "employee": "employee",
    "customer_contact": "customer-contact",
    "visitor": "visitor",
    "heavy": "heavy-user",
    "nobody": "unknown-person",
}


@dataclass
class DemoResult:
    database_url: str
    catalog: str
    key_file: str
    files: list[str] = field(default_factory=list)
    people: list[DemoPerson] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "database_url": self.database_url,
            "catalog": self.catalog,
            "key_file": self.key_file,
            "files": self.files,
            "people": [p.to_json() for p in self.people],
            "row_counts": self.row_counts,
        }


@dataclass
class _Demo:
    directory: Path
    engine: Engine
    catalog: Catalog
    keys: KeyProvider
    graph: SubjectGraph
    people: DemoPeople
    clock: Clock
    lang: str
    result: DemoResult
    say: Callable[[str], None]

    def write(self, relative: str, data: bytes | str) -> Path:
        path = self.directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        self.result.files.append(str(path))
        return path

    def write_json(self, relative: str, data: Any) -> Path:
        return self.write(relative, json.dumps(data, indent=2, ensure_ascii=False, default=str))

    def open_request(self, kind: str, person: DemoPerson) -> int:
        today = self.clock.now().astimezone(ZoneInfo(self.catalog.timezone)).date()
        with self.engine.begin() as conn:
            req = open_request(
                conn,
                self.keys,
                self.catalog,
                type=kind,
                identities=person.identities,
                received=today,
                verified_by="demo: identity confirmed by reply from the registered e-mail address",
                clock=self.clock,
            )
        return int(req.id)

    def access(self, key: str, person: DemoPerson) -> None:
        request_id = self.open_request("access", person)
        with self.engine.begin() as conn:
            report = access_report(
                conn,
                self.catalog,
                self.graph,
                person.identities,
                lang=self.lang,
                clock=self.clock,
                request_id=request_id,
            )
            record_access(conn, self.keys, report, clock=self.clock, output_format="json+html+pdf")
        base = f"access/{SLUGS[key]}"
        self.write(f"{base}.json", render_json(report))
        self.write(f"{base}.html", render_html(report))
        self.write(f"{base}.pdf", render_pdf(report))
        self.say(f"access report for the {SLUGS[key]} ({report.row_count} records)")


def run_demo(
    directory: str | Path,
    scale: int = 1,
    *,
    lang: str = "en",
    clock: Clock | None = None,
    say: Callable[[str], None] = lambda _m: None,
) -> DemoResult:
    """Build the demo in ``directory`` (replacing an earlier demo there) and run the services."""
    clock = clock or SystemClock()
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    db = directory / "demo.db"
    for stale in (db, db.with_name("demo.db-wal"), db.with_name("demo.db-shm")):
        stale.unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    engine = connect(url)
    catalog = load_catalog()
    now_local = clock.now().astimezone(ZoneInfo(catalog.timezone)).replace(tzinfo=None)
    say(f"building the demo database (scale {scale})")
    people = populate(engine, scale=scale, now=now_local)
    key_file = directory / "secret.key"
    init_ledger(engine, key_file)
    keys = FileKeys(key_file)
    result = DemoResult(
        database_url=url,
        catalog=str(example_catalog_path()),
        key_file=str(key_file),
        people=people.all(),
        row_counts=people.row_counts,
    )
    demo = _Demo(
        directory, engine, catalog, keys, SubjectGraph(catalog, engine), people, clock, lang,
        result, say,
    )  # fmt: skip
    for key in SLUGS:
        demo.access(key, getattr(people, key))
    with engine.connect() as conn:
        verdict = verify(conn, keys)
    demo.write_json("audit-verify.json", verdict.to_json())
    say(f"audit trail verified: {verdict.entries} entries, ok={verdict.ok}")
    engine.dispose()
    return result
