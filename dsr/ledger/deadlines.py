"""Deadlines of the request register: Art. 12(3) GDPR counted as Regulation 1182/71 counts.

Art. 12(3) GDPR gives the controller one month from receipt of a request, extendable by two
further months where necessary. Periods in EU law are computed under Regulation (EEC,
Euratom) No 1182/71:

* Art. 3(1): the day of the event (receipt) does not count;
* Art. 3(2)(c): a period in months ends on the day of the last month with the same number as
  the day of receipt; where that day does not exist, on the last day of that month;
* Art. 3(4): a period ending on a Saturday, Sunday or public holiday ends on the next working
  day.

Public holidays are those of the controller's seat, from the ``holidays`` library (the
catalog's ``holidays: {country, subdivision}``; default Saxony, ``DE``/``SN``, where
Reformation Day and Repentance Day are holidays).
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Container
from datetime import date, timedelta
from functools import lru_cache

import holidays

from dsr.errors import ConfigError

#: Art. 12(3) sentence 1: one month; sentence 2: at most two further months.
BASE_MONTHS = 1
MAX_EXTENSION_MONTHS = 2

HolidayCalendar = Container[date]


@lru_cache(maxsize=16)
def holiday_calendar(country: str = "DE", subdivision: str | None = "SN") -> HolidayCalendar:
    """The public holidays of ``country`` (and ``subdivision``), years expanded on demand."""
    try:
        return holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError:
        raise ConfigError(
            f"the holidays library does not know country {country!r}", where="holidays.country"
        ) from None
    except ValueError as exc:
        raise ConfigError(str(exc), where="holidays.subdivision") from None


def calendar_for(catalog: object | None) -> HolidayCalendar:
    """The holiday calendar a catalog names (``holidays_country``/``holidays_subdivision``)."""
    if catalog is None:
        return holiday_calendar()
    return holiday_calendar(
        getattr(catalog, "holidays_country", "DE"),
        getattr(catalog, "holidays_subdivision", None),
    )


def calendar_name(catalog: object | None) -> str:
    """How the register names the calendar :func:`calendar_for` gives: ``DE-SN``, ``AT``."""
    if catalog is None:
        return "DE-SN"
    country = getattr(catalog, "holidays_country", "DE")
    subdivision = getattr(catalog, "holidays_subdivision", None)
    return f"{country}-{subdivision}" if subdivision else str(country)


def add_months(start: date, months: int) -> date:
    """The same day number ``months`` later, else that month's last day (1182/71 Art. 3(2)(c))."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, _calendar.monthrange(year, month)[1]))


def is_working_day(day: date, calendar: HolidayCalendar) -> bool:
    """Neither a Saturday, a Sunday nor a public holiday (1182/71 Art. 3(4))."""
    return day.weekday() < 5 and day not in calendar


def next_working_day(day: date, calendar: HolidayCalendar) -> date:
    """``day`` itself if it is a working day, else the first working day after it."""
    while not is_working_day(day, calendar):
        day += timedelta(days=1)
    return day


def due_date(
    received: date, months: int = BASE_MONTHS, calendar: HolidayCalendar | None = None
) -> date:
    """The last day of a period of ``months`` months running from ``received``.

    Art. 12(3) GDPR with Regulation 1182/71 Art. 3: the same day number ``months`` later (the
    last day of that month where it has no such day), moved to the next working day when it
    is a Saturday, Sunday or public holiday of ``calendar`` (default Saxony).
    """
    if months < 1:
        raise ValueError("a period has at least one month")
    cal = holiday_calendar() if calendar is None else calendar
    return next_working_day(add_months(received, months), cal)


def extended_due_date(
    received: date, extension_months: int, calendar: HolidayCalendar | None = None
) -> date:
    """The due date after extending by ``extension_months`` (Art. 12(3) sentence 2).

    The extension is counted from the original period, not from its holiday-shifted end:
    received + 1 + ``extension_months`` months, then the same end-of-period rules.
    """
    if not 1 <= extension_months <= MAX_EXTENSION_MONTHS:
        raise ValueError(f"an extension is 1 to {MAX_EXTENSION_MONTHS} months")
    return due_date(received, BASE_MONTHS + extension_months, calendar)
