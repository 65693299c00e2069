"""Legal holds: what they cover is never deleted or anonymised by a purge or an erasure.

A hold covers a whole table, given row keys of a table, or a person (optionally only in one
table). A person's identities are stored encrypted (AES-GCM bound to the hold's id) with their
keyed pseudonym; at purge time they are resolved again through the subject graph, as SQL
conditions, so rows added after the hold was placed are covered too. Holds and their release
are audited by pseudonym only (Art. 17(3)(e), Art. 18(1)(c) GDPR).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BindParameter,
    Boolean,
    ColumnElement,
    Connection,
    and_,
    bindparam,
    false,
    func,
    insert,
    not_,
    or_,
    select,
    true,
    update,
)
from sqlalchemy import Table as SATable
from sqlalchemy.sql import visitors

from dsr.catalog.model import Catalog
from dsr.clock import Clock, utc_naive
from dsr.crypto.keys import KeyProvider, pseudonym
from dsr.crypto.seal import seal_identities, unseal_identities
from dsr.errors import LedgerError
from dsr.ledger import audit
from dsr.ledger.tables import holds as holds_table
from dsr.subject.graph import SubjectGraph, identity_map
from dsr.subject.identity import Identity, parse_identities
from dsr.subject.rowkey import key_text, key_text_sql


def _aad(hold_id: int) -> bytes:
    return f"dsr_holds/{hold_id}".encode()


def add_hold(
    conn: Connection,
    keys: KeyProvider,
    catalog: Catalog,
    *,
    table: str | None = None,
    row_keys: Sequence[Any] | None = None,
    identities: Sequence[str | Identity] | None = None,
    reason: str,
    until: date | None = None,
    clock: Clock,
) -> int:
    """Place a legal hold in the caller's transaction; returns its id.

    Scope: ``table`` alone holds every row of it; ``table`` with ``row_keys`` holds those rows;
    ``identities`` hold every row about that person (only in ``table`` if given). ``until`` is
    a review date after which the hold lapses; ``None`` holds until released.
    """
    if not reason or not reason.strip():
        raise LedgerError("a hold needs a reason", where="--reason")
    if table is not None and table not in catalog.tables:
        raise LedgerError(f"table {table!r} is not in the catalog", where="--table")
    if row_keys and table is None:
        raise LedgerError("row keys need --table", where="--key")
    if until is not None and until < clock.now().date():
        raise LedgerError(
            "the review date lies in the past: the hold would never apply", where="--until"
        )
    ids = parse_identities(identities) if identities else ()
    if table is None and not ids:
        raise LedgerError("a hold needs --table, --key or --identity", where="hold")
    if row_keys and ids:
        raise LedgerError("hold either row keys or a person, not both", where="--key")
    now = clock.now()
    subject = pseudonym(keys, list(ids)) if ids else None
    result = conn.execute(
        insert(holds_table).values(
            table_name=table,
            row_keys=json.dumps([str(k) for k in row_keys]) if row_keys else None,
            subject=subject,
            reason=reason.strip(),
            until=until,
            created_at=utc_naive(now),
        )
    )
    hold_id = int(result.inserted_primary_key[0])  # type: ignore[index]
    if ids:
        sealed = seal_identities(keys, [i.spec for i in ids], _aad(int(hold_id)))
        conn.execute(
            update(holds_table).where(holds_table.c.id == hold_id).values(identities_enc=sealed)
        )
    details: dict[str, Any] = {
        "hold": int(hold_id),
        "table": table,
        "row_keys": len(row_keys or ()),
        "person": bool(ids),
        "until": until.isoformat() if until else None,
    }
    audit.append(conn, keys, "hold.add", details=details, subject=subject, at=now)
    return int(hold_id)


def release_hold(conn: Connection, keys: KeyProvider, hold_id: int, clock: Clock) -> None:
    """Release a hold in the caller's transaction (audited); unknown or released: LedgerError."""
    row = conn.execute(select(holds_table).where(holds_table.c.id == hold_id)).mappings().first()
    if row is None:
        raise LedgerError(f"no hold with id {hold_id}", where="hold")
    if row["released_at"] is not None:
        raise LedgerError(f"hold {hold_id} was already released", where="hold")
    now = clock.now()
    conn.execute(
        update(holds_table).where(holds_table.c.id == hold_id).values(released_at=utc_naive(now))
    )
    audit.append(
        conn, keys, "hold.release", details={"hold": hold_id}, subject=row["subject"], at=now
    )


