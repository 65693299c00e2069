"""``dsr demo``: build the demo database of the seed system and serve its demo people.

In a directory of its own, on SQLite: the demo database, the toolkit secret and the ledger;
then, as an organisation would run them: the nightly retention purge (plan and run), for each
demo person a registered access request answered with an Art. 15 report (JSON, HTML, PDF), a
portability package delivered and downloaded (Art. 20) and an explained refusal where nothing
is portable, a rectification with its Art. 19 letters, the erasure of the dual-role person
(Art. 17, with the invoice kept under statutory retention) and the access report after it,
one of each letter to a data subject (acknowledgement and completion of the erasure, an
extension, a refusal of portability for data processed under Art. 6(1)(f), the negative answer
to the unknown person), and finally the audit trail verified. File names carry roles, never
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
from dsr.clock import Clock, SystemClock
from dsr.config import FILE_NAME
from dsr.db import connect
from dsr.demo.data import DemoPeople, DemoPerson, populate
from dsr.render import render_html, render_json, render_pdf
from dsr.toolkit import Toolkit

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
    """The demo's steps, each what an embedder would write against :class:`dsr.Toolkit`."""

    directory: Path
    toolkit: Toolkit
    people: DemoPeople
    lang: str
    result: DemoResult
    say: Callable[[str], None]
    #: the request each step registered, by the step's name
    requests: dict[str, int] = field(default_factory=dict)

    def write(self, relative: str, data: bytes | str) -> Path:
        path = self.directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        self.result.files.append(str(path))
        return path

    def write_json(self, relative: str, data: Any) -> Path:
        return self.write(relative, json.dumps(data, indent=2, ensure_ascii=False, default=str))

    def open_request(self, kind: str, person: DemoPerson) -> int:
        ledger = self.toolkit.ledger
        req = ledger.open_request(
            type=kind,
            identities=person.identities,
            received=ledger.today(),
            verified_by="demo: identity confirmed by reply from the registered e-mail address",
        )
        return int(req.id)

    def access(self, key: str, person: DemoPerson, suffix: str = "", pdf: bool = True) -> None:
        request_id = self.open_request("access", person)
        self.requests[f"access:{key}{suffix}"] = request_id
        produced = "json+html+pdf" if pdf else "json+html"
        report = self.toolkit.access(
            person.identities, lang=self.lang, request_id=request_id, output_format=produced
        )
        base = f"access/{SLUGS[key]}{suffix}"
        self.write(f"{base}.json", render_json(report))
        self.write(f"{base}.html", render_html(report))
        if pdf:
            self.write(f"{base}.pdf", render_pdf(report))
        self.say(f"access report for the {SLUGS[key]}{suffix} ({report.row_count} records)")

    def retention_purge(self) -> None:
        """The nightly job: plan (dry run), then run the same plan."""
        plan = self.toolkit.purge(dry_run=True)
        self.write_json("purge/plan.json", plan.to_json())
        done = self.toolkit.purge()
        self.write_json("purge/report.json", done.to_json())
        rows = sum(int(r["rows"]) for r in done.to_json()["rules"])
        self.say(f"retention purge: {rows} rows deleted or anonymised")

    def portability(self) -> None:
        """Art. 20 for the dual-role person (a package) and the employee (nothing portable)."""
        export_dir = self.directory / "export"
        export_dir.mkdir(exist_ok=True)
        person = self.people.dual_role
        request_id = self.open_request("portability", person)
        exported = self.toolkit.export(
            person.identities, export_dir / "dual-role.zip", request_id=request_id
        )
        self.result.files.append(str(export_dir / "dual-role.zip"))
        delivery = self.toolkit.deliver(person.identities, request_id=request_id)
        self.write_json("export/dual-role-delivery.json", delivery.to_json())
        target = export_dir / "dual-role-downloaded.zip"
        if delivery.token:
            self.toolkit.download(delivery.token, target)
            self.result.files.append(str(target))
        self.write_json("export/dual-role.json", exported.to_json())
        refused = self.toolkit.export(self.people.employee.identities, export_dir / "employee.zip")
        self.write_json("export/employee-not-portable.json", refused.to_json())
        self.say("portability package delivered and downloaded; refusal explained")

    def rectification(self) -> None:
        """Art. 16 + 19: the customer contact's telephone number was wrong."""
        person = self.people.customer_contact
        request_id = self.open_request("rectification", person)
        plan = self.toolkit.rectify(
            person.identities, ["customers.contact_phone=+49 351 4400 1234"], request_id=request_id
        )
        self.write_json("rectification/customer-contact.json", plan.to_json())
        letters = self.directory / "rectification" / "letters"
        for path in self.toolkit.write_notices(
            plan.notices, letters, lang=self.lang, request_id=request_id
        ):
            self.result.files.append(str(path))
        self.say(f"rectification with {len(plan.notices)} Art. 19 notice(s)")

    def erasure(self) -> None:
        """Art. 17 for the dual-role person: plan, act, and look again."""
        person = self.people.dual_role
        request_id = self.open_request("erasure", person)
        self.requests["erasure"] = request_id
        plan = self.toolkit.erase(person.identities, dry_run=True)
        self.write_json("erasure/dual-role-plan.json", plan.to_json())
        done = self.toolkit.erase(person.identities, request_id=request_id)
        self.write_json("erasure/dual-role.json", done.to_json())
        self.access("dual_role", person, suffix="-after-erasure", pdf=False)
        self.say("erasure of the dual-role person; statutory records kept and restricted")

    def letters(self) -> None:
        """One of each letter to a data subject, as a DPO sends them (PDF)."""
        ledger = self.toolkit.ledger

        def letter(name: str, request_id: int, kind: str, **kw: Any) -> None:
            _, document = ledger.letter(request_id, kind, lang=self.lang, fmt="pdf", **kw)
            self.write(f"letters/{name}.pdf", document)

        erasure = self.requests["erasure"]
        letter("acknowledgement", erasure, "acknowledgement")
        letter("completion-erasure", erasure, "completion")
        ledger.close(erasure, "erased; statutory records kept and restricted")
        busy = self.open_request("access", self.people.employee)
        ledger.extend(busy, 1, "Your data are held in several systems, some searched by hand.")
        letter("extension", busy, "extension")
        contact = self.people.customer_contact
        refused = self.open_request("portability", contact)
        letter("refusal", refused, "refusal", grounds=["portability_not_applicable"])
        ledger.close(refused, refused=True)
        nobody = self.requests["access:nobody"]
        letter("identification", nobody, "identification")  # the web log needs an IP address
        letter("negative", nobody, "negative")
        self.say("letters to the data subjects: acknowledgement, extension, refusal, ...")


