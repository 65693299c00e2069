"""Retention arithmetic: when a row has outlived its rule, and how a field is anonymised, in SQL.

Dates are evaluated in the catalog's time zone: naive datetimes in the database are wall-clock
time there, so ``as_of`` is converted to that zone before the period is subtracted. A row
expires when ``anchor + period <= as_of``; with ``end_of_year`` the period runs from the end
of the anchor's calendar year (§ 257(5) HGB, § 147(4) AO): an invoice issued 2018-02-01 under
an 8-year rule is kept through 2026-12-31 and may go from 2027-01-01 00:00 local time. A NULL
anchor (a contract still running) never expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from sqlalchemy import (
    Column,
    ColumnElement,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy import Table as SATable
from sqlalchemy.sql import sqltypes

from dsr.catalog.bind import link_target
from dsr.catalog.model import Catalog, Period, RetentionRule
from dsr.db import is_mysql
from dsr.errors import PurgeError

REDACTED = "[redacted]"


def local_now(as_of: datetime, tz: str) -> datetime:
    """``as_of`` as naive wall-clock time in ``tz`` (how the demo database stores datetimes)."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    return as_of.astimezone(ZoneInfo(tz)).replace(tzinfo=None)


def _delta(period: Period) -> relativedelta:
    if period.unit in ("days", "weeks"):
        return relativedelta(days=period.amount * (7 if period.unit == "weeks" else 1))
    return relativedelta(months=period.amount * (12 if period.unit == "years" else 1))


def subtract(moment: datetime, period: Period) -> datetime:
    """``moment - period``; months and years clamp to the end of a shorter month."""
    return moment - _delta(period)


def expires_at(rule: RetentionRule, anchor_value: date | datetime, tz: str) -> datetime:
    """The moment from which the purge treats a row anchored at ``anchor_value`` as expired.

    The exact inverse of :func:`cutoff`, so what an erasure reports as kept "until" is the
    day the purge removes the row. Naive anchors are wall-clock time in ``tz``. With
    ``end_of_year`` the period runs from 1 January after the anchor's year (§ 147(4) AO,
    § 257(5) HGB). A month or year period that lands on a day the target month lacks
    (31 January + 1 month) expires at the start of the following month (1 March), because
    the purge compares ``anchor <= now - period`` and no day of February reaches back to
    31 January.
    """
    start = (
        anchor_value
        if isinstance(anchor_value, datetime)
        else datetime.combine(anchor_value, datetime.min.time())
    )
    zone = ZoneInfo(tz)
    if start.tzinfo is not None:
        start = start.astimezone(zone).replace(tzinfo=None)
    if rule.anchor.end_of_year:
        start = datetime(start.year + 1, 1, 1)
    end = start + _delta(rule.period)
    if subtract(end, rule.period) < start:
        # clamped to a shorter month: the first moment of the next month is the first that
        # reaches back to the anchor
        end = (end + relativedelta(months=1)).replace(
            day=1, hour=0, minute=0, second=0, microsecond=0
        )
    return end.replace(tzinfo=zone)


def last_day_kept(expiry: datetime) -> date:
    """The last calendar day a row is kept when it may go at ``expiry``."""
    return (expiry - timedelta(microseconds=1)).date()


@dataclass(frozen=True)
class Cutoff:
    """Rows whose anchor is ``< value`` (or ``<= value`` when ``inclusive``) have expired."""

    value: datetime
    inclusive: bool
    tz: str = "UTC"

    def for_column(self, column: Any) -> Any:
        """The cutoff in the column's type: a date for DATE columns, aware for TIMESTAMPTZ."""
        ty = column.type
        if isinstance(ty, sqltypes.DateTime):
            if getattr(ty, "timezone", False):
                return self.value.replace(tzinfo=ZoneInfo(self.tz))
            return self.value
        if isinstance(ty, sqltypes.Date):
            if self.inclusive:
                return self.value.date()
            # anchor < Jan 1 00:00 ⇔ date < Jan 1
            return (
                self.value.date()
                if self.value.time() == datetime.min.time()
                else (self.value.date() + timedelta(days=1))
            )
        return self.value


def cutoff(rule: RetentionRule, as_of: datetime, tz: str) -> Cutoff:
    """The anchor value from which rows of ``rule`` have expired at ``as_of``."""
    moment = subtract(local_now(as_of, tz), rule.period)
    if rule.anchor.end_of_year:
        return Cutoff(datetime(moment.year, 1, 1), inclusive=False, tz=tz)
    return Cutoff(moment, inclusive=True, tz=tz)


def expired_condition(
    catalog: Catalog,
    table: str,
    rule: RetentionRule,
    sa_tables: dict[str, SATable],
    as_of: datetime,
) -> ColumnElement[bool]:
    """SQL condition TRUE for rows of ``table`` that have outlived ``rule`` at ``as_of``."""
    t = catalog.tables[table]
    c = cutoff(rule, as_of, catalog.timezone)
    if rule.anchor.related_table:
        # the newest (or oldest) date among the rows of another table that link to this row:
        # newest expired ⇔ there are such rows, and none is later than the cutoff or undated
        # (an undated row is still running, like a NULL anchor); oldest expired ⇔ one is due
        related = catalog.tables[rule.anchor.related_table]
        rsa = sa_tables[related.name]
        link = related.links[rule.anchor.related_link or ""]
        to = link_target(related, rule.anchor.related_link or "", catalog.tables)
        col = rsa.c[rule.anchor.column]
        value = c.for_column(col)
        mine = rsa.c[link.column] == sa_tables[table].c[to]
        due = col <= value if c.inclusive else col < value
        if not rule.anchor.newest:
            found = exists().where(mine, due)
            return or_(found, ~exists().where(mine)) if rule.anchor.none_expired else found
        nothing_newer = ~exists().where(mine, or_(col.is_(None), ~due))
        if rule.anchor.none_expired:
            return nothing_newer
        return and_(exists().where(mine), nothing_newer)
    if rule.anchor.link:
        link = t.links[rule.anchor.link]
        target_sa = sa_tables[link.table]
        anchor = target_sa.c[rule.anchor.column]
        value = c.for_column(anchor)
        inner = anchor <= value if c.inclusive else anchor < value
        # never correlated: the condition may sit inside a statement on the target table
        to = link_target(t, rule.anchor.link, catalog.tables)
        sub = select(target_sa.c[to]).where(inner).correlate(None)
        return sa_tables[table].c[link.column].in_(sub.scalar_subquery())
    anchor = sa_tables[table].c[rule.anchor.column]
    value = c.for_column(anchor)
    return anchor <= value if c.inclusive else anchor < value


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
    "Cutoff",
    "anonymised_value",
    "cutoff",
    "expired_condition",
    "local_now",
    "pending_condition",
    "subtract",
    "truncate_ip",
]
