"""The JSON form of a report: every row, ISO dates, decimals as strings."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

import orjson


class JSONReport(Protocol):
    def to_json(self) -> dict[str, Any]: ...


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def render_json(report: JSONReport, *, indent: bool = True) -> bytes:
    """The report as UTF-8 JSON (``docs/access-report.schema.json`` for access reports)."""
    option = orjson.OPT_INDENT_2 if indent else 0
    return orjson.dumps(report.to_json(), default=_default, option=option) + b"\n"