#: Written beside the demo database, so that ``cd DIR && dsr access ...`` works after the demo.
DEMO_CONFIG = """\
# dsr configuration of this demo directory (see docs/operations.md). Paths are relative to
# this file; options and environment variables take precedence over what is written here.
database_url = "sqlite:///demo.db"
key_file = "secret.key"
export_dir = "packages"
"""


def run_demo(
    directory: str | Path,
    scale: int = 1,
    *,
    lang: str = "en",
    clock: Clock | None = None,
    say: Callable[[str], None] = lambda _m: None,
    engine: Engine | None = None,
) -> DemoResult:
    """Build the demo in ``directory`` (replacing an earlier demo there) and run the services.

    The database is ``demo.db`` in ``directory``, or ``engine`` (an empty database of any
    engine: tests fill a PostgreSQL or MariaDB ledger this way).
    """
    clock = clock or SystemClock()
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    if engine is None:
        db = directory / "demo.db"
        for stale in (db, db.with_name("demo.db-wal"), db.with_name("demo.db-shm")):
            stale.unlink(missing_ok=True)
        url = f"sqlite:///{db}"
        engine = connect(url)
    else:
        url = engine.url.render_as_string(hide_password=True)
    catalog = load_catalog()
    now_local = clock.now().astimezone(ZoneInfo(catalog.timezone)).replace(tzinfo=None)
    say(f"building the demo database (scale {scale})")
    people = populate(engine, scale=scale, now=now_local)
    key_file = directory / "secret.key"
    toolkit = Toolkit(
        engine, catalog, key_file=key_file, clock=clock, storage=directory / "packages"
    )
    toolkit.ledger.init()
    result = DemoResult(
        database_url=url,
        catalog=str(example_catalog_path()),
        key_file=str(key_file),
        people=people.all(),
        row_counts=people.row_counts,
    )
    if url.startswith("sqlite:///") and Path(url[len("sqlite:///") :]).parent == directory:
        config = directory / FILE_NAME
        config.write_text(DEMO_CONFIG, encoding="utf-8")
        result.files.append(str(config))
    demo = _Demo(directory, toolkit, people, lang, result, say)
    demo.retention_purge()
    for key in SLUGS:
        demo.access(key, getattr(people, key))
    demo.portability()
    demo.rectification()
    demo.erasure()
    demo.letters()
    verdict = toolkit.ledger.verify()
    demo.write_json("audit-verify.json", verdict.to_json())
    say(f"audit trail verified: {verdict.entries} entries, ok={verdict.ok}")
    engine.dispose()
    return result
