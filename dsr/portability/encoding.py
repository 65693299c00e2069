"""Values as the package encodes them: rows streamed from a server-side cursor, converted
column by column (timestamps with their offset in the catalog's zone, decimals, binaries as
base64), encoded as JSON types and as CSV."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone, tzinfo
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    Numeric,
    Select,
    String,
    Time,
)
from sqlalchemy.types import TypeEngine

from dsr.catalog.model import Field

#: Rows fetched per round trip from the server-side cursor
BATCH = 5000


# -- streaming -----------------------------------------------------------------------------------


def _server_cursor(conn: Connection) -> Any:
    """A DB-API cursor that streams (server-side where the driver needs one)."""
    raw = conn.connection.dbapi_connection
    assert raw is not None
    dialect = conn.dialect
    if dialect.name == "postgresql":
        return raw.cursor(name=f"dsr_export_{secrets.token_hex(6)}")
    if dialect.name in ("mysql", "mariadb"):
        if dialect.driver == "pymysql":
            import pymysql.cursors

            return raw.cursor(pymysql.cursors.SSCursor)
        if dialect.driver == "mysqldb":
            import MySQLdb.cursors

            return raw.cursor(MySQLdb.cursors.SSCursor)
    return raw.cursor()


def stream_rows(
    conn: Connection, stmt: Select[Any], values: dict[str, Any], batch: int = BATCH
) -> Iterator[list[Any]]:
    """Run ``stmt`` on the driver's cursor and yield raw row batches (flat memory).

    Bypasses SQLAlchemy's per-row result processing; callers convert the few column types
    that need it. Bind processors are applied as ``Connection.execute`` would.
    """
    dialect = conn.dialect
    compiled = stmt.compile(dialect=dialect)
    params = compiled.construct_params(values)
    for name, b in compiled.binds.items():
        proc = b.type.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None and name in params:
            params[name] = proc(params[name])
    args: Any = params
    if dialect.positional:
        args = tuple(params[n] for n in compiled.positiontup or ())
    cur = _server_cursor(conn)
    try:
        cur.execute(str(compiled), args)
        while True:
            rows = cur.fetchmany(batch)
            if not rows:
                break
            yield rows
    finally:
        cur.close()


def _offset(delta: Any) -> str:
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    h, m = divmod(abs(minutes), 60)
    return f"{sign}{h:02d}:{m:02d}"


def _datetime_converter(tz: tzinfo) -> Callable[[Any], Any]:
    """Naive DB datetimes are wall-clock time in the catalog's zone: give them its offset.

    The offset is looked up once per hour of the day (zone transitions fall on the hour; in
    the repeated hour of a switch back the earlier offset is used). SQLite's text values of
    the usual ``YYYY-MM-DD HH:MM:SS[.ffffff]`` form are rewritten without parsing.
    """
    by_hour: dict[Any, str] = {}
    parse = datetime.fromisoformat

    def offset(v: datetime) -> str:
        if len(by_hour) > 100_000:
            by_hour.clear()
        return _offset(v.replace(minute=0, second=0, microsecond=0, tzinfo=tz).utcoffset())

    def convert(v: Any) -> Any:
        if v is None:
            return None
        if v.__class__ is str:
            n = len(v)
            if (n == 19 or (n == 26 and v[19] == ".")) and v[10] == " ":
                off = by_hour.get(v[:13])
                if off is None:
                    off = by_hour[v[:13]] = offset(parse(v))
                if n == 19 or v.endswith("000000"):
                    return f"{v[:10]}T{v[11:19]}{off}"
                return f"{v[:10]}T{v[11:]}{off}"
            v = parse(v)
        if v.tzinfo is not None:
            return v.isoformat()
        key = v.toordinal() * 24 + v.hour
        off = by_hour.get(key)
        if off is None:
            off = by_hour[key] = offset(v)
        return v.isoformat() + off

    return convert


def _decimal_converter(scale: int | None) -> Callable[[Any], Any]:
    def convert(v: Any) -> Any:
        if v is None:
            return None
        if isinstance(v, Decimal):
            return format(v, "f")
        if scale is not None and isinstance(v, int | float):
            return f"{v:.{scale}f}"
        return format(Decimal(str(v)), "f")

    return convert


def _bool(v: Any) -> Any:
    return None if v is None else bool(v)


def _b64(v: Any) -> Any:
    return None if v is None else base64.b64encode(bytes(v)).decode("ascii")


def _plain(v: Any) -> Any:
    if v is None or isinstance(v, str | int | float | bool):
        return v
    return str(v)


ColumnConverter = Callable[[tuple[Any, ...], int], tuple[Any, ...]]


class DateTimeColumn:
    """Converts a batch's column of naive local datetimes at once where it can.

    When no zone transition falls between the column's earliest and latest value (checked
    against the zone's offset at every midnight in between), one offset serves the whole
    column: SQLite's text values are rewritten with a few string operations on the joined
    column, driver datetimes get a fixed-offset ``tzinfo`` that orjson writes natively.
    Anything else goes value by value (:func:`_datetime_converter`).
    """

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self.one = _datetime_converter(tz)
        self._days: dict[int, Any] = {}
        self._fixed: dict[Any, tuple[str, timezone]] = {}

    def _offset(self, v: datetime) -> Any:
        return v.replace(tzinfo=self.tz).utcoffset()

    def _constant(self, lo: datetime, hi: datetime) -> tuple[str, timezone] | None:
        first, last = lo.toordinal(), hi.toordinal()
        if last - first > 3700:
            return None
        off = self._offset(lo)
        if self._offset(hi) != off:
            return None
        days = self._days
        for day in range(first, last + 2):
            d = days.get(day)
            if d is None:
                if len(days) > 50_000:
                    days.clear()
                d = days[day] = self._offset(datetime.fromordinal(day))
            if d != off:
                return None
        fixed = self._fixed.get(off)
        if fixed is None:
            fixed = self._fixed[off] = (_offset(off), timezone(off))
        return fixed

    def __call__(self, col: tuple[Any, ...], nulls: int) -> tuple[Any, ...]:
        if nulls:
            return tuple(map(self.one, col))
        lo, hi = min(col), max(col)
        if lo.__class__ is str and hi.__class__ is str:
            n = len(lo)
            if n in (19, 26) and len(set(map(len, col))) == 1:
                const = self._constant(datetime.fromisoformat(lo), datetime.fromisoformat(hi))
                joined = "\x1f".join(col)
                if const is not None and joined.count(" ") == len(col):
                    off = const[0]
                    if n == 26:
                        joined = joined.replace(".000000", "")
                    joined = joined.replace(" ", "T").replace("\x1f", off + "\x1f") + off
                    return tuple(joined.split("\x1f"))
        elif isinstance(lo, datetime) and isinstance(hi, datetime) and lo.tzinfo is None:
            const = self._constant(lo, hi)
            if const is not None:
                fixed = const[1]
                return tuple([v.replace(tzinfo=fixed) for v in col])
        return tuple(map(self.one, col))


def _column(c: Callable[[Any], Any]) -> ColumnConverter:
    def convert(col: tuple[Any, ...], nulls: int) -> tuple[Any, ...]:
        return tuple(map(c, col))

    return convert


def column_converter(ty: TypeEngine[Any], tz: tzinfo) -> ColumnConverter | None:
    if isinstance(ty, DateTime):
        return DateTimeColumn(tz)
    c = _converter(ty, tz)
    return None if c is None else _column(c)


def _converter(ty: TypeEngine[Any], tz: tzinfo) -> Callable[[Any], Any] | None:
    if isinstance(ty, DateTime):
        return _datetime_converter(tz)
    if isinstance(ty, Date | Time | Integer | String):
        return None  # orjson writes dates and times as ISO 8601 already
    if isinstance(ty, Float):
        return None
    if isinstance(ty, Numeric):
        return _decimal_converter(ty.scale)
    if isinstance(ty, Boolean):
        return _bool
    if isinstance(ty, LargeBinary):
        return _b64
    return _plain


def json_type(ty: TypeEngine[Any], f: Field) -> dict[str, Any]:
    if isinstance(ty, DateTime):
        return {"type": ["string", "null"], "format": "date-time"}
    if isinstance(ty, Date):
        return {"type": ["string", "null"], "format": "date"}
    if isinstance(ty, Time):
        return {"type": ["string", "null"], "format": "time"}
    if isinstance(ty, Boolean):
        return {"type": ["boolean", "null"]}
    if isinstance(ty, Integer):
        return {"type": ["integer", "null"]}
    if isinstance(ty, Float):
        return {"type": ["number", "null"]}
    if isinstance(ty, Numeric):
        return {"type": ["string", "null"], "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}
    if isinstance(ty, LargeBinary):
        return {"type": ["string", "null"], "contentEncoding": "base64"}
    out: dict[str, Any] = {"type": ["string", "null"]}
    if f.format == "email":
        out["format"] = "email"
    elif f.format in ("date", "datetime"):
        out["format"] = "date" if f.format == "date" else "date-time"
    length = getattr(ty, "length", None)
    if isinstance(length, int):
        out["maxLength"] = length
    return out


def csv_value(v: Any) -> bytes:
    if v is None:
        return b""
    if isinstance(v, str):
        return b'"' + v.replace('"', '""').encode("utf-8") + b'"'
    return orjson.dumps(v)


def encode_csv(rows: Sequence[Sequence[Any]], nulls: int | None = None) -> bytes:
    """RFC 4180 lines (CRLF; every text quoted, numbers bare, NULL empty) for converted rows.

    The fast path lets orjson encode the batch as arrays and turns that into CSV: valid when
    no value needed a JSON escape and no text contains a row separator or ``null``, which the
    counts prove; any other batch takes the value-by-value path, with the same output.
    """
    if not rows:
        return b""
    j = orjson.dumps(rows)
    if nulls is None:
        nulls = sum(r.count(None) for r in rows)
    if b"\\" not in j and j.count(b"],[") == len(rows) - 1 and j.count(b"null") == nulls:
        body = j[2:-2].replace(b"],[", b"\r\n")
        if nulls:
            body = body.replace(b"null", b"")
        return body + b"\r\n"
    return b"".join(b",".join([csv_value(v) for v in r]) + b"\r\n" for r in rows)
