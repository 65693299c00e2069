"""What the nested-subquery statements (erase, export, holds) find, to hold resolve() to."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from dsr.subject.graph import SubjectGraph, bind_values_flat
from dsr.subject.identity import parse_identities


def nested_rows(engine: Engine, graph: SubjectGraph, ids: list[str]) -> dict[str, list[Any]]:
    """Rows per table as the nested-subquery statements (erase, export, holds) find them."""
    idmap = graph.identity_map(parse_identities(ids, graph.catalog))
    out: dict[str, set[Any]] = {}
    with engine.connect() as conn:
        for t in graph.catalog.personal_tables():
            if t.keyless:
                continue
            for pname in t.parties:
                stmt = graph.party_select(t.name, pname, idmap, fields=[])
                if stmt is None:
                    continue
                width = len(t.key)
                for row in conn.execute(stmt, bind_values_flat(idmap)):
                    out.setdefault(t.name, set()).add(row[0] if width == 1 else tuple(row[:width]))
    return {k: sorted(v) for k, v in out.items()}
