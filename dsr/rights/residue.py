"""Residue: where an erased person's values may still lie after the rows are gone.

``dsr residue-scan IDENTITY... [--value TEXT]...`` reads the files dsr can reach byte by byte
(the SQLite database with its ``-wal`` and ``-journal``, the export storage, any ``--path``)
for the identities' values and any other values given (what the erasure removed), in UTF-8
and UTF-16LE, ignoring case, and says where it found them: file, offset, and for the SQLite
file the page and what kind of page it is (a deleted value can survive in the unallocated gap
of an index leaf page even with ``secure_delete``). It never prints a value: a finding names
which needle (``identity 1 (email)``, ``value 2``) was found where. On PostgreSQL and MariaDB
the server's files are out of reach: the scan says what only VACUUM / OPTIMIZE TABLE or time
removes, with the dead row versions PostgreSQL reports for the catalogued tables.

``compact`` rewrites what the erasure touched so that nothing of it is left in free space:
``VACUUM`` on SQLite (the whole file is rewritten), ``VACUUM`` of the catalogued tables on
PostgreSQL, ``OPTIMIZE TABLE`` on MariaDB.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dsr.subject.identity import Identity
    from dsr.toolkit import Toolkit

#: SQLite page types by the first byte of their b-tree header.
_PAGE_KINDS = {
    0x02: "interior index page",
    0x05: "interior table page",
    0x0A: "index leaf page",
    0x0D: "table leaf page",
}
_CHUNK = 16 << 20


@dataclass(frozen=True)
class Finding:
    """One needle found in one place (never the value itself)."""

    location: str
    needle: str
    encoding: str
    offset: int
    page: int | None = None
    page_kind: str | None = None
    #: the table whose b-tree (rows or an index) holds the page, None for a free page
    table: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "location": self.location,
            "needle": self.needle,
            "encoding": self.encoding,
            "offset": self.offset,
        }
        if self.page is not None:
            out["page"] = self.page
            out["page_kind"] = self.page_kind
            out["table"] = self.table
        return out


@dataclass
class ResidueReport:
    scanned: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    #: found in the pages of a table where an erasure kept the person's rows on purpose
    #: (statutory retention, a hold): not residue, the kept record itself
    in_kept_rows: list[Finding] = field(default_factory=list)
    #: what the scan could not look into, and what removes it there
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "scanned": self.scanned,
            "findings": [f.to_json() for f in self.findings],
            "in_kept_rows": [f.to_json() for f in self.in_kept_rows],
            "notes": self.notes,
        }


def _needles(identities: Sequence[Identity], values: Sequence[str]) -> list[tuple[str, str]]:
    out = [(f"identity {n} ({i.type})", i.value) for n, i in enumerate(identities, 1)]
    out += [(f"value {n}", v) for n, v in enumerate(values, 1) if v.strip()]
    return [(label, text) for label, text in out if len(text) >= 4]


def scan_file(path: Path, needles: Sequence[tuple[str, str]]) -> list[Finding]:
    """Every occurrence of every needle in ``path`` (UTF-8 and UTF-16LE, ignoring case); in
    a SQLite database file, with the page, its kind and the table it belongs to."""
    patterns: list[tuple[str, str, bytes]] = []
    for label, text in needles:
        low = text.lower()
        patterns.append((label, "utf-8", low.encode("utf-8")))
        patterns.append((label, "utf-16le", low.encode("utf-16-le")))
    longest = max((len(p) for _, _, p in patterns), default=0)
    page_size = _sqlite_page_size(path)
    owners = _page_owners(path) if page_size is not None else {}
    found: list[Finding] = []
    seen: set[tuple[str, str, int]] = set()
    with path.open("rb") as fh:
        base = 0
        tail = b""
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            data = (tail + chunk).lower()  # ASCII case folding, in UTF-16LE too
            start = base - len(tail)
            for label, encoding, pattern in patterns:
                at = data.find(pattern)
                while at != -1:
                    offset = start + at
                    if (label, encoding, offset) not in seen:
                        seen.add((label, encoding, offset))
                        found.append(_finding(path, label, encoding, offset, page_size, owners))
                    at = data.find(pattern, at + 1)
            tail = chunk[-(longest - 1) :] if longest > 1 else b""
            base += len(chunk)
    return found


def _finding(
    path: Path,
    label: str,
    encoding: str,
    offset: int,
    page_size: int | None,
    owners: dict[int, str],
) -> Finding:
    if page_size is None:
        return Finding(str(path), label, encoding, offset)
    page = offset // page_size + 1
    kind = None
    with path.open("rb") as fh:
        fh.seek((page - 1) * page_size + (100 if page == 1 else 0))
        first = fh.read(1)
    table = owners.get(page)
    if first:
        kind = _PAGE_KINDS.get(first[0], "overflow page" if table else "free page")
    return Finding(str(path), label, encoding, offset, page, kind, table)


def _page_owners(path: Path) -> dict[int, str]:
    """Page number -> the table whose rows or index the page holds (SQLite ``dbstat``,
    read-only); empty where the library lacks it."""
    import sqlite3

    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return {}
    try:
        owner = dict(conn.execute("SELECT name, tbl_name FROM sqlite_schema").fetchall())
        pages = conn.execute("SELECT name, pageno FROM dbstat").fetchall()
    except sqlite3.Error:
        return {}
    finally:
        conn.close()
    return {int(pageno): str(owner.get(name, name)) for name, pageno in pages}


def _sqlite_page_size(path: Path) -> int | None:
    """The page size of a SQLite database file (``None`` for any other file)."""
    try:
        with path.open("rb") as fh:
            header = fh.read(18)
    except OSError:
        return None
    if not header.startswith(b"SQLite format 3\x00"):
        return None
    size = int.from_bytes(header[16:18], "big")
    return 65536 if size == 1 else size


def _files(paths: Iterable[Path]) -> list[Path]:
    out = []
    for p in paths:
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.is_file())
        elif p.is_file():
            out.append(p)
    return out


def residue_scan(
    tk: Toolkit,
    identities: Sequence[str | Identity],
    *,
    values: Sequence[str] = (),
    paths: Sequence[str | Path] = (),
) -> ResidueReport:
    """Scan what dsr can reach for the person's values (see the module). What is found in a
    table where an erasure kept the person's rows (the ledger's record of kept rows) is
    listed apart: that is the kept record itself, not residue."""
    from dsr.subject.identity import parse_identities

    ids = parse_identities(identities, tk.catalog) if identities else []
    kept = _kept_tables(tk, ids)
    needles = _needles(ids, values)
    report = ResidueReport()
    engine = tk.engine
    places: list[Path] = []
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        db = Path(str(engine.url.database))
        places += [db, Path(f"{db}-wal"), Path(f"{db}-journal")]
    else:
        report.notes += _server_notes(tk)
    storage = getattr(tk.storage, "path", None)
    if storage is not None:
        places.append(Path(storage))
    places += [Path(p) for p in paths]
    for f in _files(places):
        report.scanned.append(str(f))
        for hit in scan_file(f, needles):
            (report.in_kept_rows if hit.table in kept else report.findings).append(hit)
    if not needles:
        report.notes.append("nothing to look for: every value given is shorter than 4 characters")
    return report


def _kept_tables(tk: Toolkit, ids: Sequence[Identity]) -> set[str]:
    from sqlalchemy import select

    from dsr.crypto.keys import pseudonym
    from dsr.ledger.tables import kept_rows

    if not ids or tk.ledger.state().status != "current":
        return set()
    digests = [pseudonym(tk.keys, [i]) for i in ids]
    with tk.engine.connect() as conn:
        rows = conn.execute(
            select(kept_rows.c.table_name).where(kept_rows.c.identity.in_(digests)).distinct()
        ).all()
    return {r.table_name for r in rows}


def _server_notes(tk: Toolkit) -> list[str]:
    from sqlalchemy import text

    name = tk.engine.dialect.name
    if name == "postgresql":
        tables = [t.name for t in tk.catalog.personal_tables()]
        dead = 0
        with tk.engine.connect() as conn:
            for row in conn.execute(
                text(
                    "SELECT relname, n_dead_tup FROM pg_stat_user_tables "
                    "WHERE relname = ANY(:tables)"
                ),
                {"tables": tables},
            ):
                dead += int(row.n_dead_tup or 0)
        return [
            "PostgreSQL keeps deleted row versions in table and index pages until VACUUM "
            f"reclaims them ({dead} dead row versions in the catalogued tables now), and in the "
            "write-ahead log and its archive until they rotate; dsr cannot read the server's "
            "files: run 'dsr erase --compact' (VACUUM) and check WAL archiving and backups"
        ]
    return [
        "MariaDB/InnoDB keeps deleted records in pages until purge and OPTIMIZE TABLE rebuild "
        "them, and in the undo and redo logs and binary logs until they rotate; dsr cannot "
        "read the server's files: run 'dsr erase --compact' (OPTIMIZE TABLE) and check "
        "binlog retention and backups"
    ]


def compact(tk: Toolkit, tables: Sequence[str]) -> str:
    """Rewrite storage after an erasure so nothing of the erased rows stays in free space;
    what was done, in words (no personal data)."""
    from sqlalchemy import text

    engine = tk.engine
    name = engine.dialect.name
    if name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        raw = engine.raw_connection()
        try:
            raw.execute("VACUUM")
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
        return "VACUUM rewrote the database file"
    preparer = engine.dialect.identifier_preparer
    quoted = [preparer.quote(t) for t in dict.fromkeys(tables)]
    if not quoted:
        return "nothing to compact"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if name == "postgresql":
            for q in quoted:
                conn.execute(text(f"VACUUM {q}"))
            return f"VACUUM of {len(quoted)} table(s)"
        conn.execute(text(f"OPTIMIZE TABLE {', '.join(quoted)}"))
    return f"OPTIMIZE TABLE of {len(quoted)} table(s)"
