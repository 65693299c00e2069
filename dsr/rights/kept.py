"""Rows an erasure kept, found again by the person's identities (Art. 15 after Art. 17).

An erasure that keeps an invoice (statutory retention) may delete or anonymise the very row
that linked the invoice to the person (their customer record). :func:`add_kept_rows` finds
such rows through the ledger's ``dsr_kept`` entries, recorded under a keyed pseudonym of
each identity the erasure was asked with, and adds them to the person's record, flagged, so
that the access report still tells the person that restricted data about them is held.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, inspect, select

from dsr.crypto.keys import KeyProvider, pseudonym
from dsr.ledger.tables import kept_rows
from dsr.subject.graph import MatchedRow, SubjectGraph, SubjectRecord, TableRecords
from dsr.subject.rowkey import chunks, key_in, parse_key_text, row_key


def add_kept_rows(
    conn: Connection, keys: KeyProvider, graph: SubjectGraph, record: SubjectRecord
) -> int:
    """Add to ``record`` the rows erasures kept for these identities that it lacks; returns
    how many were added. Their values are the party's fields as the row holds them now."""
    if not inspect(conn).has_table(kept_rows.name):
        return 0
    digests = [pseudonym(keys, [i]) for i in record.identities]
    k = kept_rows
    wanted: dict[str, dict[str, set[str]]] = {}
    for table, text, party in conn.execute(
        select(k.c.table_name, k.c.row_key, k.c.party).where(k.c.identity.in_(digests))
    ):
        wanted.setdefault(table, {}).setdefault(text, set()).add(party)
    added = 0
    by_table = {t.table.name: t for t in record.tables}
    for t in graph.catalog.personal_tables():
        entries = wanted.get(t.name)
        if not entries or not t.key:
            continue
        cols = graph.key_columns(t.name)
        have = {r.key for r in by_table[t.name].rows} if t.name in by_table else set()
        parties_of: dict[Any, set[str]] = {}
        for text, parties in entries.items():
            key = parse_key_text(text, cols)
            if key not in have:
                parties_of[key] = {p for p in parties if p in t.parties}
        parties_of = {key: ps for key, ps in parties_of.items() if ps}
        if not parties_of:
            continue
        sa = graph.sa_tables[t.name]
        names = [f.name for f in t.fields.values() if f.name not in t.key]
        width = len(cols)
        rows: list[MatchedRow] = []
        for chunk in chunks(sorted(parties_of, key=str), conn, width):
            stmt = select(*cols, *(sa.c[n] for n in names)).where(key_in(cols, chunk, conn))
            for row in conn.execute(stmt):
                key = row_key(row, width)
                mine = parties_of[key]
                shown = {f.name for f in t.fields.values() if set(f.parties) & mine}
                values = {n: v for n, v in zip(names, row[width:], strict=True) if n in shown}
                values.update(
                    {
                        c: v
                        for c, v in zip(t.key, row[:width], strict=True)
                        if c in t.fields and c in shown
                    }
                )
                rows.append(MatchedRow(key, set(mine), values, kept=True))
        if not rows:
            continue
        added += len(rows)
        rec = by_table.get(t.name)
        if rec is None:
            rec = TableRecords(table=t, rows=[], parties=())
            record.tables.append(rec)
            by_table[t.name] = rec
        rec.rows.extend(rows)
        present = {*rec.parties, *(p for r in rows for p in r.parties)}
        rec.parties = tuple(p for p in t.parties if p in present)
    if added:
        order = {t.name: i for i, t in enumerate(graph.catalog.tables.values())}
        record.tables.sort(key=lambda tr: order[tr.table.name])
    return added
