"""How a field is anonymised, in SQL, and (re-exported) the period arithmetic of
:mod:`dsr.removal.periods`, which erasure, purge and access share.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
)
from sqlalchemy.sql import sqltypes

from dsr.db import is_mysql
from dsr.errors import PurgeError
from dsr.removal.periods import (
    Cutoff,
    cutoff,
    expired_condition,
    expires_at,
    last_day_kept,
    local_now,
    subtract,
)

REDACTED = "[redacted]"

# -- anonymisation ------------------------------------------------------------------------------


def anonymised_value(column: Column[Any], how: str, dialect: str) -> ColumnElement[Any]:
    """The SQL expression a field is set to; applying it twice changes nothing (idempotent)."""
    if how == "null":
        return null()
    if how == "truncate_ip":
        return truncate_ip(column, dialect)
    if how in ("coarsen_day", "coarsen_month"):
        return _coarsen(column, how, dialect)
    if how == "redact":
        if isinstance(column.type, sqltypes.String):
            return literal(REDACTED, String)
        return null()
    raise PurgeError(f"unknown anonymiser {how!r}", where=f"{column.table.name}.{column.name}")


def pending_condition(column: Column[Any], how: str, dialect: str) -> ColumnElement[bool]:
    """TRUE where the field is not yet in anonymised form (so reruns touch nothing twice)."""
    if how == "null":
        return column.is_not(None)
    value = anonymised_value(column, how, dialect)
    return and_(column.is_not(None), or_(value.is_(None), column != value))


def _concat(*parts: Any) -> ColumnElement[Any]:
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out


def truncate_ip(column: Column[Any], dialect: str) -> ColumnElement[Any]:
    """IPv4 to its /24 (``198.51.100.0``), IPv6 to its /48 (``2001:db8:85a3::``), as text.

    String-based on the stored (compressed) form: an IPv6 address keeps the groups before
    ``::`` up to three. Where ``::`` stands within the first three groups the zero groups it
    replaces belong to the prefix, so the result is exact for every address whose tail after
    ``::`` has at most five groups, and shorter (more anonymous, never less) otherwise, e.g.
    IPv4-mapped ``::ffff:a.b.c.d`` becomes ``::``. Values that are neither become NULL.
    """
    s = cast(column, String) if not isinstance(column.type, sqltypes.String) else column
    colon = literal("::", String)
    v4: ColumnElement[Any]
    v6: ColumnElement[Any]
    head: ColumnElement[Any]
    if dialect == "postgresql":
        v4 = func.regexp_replace(s, r"\.[0-9]+$", ".0")
        head = func.split_part(s, "::", 1)
        v6 = _concat(func.regexp_replace(head, "^([^:]*:[^:]*:[^:]*).*$", r"\1"), colon)
    elif is_mysql(dialect):
        v4 = func.concat(func.substring_index(s, ".", 3), ".0")
        v6 = func.concat(func.substring_index(func.substring_index(s, "::", 1), ":", 3), "::")
    else:
        v4 = _concat(func.rtrim(s, "0123456789"), literal("0", String))
        pos = func.instr(s, "::")
        head = case((pos > 0, func.substr(s, 1, pos - 1)), else_=s)
        h = _concat(head, literal(":", String))
        e1 = func.instr(h, ":")
        r1 = func.substr(h, e1 + 1)
        e2 = func.instr(r1, ":")
        r2 = func.substr(r1, e2 + 1)
        e3 = func.instr(r2, ":")
        first3 = case((e3 > 0, func.substr(h, 1, e1 + e2 + e3 - 1)), else_=head)
        v6 = _concat(first3, colon)
    return case(
        (s.like("%:%"), v6),
        (s.like("%.%"), v4),
        else_=null(),
    )


def _coarsen(column: Column[Any], how: str, dialect: str) -> ColumnElement[Any]:
    is_date = isinstance(column.type, sqltypes.Date) and not isinstance(
        column.type, sqltypes.DateTime
    )
    month = how == "coarsen_month"
    if dialect == "postgresql":
        trunc = func.date_trunc("month" if month else "day", column)
        return cast(trunc, column.type) if is_date else trunc
    if is_mysql(dialect):
        fmt = ("%Y-%m-01" if month else "%Y-%m-%d") + ("" if is_date else " 00:00:00")
        return cast(func.date_format(column, fmt), column.type)
    # SQLite stores SQLAlchemy dates as ISO text: keep the text form SQLAlchemy writes
    prefix = func.substr(column, 1, 7 if month else 10)
    suffix = ("-01" if month else "") + ("" if is_date else " 00:00:00.000000")
    return _concat(prefix, literal(suffix, String)) if suffix else prefix


__all__ = [
    "REDACTED",
    "Cutoff",
    "anonymised_value",
    "cutoff",
    "expired_condition",
    "expires_at",
    "last_day_kept",
    "local_now",
    "pending_condition",
    "subtract",
    "truncate_ip",
]