def list_holds(
    conn: Connection, *, active_only: bool = False, at: datetime | None = None, tz: str = "UTC"
) -> list[dict[str, Any]]:
    """The holds, newest first, without identities (pseudonym and scope only)."""
    today = (at or datetime.now(timezone.utc)).astimezone(ZoneInfo(tz)).date()
    out = []
    for r in conn.execute(select(holds_table).order_by(holds_table.c.id.desc())).mappings():
        active = r["released_at"] is None and (r["until"] is None or r["until"] >= today)
        if active_only and not active:
            continue
        out.append(
            {
                "id": r["id"],
                "table": r["table_name"],
                "row_keys": json.loads(r["row_keys"]) if r["row_keys"] else None,
                "person": r["subject"],
                "reason": r["reason"],
                "until": r["until"],
                "created_at": r["created_at"],
                "released_at": r["released_at"],
                "active": active,
            }
        )
    return out


@dataclass
class _Hold:
    id: int
    table: str | None
    keys: list[str] | None
    idmap: dict[str, list[str]] | None
    until: date | None
    resolved: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class HoldIndex:
    """The holds in force at one time, resolved to what they cover.

    ``exclusion`` and ``coverage`` are SQL conditions for set-based statements; ``held_keys``
    lists the keys as of loading (for reports and small erasures).
    """

    catalog: Catalog
    graph: SubjectGraph | None
    holds: list[_Hold]
    version: tuple[Any, ...] = ()

    def _applies(self, h: _Hold, table_name: str) -> bool:
        if h.table is not None and h.table != table_name:
            return False
        if h.idmap is not None:
            t = self.catalog.tables.get(table_name)
            return t is not None and bool(t.parties)
        return True

    def coverage(self, table_name: str, sa_table: SATable) -> list[tuple[int, ColumnElement[bool]]]:
        """Per hold on ``table_name``: its id and a condition TRUE for the rows it covers."""
        out: list[tuple[int, ColumnElement[bool]]] = []
        for h in self.holds:
            if not self._applies(h, table_name):
                continue
            cond = self._covers(h, table_name, sa_table)
            if cond is not None:
                out.append((h.id, cond))
        return out

    def exclusion(self, table_name: str, sa_table: SATable) -> ColumnElement[bool] | None:
        """A condition TRUE for the rows of ``table_name`` no hold covers; None: no hold."""
        covered = [c for _, c in self.coverage(table_name, sa_table)]
        if not covered:
            return None
        return and_(*(not_(c) for c in covered))

    def held_keys(self, table_name: str) -> set[str]:
        """The row keys (as strings) held in ``table_name``; a whole-table hold gives all."""
        out: set[str] = set()
        for h in self.holds:
            if not self._applies(h, table_name):
                continue
            if h.keys is not None:
                out.update(h.keys)
            out.update(h.resolved.get(table_name, ()))
        return out

    def hold_ids_for(self, table_name: str) -> list[int]:
        """Ids of the holds that cover (part of) ``table_name``."""
        return [h.id for h in self.holds if self._applies(h, table_name)]

    def whole_table(self, table_name: str) -> list[int]:
        return [
            h.id for h in self.holds if h.table == table_name and h.keys is None and h.idmap is None
        ]

    def until(self, hold_id: int) -> date | None:
        return next((h.until for h in self.holds if h.id == hold_id), None)

    def _covers(self, h: _Hold, table_name: str, sa: SATable) -> ColumnElement[bool] | None:
        t = self.catalog.tables[table_name]
        if h.idmap is not None:
            if self.graph is None:
                return None
            conds = []
            for party in t.parties:
                c = self.graph.condition(table_name, party, h.idmap)
                if c is not None:
                    conds.append(_bind_values(c, h.idmap))
            if not conds:
                return None
            # NULL identity columns must count as "not covered", not as unknown
            return func.coalesce(or_(*conds), false(), type_=Boolean)
        if h.keys is not None:
            if len(t.key) != 1:
                return key_text_sql([sa.c[c] for c in t.key]).in_(h.keys) if t.key else None
            pk = sa.c[t.key[0]]
            return pk.in_(_typed_keys(h.keys, pk))
        return true()


