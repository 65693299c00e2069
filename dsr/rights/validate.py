"""Validation of rectified values (Art. 16 GDPR): the catalog's format and the live column.

A value is checked against the field's ``format`` from the catalog (email, phone, country,
ip, date, datetime, text) and against the reflected column (maximum length, NOT NULL, numeric
type). A rejected value raises :class:`~dsr.errors.ValidationError` naming ``table.field`` and
the rule broken, never the value itself: it is personal data.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Column
from sqlalchemy import types as sat

from dsr.catalog.model import Catalog, Field, Table
from dsr.errors import ValidationError

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_STRIP = re.compile(r"[\s\-/().]")
_E164 = re.compile(r"^\+[1-9]\d{5,14}$")
_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)

#: ISO 3166-1 alpha-2, officially assigned codes.
ISO_COUNTRIES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO
    DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU
    GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW
    KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU
    MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW
    PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF
    TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA
    ZM ZW""".split()
)


@dataclass(frozen=True)
class Assignment:
    """One ``--set TABLE.FIELD=VALUE``; ``value`` is the raw text (personal data)."""

    table: str
    field: str
    value: str

    @property
    def where(self) -> str:
        return f"{self.table}.{self.field}"


def parse_assignment(text: str) -> Assignment:
    """Parse ``TABLE.FIELD=VALUE``; an empty VALUE asks for the field to be cleared (NULL)."""
    m = _ASSIGNMENT.match(text)
    if not m:
        raise ValidationError("expected TABLE.FIELD=VALUE", where="--set")
    return Assignment(m.group(1), m.group(2), m.group(3))


def check_format(fmt: str, raw: str, where: str, tz: str = "Europe/Berlin") -> Any:
    """The value ``raw`` in canonical form for the catalog format ``fmt``, or ValidationError."""
    value = raw.strip()
    if fmt == "email":
        if not _EMAIL.match(value):
            raise ValidationError("rule format=email: not an e-mail address", where=where)
        return value
    if fmt == "phone":
        value = _PHONE_STRIP.sub("", value)
        if value.startswith("00"):
            value = "+" + value[2:]
        if not _E164.match(value):
            raise ValidationError(
                "rule format=phone: not an international number (+, country code, 6-15 digits)",
                where=where,
            )
        return value
    if fmt == "country":
        if value.upper() not in ISO_COUNTRIES:
            raise ValidationError(
                "rule format=country: not an ISO 3166-1 alpha-2 code", where=where
            )
        return value.upper()
    if fmt == "ip":
        try:
            return ipaddress.ip_address(value).compressed
        except ValueError:
            raise ValidationError(
                "rule format=ip: not an IPv4 or IPv6 address", where=where
            ) from None
    if fmt == "date":
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValidationError(
                "rule format=date: not an ISO date (YYYY-MM-DD)", where=where
            ) from None
    if fmt == "datetime":
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(
                "rule format=datetime: not an ISO date-time (YYYY-MM-DDTHH:MM[:SS])", where=where
            ) from None
        if parsed.tzinfo is not None:
            # naive database times are wall-clock time in the catalog's time zone
            parsed = parsed.astimezone(ZoneInfo(tz)).replace(tzinfo=None)
        return parsed
    return raw


def check_column(column: Column[Any], value: Any, where: str) -> Any:
    """``value`` converted to the column's type, or ValidationError (length, NOT NULL, type)."""
    if value is None:
        if not column.nullable:
            raise ValidationError(
                "rule not-null: the column does not accept an empty value", where=where
            )
        return None
    ctype = column.type
    if isinstance(ctype, sat.String):
        text = value if isinstance(value, str) else value.isoformat()
        if ctype.length is not None and len(text) > ctype.length:
            raise ValidationError(
                f"rule max-length={ctype.length}: the value is too long", where=where
            )
        return text
    if isinstance(ctype, sat.Integer):
        try:
            return int(str(value).strip())
        except ValueError:
            raise ValidationError("rule type=integer: not a whole number", where=where) from None
    if isinstance(ctype, sat.Numeric):
        try:
            return Decimal(str(value).strip())
        except InvalidOperation:
            raise ValidationError("rule type=number: not a number", where=where) from None
    if isinstance(ctype, sat.DateTime):
        if isinstance(value, datetime):
            return value
        return check_format("datetime", str(value), where)
    if isinstance(ctype, sat.Date):
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        return check_format("date", str(value), where)
    return value


def validate_assignment(
    catalog: Catalog, table: Table, field: Field, column: Column[Any], raw: str
) -> Any:
    """The value to store for ``raw`` in ``table.field``: format first, then the live column."""
    where = f"{table.name}.{field.name}"
    if raw == "":
        return check_column(column, None, where)
    value = check_format(field.format, raw, where, catalog.timezone)
    return check_column(column, value, where)


__all__ = [
    "ISO_COUNTRIES",
    "Assignment",
    "check_column",
    "check_format",
    "parse_assignment",
    "validate_assignment",
]
