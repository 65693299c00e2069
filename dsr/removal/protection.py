"""One definition of "protected", for erasure and purge alike.

A row is protected from removal while

- a legal hold in force covers it (Art. 17(3)(e), Art. 18(1)(c));
- an Art. 18 restriction marks it; a restriction an erasure made stands for a retention duty
  and ends with it (its ``until``), so the purge then removes row and mark;
- a statutory retention rule's period has not run out (Art. 17(3)(b); § 147 AO, § 257 HGB),
  judged by the purge's own condition (:func:`dsr.removal.periods.expired_condition`), so an
  erasure's "kept until" is the day the purge removes the row;
- a row that stays refers to it (:mod:`dsr.removal.references`), unless the reference gives
  way (``on_remove: unlink`` or ``tombstone``).

The purge asks in SQL, over all expired rows (:func:`restricted_condition`, the hold index's
conditions); an erasure asks per row of the person (:func:`protected_rows`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    exists,
    false,
    func,
    not_,
    or_,
    select,
)
from sqlalchemy import Table as SATable
from sqlalchemy.sql import visitors

from dsr.catalog.bind import link_target
from dsr.catalog.model import Catalog, RetentionRule, Table
from dsr.ledger.holds import HoldIndex
from dsr.ledger.migrate import has_ledger_table
from dsr.ledger.tables import MADE_BY_ERASURE
from dsr.ledger.tables import restrictions as restrictions_table
from dsr.removal.periods import (
    applies,
    expired_condition,
    expires_at,
    last_day_kept,
    not_true,
)
from dsr.removal.references import Reference
from dsr.subject.graph import SubjectGraph
from dsr.subject.rowkey import chunks, key_in, key_text_sql, row_key

STATUTORY_REFERENCE = "Art. 17(3)(b) GDPR; Art. 18 GDPR; § 35(3) BDSG"
HOLD_REFERENCE = "Art. 17(3)(e) GDPR; Art. 18(1)(c) GDPR"


@dataclass(frozen=True)
class Protection:
    """Why a row must stay, until when (None: open-ended), on which legal ground."""

    reason: str
    legal_reference: str
    until: date | None = None
    rule: str | None = None
    holds: tuple[int, ...] = ()


# -- restrictions (both commands) --------------------------------------------------------------


def restricted_condition(
    catalog: Catalog,
    table: str,
    sa_tables: dict[str, SATable],
    as_of: datetime,
    gone: Callable[[str], ColumnElement[bool] | None] | None = None,
) -> ColumnElement[bool]:
    """TRUE for rows of ``table`` under an Art. 18 restriction that still stands at ``as_of``.

    A restriction an erasure made stands for the duty that kept the row and ends with it: on
    its ``until`` day, or, when it had none (kept while referenced, or by a hold), once the
    row has run out under every statutory rule of its table (holds protect on their own).
    ``gone`` as for :func:`dsr.removal.periods.expired_condition`.
    """
    r = restrictions_table
    sa = sa_tables[table]
    key = catalog.tables[table].key
    if not key:
        return false()
    today = as_of.astimezone(ZoneInfo(catalog.timezone)).date()
    statutory = [
        expired_condition(catalog, table, rule, sa_tables, as_of, gone)
        for rule in catalog.rules_for(table)
        if rule.statutory
    ]
    ended = and_(
        MADE_BY_ERASURE,
        or_(
            and_(r.c.until.is_not(None), r.c.until < today),
            and_(r.c.until.is_(None), *statutory),
        ),
    )
    return exists().where(
        r.c.table_name == table,
        r.c.lifted_at.is_(None),
        not_(ended),
        r.c.row_key == key_text_sql([sa.c[c] for c in key]),
    )


def restricted_tables(conn: Connection, cache: dict[str, Any] | None = None) -> set[str]:
    """Tables with at least one restriction not lifted (none: no ledger yet); ``cache`` as
    for :func:`dsr.ledger.migrate.has_ledger_table`."""
    r = restrictions_table
    if not has_ledger_table(conn, r.name, cache):
        return set()
    return set(
        conn.execute(select(r.c.table_name).where(r.c.lifted_at.is_(None)).distinct()).scalars()
    )


def uncorrelated(cond: ColumnElement[bool]) -> ColumnElement[bool]:
    """Hold conditions hold subqueries over other tables (a person found through a link); they
    must never correlate with the statement they are placed in."""

    def off(select_: Any) -> None:
        select_._auto_correlate = False

    return visitors.cloned_traverse(cond, {}, {"select": off})


def unprotected_table(
    catalog: Catalog,
    table: str,
    sa: SATable,
    holds: HoldIndex | None,
    restricted: set[str] | frozenset[str] = frozenset(),
) -> bool:
    """No row of ``table`` can be protected: no hold covers it, no statutory rule keeps it,
    and it is not among the ``restricted`` tables (tables outside the catalog have neither)."""
    if table in restricted:
        return False
    if table not in catalog.tables:
        return True
    if any(r.statutory for r in catalog.rules_for(table)):
        return False
    return holds is None or not holds.coverage(table, sa)


def gives_way(
    ref: Reference, catalog: Catalog, holds: HoldIndex | None, restricted: set[str]
) -> bool:
    """The reference is unlinked or tombstoned rather than keeping its target: the catalog
    says so, and nothing protects the referring rows from being changed (a hold, a
    restriction, a statutory rule on their table); else it keeps its target, as ``restrict``
    does. The one answer erasure and purge give."""
    return ref.detaches and unprotected_table(
        catalog, ref.child, ref.child_table, holds, restricted
    )


# -- per row (erasure) -------------------------------------------------------------------------


def protected_rows(
    conn: Connection,
    graph: SubjectGraph,
    t: Table,
    row_keys: list[Any],
    now: datetime,
    holds: HoldIndex | None,
    leaving: Callable[[str], set[Any]] | None = None,
) -> dict[Any, Protection]:
    """The rows among ``row_keys`` a legal hold or an unexpired statutory rule protects.

    ``leaving(table)``: keys of rows of that table this erasure deletes; a row kept only while
    others refer to it is not protected by referring rows that go with it.
    """
    catalog = graph.catalog
    sa = graph.sa_tables[t.name]
    pk = graph.key_columns(t.name)
    width = len(pk)
    out: dict[Any, Protection] = {}
    held: dict[Any, set[int]] = {}
    for hold_id, cond in holds.coverage(t.name, sa) if holds is not None else []:
        for chunk in chunks(row_keys, conn, width):
            for row in conn.execute(select(*pk).where(key_in(pk, chunk, conn), cond)):
                held.setdefault(row_key(row, width), set()).add(hold_id)
    for key, ids_set in held.items():
        ids_ = tuple(sorted(ids_set))
        dates = [holds.until(i) for i in ids_] if holds is not None else [None]
        until = None if any(d is None for d in dates) else max(d for d in dates if d is not None)
        out[key] = Protection(
            reason=f"legal hold {', '.join(f'#{i}' for i in ids_)}",
            legal_reference=HOLD_REFERENCE,
            until=until,
            holds=ids_,
        )
    for rule in catalog.rules_for(t.name):
        if not rule.statutory:
            continue
        legal = f"{rule.legal_reference}; {STATUTORY_REFERENCE}"
        if rule.anchor.while_referenced:
            if rule.when:
                for chunk in chunks(row_keys, conn, width):
                    waiting = not_true(applies(rule, sa))  # the period has not started
                    stmt = select(*pk).where(key_in(pk, chunk, conn), waiting)
                    for r in conn.execute(stmt):
                        key = row_key(r, width)
                        if key in out:
                            continue
                        out[key] = Protection(
                            reason=f"statutory retention ({rule.id}); the period has not "
                            "started yet",
                            legal_reference=legal,
                            rule=rule.id,
                        )
            for key, referrer in _still_referenced(conn, graph, t, rule, row_keys, leaving):
                if key not in out:
                    out[key] = Protection(
                        reason=f"statutory retention ({rule.id}): kept as long as records "
                        f"of {referrer} refer to it",
                        legal_reference=legal,
                        rule=rule.id,
                    )
            continue
        gone = expired_condition(catalog, t.name, rule, graph.sa_tables, now)
        expired: set[Any] = set()
        for chunk in chunks(row_keys, conn, width):
            stmt = select(*pk).where(key_in(pk, chunk, conn), gone)
            expired.update(row_key(r, width) for r in conn.execute(stmt))
        for key, anchor in anchor_values(conn, graph, t, rule, row_keys):
            if key in out or key in expired:
                continue
            until = last_day_kept(expires_at(rule, anchor, catalog.timezone)) if anchor else None
            reason = f"statutory retention ({rule.id})" + (
                "" if anchor else "; the period has not started yet"
            )
            out[key] = Protection(reason=reason, legal_reference=legal, until=until, rule=rule.id)
    return out


def _still_referenced(
    conn: Connection,
    graph: SubjectGraph,
    t: Table,
    rule: RetentionRule,
    row_keys: list[Any],
    leaving: Callable[[str], set[Any]] | None,
) -> Iterator[tuple[Any, str]]:
    """Rows among ``row_keys`` that a row of the rule's referring table, one that stays,
    refers to; with that table's name."""
    catalog = graph.catalog
    related = catalog.tables[rule.anchor.related_table or ""]
    rsa = graph.sa_tables[related.name]
    link = related.links[rule.anchor.related_link or ""]
    to = link_target(related, rule.anchor.related_link or "", catalog.tables)
    sa = graph.sa_tables[t.name]
    pk = graph.key_columns(t.name)
    width = len(pk)
    rkey = graph.key_columns(related.name)
    goes = leaving(related.name) if leaving is not None else set()
    for chunk in chunks(row_keys, conn, width):
        stmt = (
            select(*pk, *rkey)
            .select_from(sa.join(rsa, rsa.c[link.column] == sa.c[to]))
            .where(key_in(pk, chunk, conn))
        )
        seen: set[Any] = set()
        for r in conn.execute(stmt):
            key = row_key(r, width)
            if key in seen or row_key(r[width:], len(rkey)) in goes:
                continue
            seen.add(key)
            yield key, related.name