def _typed_keys(keys: Sequence[str], pk: Any) -> list[Any]:
    try:
        python_type = pk.type.python_type
    except NotImplementedError:
        return list(keys)
    if python_type is int:
        out: list[Any] = []
        for k in keys:
            try:
                out.append(int(k))
            except ValueError:
                continue
        return out
    return list(keys)


def _bind_values(cond: ColumnElement[bool], idmap: dict[str, list[str]]) -> ColumnElement[bool]:
    """The graph's condition with its ``TYPE_INDEX`` parameters replaced by unique bound values,
    so the conditions of several holds can sit in one statement."""
    values = {f"{t}_{i}": v for t, vs in idmap.items() for i, v in enumerate(vs)}

    def replace(element: Any, **_: Any) -> Any:
        if isinstance(element, BindParameter) and element.key in values:
            return bindparam(None, values[element.key], type_=element.type, unique=True)
        return None

    return visitors.replacement_traverse(cond, {}, replace)


def holds_version(conn: Connection) -> tuple[Any, ...]:
    """Changes whenever a hold is added or released (a purge reloads its index then)."""
    h = holds_table
    row = conn.execute(select(func.count(), func.max(h.c.id), func.count(h.c.released_at))).one()
    return tuple(row)


def load_holds(
    conn: Connection, catalog: Catalog, graph: SubjectGraph, keys: KeyProvider, at: datetime
) -> HoldIndex:
    """The holds in force at ``at``: not released and not past their review date."""
    today = at.astimezone(ZoneInfo(catalog.timezone)).date()
    h = holds_table
    version = holds_version(conn)
    out: list[_Hold] = []
    if version[0] == version[2]:  # every hold there ever was is released
        return HoldIndex(catalog=graph.catalog, graph=graph, holds=out, version=version)
    for r in conn.execute(select(h).where(h.c.released_at.is_(None)).order_by(h.c.id)).mappings():
        if r["until"] is not None and r["until"] < today:
            continue
        hold = _Hold(
            id=int(r["id"]), table=r["table_name"], keys=None, idmap=None, until=r["until"]
        )
        if r["row_keys"]:
            hold.keys = [str(k) for k in json.loads(r["row_keys"])]
        if r["identities_enc"] is not None:
            specs = unseal_identities(keys, r["identities_enc"], _aad(hold.id))
            ids = parse_identities(specs, graph.catalog)
            hold.idmap = identity_map(ids, graph.catalog)
            record = graph.resolve(conn, ids)
            for tr in record.tables:
                if hold.table is None or hold.table == tr.table.name:
                    hold.resolved[tr.table.name] = {key_text(m.key) for m in tr.rows}
        if hold.table is not None and hold.table not in catalog.tables:
            continue
        out.append(hold)
    return HoldIndex(catalog=graph.catalog, graph=graph, holds=out, version=version)


__all__ = [
    "HoldIndex",
    "add_hold",
    "holds_version",
    "list_holds",
    "load_holds",
    "release_hold",
]
