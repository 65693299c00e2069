"""One language module for reports and letters: CLDR plurals, dates, numbers, country names."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from dsr.i18n import (
    amount_text,
    count_text,
    country_name,
    date_text,
    datetime_text,
    plural,
    texts,
    value_text,
)

DE = "Wir speichern personenbezogene Daten über Sie in "
EN = "We hold personal data about you in "


@pytest.mark.parametrize(
    ("lang", "n", "expected"),
    [
        ("de", 1, DE + "1 Datenbestand (insgesamt 1 Datensatz)."),
        ("de", 2, DE + "2 Datenbeständen (insgesamt 2 Datensätze)."),
        ("en", 1, EN + "1 data collection (1 record in total)."),
        ("en", 3141, EN + "3,141 data collections (3,141 records in total)."),
    ],
)
def test_counts_take_the_plural_form_the_language_needs(lang: str, n: int, expected: str) -> None:
    t = texts(lang)
    found = t["found_text"].format(
        tables=plural(t["n_collections"], n, lang), rows=plural(t["n_records"], n, lang)
    )
    assert found == expected


def test_every_text_with_forms_has_the_other_form_in_both_languages() -> None:
    def forms(d: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for v in d.values():
            if isinstance(v, dict) and {"one"} & set(v):
                out.append(v)
            elif isinstance(v, dict):
                out += forms(v)
        return out

    for lang in ("en", "de"):
        found = forms(texts(lang))
        assert len(found) >= 7  # four units, collections, records, the IP-only note
        assert all("other" in f for f in found)


def test_dates_numbers_amounts_and_countries_come_from_cldr() -> None:
    assert date_text(date(2026, 12, 1), "de") == "01.12.2026"
    assert date_text(date(2026, 12, 1), "en") == "1 December 2026"
    assert datetime_text(datetime(2026, 3, 2, 7, 5), "de") == "02.03.2026, 07:05"
    assert count_text(1234567, "de") == "1.234.567"
    assert amount_text(Decimal("5"), "en", "USD") == "$5.00"
    assert amount_text(Decimal("5"), "de", "CHF") == "5,00\xa0CHF"
    assert country_name("PL", "de") == "Polen"  # not in any list of ours
    assert country_name("US", "de") == "Vereinigte Staaten"
    assert country_name("US", "en") == "United States"
    assert country_name("XK", "de") == "Kosovo"
    assert value_text(Decimal("0.5"), "de") == "0,50"


def test_a_language_dsr_does_not_write_is_refused_naming_the_option() -> None:
    from dsr.errors import ConfigError

    with pytest.raises(ConfigError, match="--lang"):
        texts("fr")
