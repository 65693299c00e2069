"""Period arithmetic, one for every service: when a row has outlived its retention rule.

Erasure ("kept until"), purge (which rows go) and the access report ("kept until") all ask
here, so they cannot disagree. Dates are evaluated in the catalog's time zone: naive datetimes
in the database are wall-clock time there, so ``as_of`` is converted to that zone before the
period is subtracted. A row expires when ``anchor + period <= as_of``; with ``end_of_year``
the period runs from the end of the anchor's calendar year (§ 257(5) HGB, § 147(4) AO): an
invoice issued 2018-02-01 under an 8-year rule is kept through 2026-12-31 and may go from
2027-01-01 00:00 local time. A NULL anchor (a contract still running), and a row the rule's
``when`` condition does not (yet) hold for (staff still active), never expire.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    exists,
    or_,
    select,
)
from sqlalchemy import Table as SATable
from sqlalchemy.sql import sqltypes

from dsr.catalog.bind import link_target
from dsr.catalog.model import Catalog, Period, RetentionRule


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
    gone: Callable[[str], ColumnElement[bool] | None] | None = None,
) -> ColumnElement[bool]:
    """SQL condition TRUE for rows of ``table`` that have outlived ``rule`` at ``as_of``.

    ``gone(table)``, when given, is TRUE for rows of that table that disappear before this
    condition is evaluated (earlier steps of the same purge), so that a row kept only while
    others refer to it counts as expired when those are purged in the same run.
    """
    out = _expired(catalog, table, rule, sa_tables, as_of, gone)
    if rule.when:
        out = and_(applies(rule, sa_tables[table]), out)
    return out


def not_true(cond: ColumnElement[bool]) -> ColumnElement[bool]:
    """TRUE where ``cond`` is FALSE or NULL (``NOT cond`` is NULL where ``cond`` is): a rule
    whose ``when`` is NULL for a row has not started for it."""
    return case((cond, 1), else_=0) == 0


def applies(rule: RetentionRule, sa: SATable) -> ColumnElement[bool]:
    """TRUE for rows the rule's ``when`` conditions hold for (bound values, never SQL text)."""
    parts: list[ColumnElement[bool]] = []
    for cond in rule.when:
        column = sa.c[cond.column]
        if cond.op == "equals":
            parts.append(column == cond.value)
        elif cond.op == "not_equals":
            parts.append(or_(column != cond.value, column.is_(None)))
        elif cond.op == "in":
            parts.append(column.in_(list(cond.value)))
        elif cond.op == "not_in":
            parts.append(or_(column.not_in(list(cond.value)), column.is_(None)))
        else:
            parts.append(column.is_(None) if cond.value else column.is_not(None))
    return and_(*parts)


def _expired(
    catalog: Catalog,
    table: str,
    rule: RetentionRule,
    sa_tables: dict[str, SATable],
    as_of: datetime,
    gone: Callable[[str], ColumnElement[bool] | None] | None,
) -> ColumnElement[bool]:
    t = catalog.tables[table]
    if rule.anchor.while_referenced:
        related = catalog.tables[rule.anchor.related_table or ""]
        rsa = sa_tables[related.name]
        link = related.links[rule.anchor.related_link or ""]
        to = link_target(related, rule.anchor.related_link or "", catalog.tables)
        child: Any = rsa.alias("referring") if related.name == table else rsa
        refers = [child.c[link.column] == sa_tables[table].c[to]]
        leaving = gone(related.name) if gone is not None and related.name != table else None
        if leaving is not None:
            refers.append(~leaving)
        return ~exists().where(*refers)
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
