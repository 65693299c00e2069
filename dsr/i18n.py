"""Everything language-dependent in what dsr writes for people, in one place.

Reports and letters take their fixed texts from ``reports/i18n/<lang>.yaml`` (:func:`texts`)
and everything else from Babel's CLDR data: plural forms (:func:`plural`: "1 Datenbestand",
"2 Datenbeständen"), dates and times, numbers, amounts with their currency, and country names
(:func:`country_name`). A text with a count is written in the YAML as its CLDR plural categories::

    n_collections_dative: {one: "{n} Datenbestand", other: "{n} Datenbeständen"}

Nothing here reads the database or the catalog; the catalog's own texts (titles, purposes)
come in their languages from the catalog.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import yaml
from babel import Locale
from babel.dates import format_date as _babel_date
from babel.numbers import format_currency, format_decimal

from dsr._resources import resource_path
from dsr.catalog.loader import SAFE_LOADER
from dsr.catalog.model import LANGUAGES
from dsr.errors import ConfigError

#: How each language writes a date in running text and tables.
DATE_PATTERNS = {"en": "d MMMM y", "de": "dd.MM.y"}


@lru_cache(maxsize=4)
def texts(lang: str) -> dict[str, Any]:
    """The fixed texts of reports and letters in ``lang`` (``reports/i18n/<lang>.yaml``)."""
    if lang not in LANGUAGES:
        raise ConfigError(
            f"unsupported language {lang!r}; use one of {', '.join(LANGUAGES)}", where="--lang"
        )
    with resource_path("reports", "i18n", f"{lang}.yaml").open(encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=SAFE_LOADER)  # noqa: S506 - a safe loader
    if not isinstance(data, dict):
        raise ConfigError("report texts are not a mapping", where=f"reports/i18n/{lang}.yaml")
    return data


@lru_cache(maxsize=4)
def _locale(lang: str) -> Locale:
    return Locale.parse(lang)


def plural_category(n: int, lang: str) -> str:
    """CLDR's plural category of ``n`` in ``lang``: ``one``, ``other`` (``few``, ... elsewhere)."""
    return str(_locale(lang).plural_form(abs(n)))


def plural(forms: Mapping[str, str] | str, n: int, lang: str, **values: Any) -> str:
    """The form of ``forms`` for ``n`` with ``{n}`` (written as the language writes numbers)
    and any other ``values`` filled in; a plain string is used for every count."""
    if isinstance(forms, str):
        text = forms
    else:
        text = forms.get(plural_category(n, lang)) or forms["other"]
    return text.format(n=count_text(n, lang), **values)


def count_text(value: int, lang: str) -> str:
    """A count with the language's grouping: 3,141 (en), 3.141 (de)."""
    return str(format_decimal(value, locale=lang))


def decimal_text(value: Decimal | float, lang: str) -> str:
    """A decimal number with two places: 1,234.50 (en), 1.234,50 (de)."""
    return str(format_decimal(value, format="#,##0.00", locale=lang))


def amount_text(value: Decimal | float | int, lang: str, currency: str = "EUR") -> str:
    """An amount as the language writes it: €23,222.44 (en), 23.222,44 € (de)."""
    return str(format_currency(Decimal(value), currency, locale=lang))


def date_text(value: date, lang: str) -> str:
    """A date: 1 December 2026 (en), 01.12.2026 (de)."""
    return str(_babel_date(value, DATE_PATTERNS[lang], locale=lang))


def datetime_text(value: datetime, lang: str) -> str:
    """A date and time to the minute: 1 December 2026, 14:05 (en), 01.12.2026, 14:05 (de)."""
    return f"{date_text(value, lang)}, {value.hour:02d}:{value.minute:02d}"


def country_name(code: str, lang: str) -> str:
    """A country's name from its ISO 3166-1 code (Deutschland, United States); the code itself
    when CLDR does not know it."""
    return str(_locale(lang).territories.get(code.upper(), code))


def value_text(value: Any, lang: str) -> str:
    """A stored value as a person reads it in ``lang`` (dates, numbers, yes/no)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        t = texts(lang)
        return str(t["word_yes"] if value else t["word_no"])
    if isinstance(value, datetime):
        return datetime_text(value, lang)
    if isinstance(value, date):
        return date_text(value, lang)
    if isinstance(value, Decimal | float):
        return decimal_text(value, lang)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


__all__ = [
    "amount_text",
    "count_text",
    "country_name",
    "date_text",
    "datetime_text",
    "decimal_text",
    "plural",
    "plural_category",
    "texts",
    "value_text",
]