def anchor_values(
    conn: Connection,
    graph: SubjectGraph,
    t: Table,
    rule: RetentionRule,
    row_keys: list[Any],
) -> Iterator[tuple[Any, Any]]:
    """Per row key, the date the rule's period runs from (None: not started, or the rule's
    ``when`` does not hold for the row yet)."""
    catalog = graph.catalog
    sa = graph.sa_tables[t.name]
    pk = graph.key_columns(t.name)
    width = len(pk)
    source: Any = sa
    col: Any
    if rule.anchor.related_table:
        related = catalog.tables[rule.anchor.related_table]
        rsa = graph.sa_tables[related.name]
        rlink = related.links[rule.anchor.related_link or ""]
        to = link_target(related, rule.anchor.related_link or "", catalog.tables)
        pick = func.max if rule.anchor.newest else func.min
        col = (
            select(pick(rsa.c[rule.anchor.column]))
            .where(rsa.c[rlink.column] == sa.c[to])
            .scalar_subquery()
        )
    elif rule.anchor.link:
        link = t.links[rule.anchor.link]
        tsa = graph.sa_tables[link.table]
        col = tsa.c[rule.anchor.column]
        to = link_target(t, rule.anchor.link, catalog.tables)
        source = sa.outerjoin(tsa, sa.c[link.column] == tsa.c[to])
    else:
        col = sa.c[rule.anchor.column]
    shown: list[Any] = [*pk, col]
    if rule.when:
        shown.append(applies(rule, sa))
    for chunk in chunks(row_keys, conn, width):
        stmt = select(*shown).select_from(source).where(key_in(pk, chunk, conn))
        for r in conn.execute(stmt):
            started = r[width] if not rule.when or r[width + 1] else None
            yield row_key(r, width), started


__all__ = [
    "HOLD_REFERENCE",
    "STATUTORY_REFERENCE",
    "Protection",
    "anchor_values",
    "gives_way",
    "protected_rows",
    "restricted_condition",
    "restricted_tables",
    "uncorrelated",
    "unprotected_table",
]
