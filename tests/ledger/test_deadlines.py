"""Art. 12(3) deadlines counted under Regulation 1182/71, with Saxon public holidays."""

from __future__ import annotations

from datetime import date

import holidays
import pytest

from dsr.catalog.loader import load_catalog
from dsr.errors import ConfigError
from dsr.ledger.deadlines import (
    add_months,
    calendar_for,
    due_date,
    extended_due_date,
    holiday_calendar,
)

SAXONY = holiday_calendar("DE", "SN")
FEDERAL = holiday_calendar("DE", None)


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        (date(2025, 1, 15), date(2025, 2, 17)),  # 15 Feb 2025 is a Saturday
        (date(2025, 3, 3), date(2025, 4, 3)),  # a plain Thursday
        (date(2025, 1, 31), date(2025, 2, 28)),  # no 31 Feb: last day, a Friday
        (date(2024, 1, 31), date(2024, 2, 29)),  # leap year: 29 Feb, a Thursday
        (date(2025, 12, 31), date(2026, 2, 2)),  # 31 Jan 2026 is a Saturday: Monday
    ],
)
def test_same_day_next_month_or_last_day(received: date, expected: date) -> None:
    assert due_date(received, calendar=SAXONY) == expected


def test_add_months_keeps_day_number_or_takes_last_day() -> None:
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert add_months(date(2025, 3, 31), 1) == date(2025, 4, 30)
    assert add_months(date(2025, 11, 30), 2) == date(2026, 1, 30)
    assert add_months(date(2025, 12, 15), 1) == date(2026, 1, 15)


def test_end_of_february_shifts_off_the_weekend() -> None:
    # 28 Feb 2026 is a Saturday, 28 Feb 2027 a Sunday, 29 Feb 2020 a Saturday.
    assert date(2026, 2, 28).weekday() == 5
    assert due_date(date(2026, 1, 31), calendar=SAXONY) == date(2026, 3, 2)
    assert date(2027, 2, 28).weekday() == 6
    assert due_date(date(2027, 1, 31), calendar=SAXONY) == date(2027, 3, 1)
    assert date(2020, 2, 29).weekday() == 5
    assert due_date(date(2020, 1, 31), calendar=SAXONY) == date(2020, 3, 2)
    # and the plain ones stay where they are (Friday, Thursday)
    assert due_date(date(2025, 1, 31), calendar=SAXONY).weekday() == 4
    assert due_date(date(2024, 1, 31), calendar=SAXONY).weekday() == 3


def test_saturday_moves_to_monday() -> None:
    assert date(2025, 5, 10).weekday() == 5
    assert due_date(date(2025, 4, 10), calendar=SAXONY) == date(2025, 5, 12)


def test_easter_monday_moves_to_tuesday() -> None:
    easter_monday = date(2025, 4, 21)
    assert easter_monday in holidays.country_holidays("DE", years=2025)
    assert due_date(date(2025, 3, 21), calendar=SAXONY) == date(2025, 4, 22)
    assert due_date(date(2025, 3, 21), calendar=FEDERAL) == date(2025, 4, 22)


def test_reformation_day_is_a_holiday_in_saxony_only() -> None:
    reformation = date(2025, 10, 31)  # a Friday
    assert reformation.weekday() == 4
    assert reformation in holidays.country_holidays("DE", subdiv="SN", years=2025)
    assert reformation not in holidays.country_holidays("DE", years=2025)
    # Two months from 31 August end on 31 October.
    assert due_date(date(2025, 8, 31), months=2, calendar=SAXONY) == date(2025, 11, 3)
    assert due_date(date(2025, 8, 31), months=2, calendar=FEDERAL) == reformation


def test_repentance_day_is_a_holiday_in_saxony() -> None:
    repentance = date(2025, 11, 19)  # Buß- und Bettag, a Wednesday
    assert repentance in holidays.country_holidays("DE", subdiv="SN", years=2025)
    assert repentance not in holidays.country_holidays("DE", subdiv="BY", years=2025)
    assert due_date(date(2025, 10, 19), calendar=SAXONY) == date(2025, 11, 20)
    assert due_date(date(2025, 10, 19), calendar=FEDERAL) == repentance


def test_christmas_and_weekend_chain() -> None:
    # 25 and 26 Dec are holidays, 27/28 Dec 2025 a weekend: next working day is Monday 29.
    assert due_date(date(2025, 11, 25), calendar=SAXONY) == date(2025, 12, 29)


def test_default_calendar_is_saxony() -> None:
    assert due_date(date(2025, 8, 31), months=2) == date(2025, 11, 3)


def test_extension_counts_from_the_original_period_not_the_shifted_end() -> None:
    # Original due: 28 Feb 2026 is a Saturday, so 2 March. One more month counts from
    # receipt (31 Jan + 2 months = 31 March, a Tuesday), not from 2 March.
    assert due_date(date(2026, 1, 31), calendar=SAXONY) == date(2026, 3, 2)
    assert extended_due_date(date(2026, 1, 31), 1, SAXONY) == date(2026, 3, 31)
    assert extended_due_date(date(2025, 3, 3), 2, SAXONY) == date(2025, 6, 3)
    # an extended end on Reformation Day (31 Jul + 3 months) moves as well
    assert extended_due_date(date(2025, 7, 31), 2, SAXONY) == date(2025, 11, 3)


@pytest.mark.parametrize("months", [0, 3])
def test_extension_is_one_or_two_months(months: int) -> None:
    with pytest.raises(ValueError):
        extended_due_date(date(2025, 3, 3), months, SAXONY)


def test_calendar_from_the_catalog() -> None:
    catalog = load_catalog()
    assert (catalog.holidays_country, catalog.holidays_subdivision) == ("DE", "SN")
    assert date(2025, 10, 31) in calendar_for(catalog)


def test_unknown_country_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="XX"):
        holiday_calendar("XX", None)
