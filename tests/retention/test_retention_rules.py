"""Retention arithmetic and the SQL anonymisers."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select

from dsr.catalog.loader import load_catalog
from dsr.catalog.model import Anchor, Period, RetentionRule
from dsr.db import connect
from dsr.retention.rules import (
    cutoff,
    expires_at,
    last_day_kept,
    pending_condition,
    subtract,
    truncate_ip,
)

BERLIN = ZoneInfo("Europe/Berlin")


def test_months_clamp_to_the_end_of_a_shorter_month() -> None:
    assert subtract(datetime(2026, 8, 31, 10), Period.parse("6 months")) == datetime(
        2026, 2, 28, 10
    )
    assert subtract(datetime(2024, 2, 29), Period.parse("1 year")) == datetime(2023, 2, 28)
    assert subtract(datetime(2026, 1, 8), Period.parse("7 days")) == datetime(2026, 1, 1)


def test_end_of_year_cutoff_uses_the_catalog_time_zone() -> None:
    rule = load_catalog().retention["invoices"]
    # 2026-12-31T23:30Z is already 2027 in Berlin: issued in 2018 may go
    late = cutoff(rule, datetime(2026, 12, 31, 23, 30, tzinfo=timezone.utc), "Europe/Berlin")
    assert late.value == datetime(2019, 1, 1) and not late.inclusive
    same = cutoff(rule, datetime(2026, 12, 31, 23, 30, tzinfo=timezone.utc), "UTC")
    assert same.value == datetime(2018, 1, 1)


def test_plain_cutoff_is_wall_clock_local_time() -> None:
    rule = load_catalog().retention["usage_log_truncate_ip"]
    c = cutoff(rule, datetime(2026, 3, 29, 12, 0, tzinfo=BERLIN), "Europe/Berlin")  # DST day
    assert c.value == datetime(2026, 3, 22, 12, 0) and c.inclusive


IPS = [
    ("198.51.100.23", "198.51.100.0", True),
    ("198.51.100.0", "198.51.100.0", False),
    ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::", True),
    ("2001:db8:85a3::7348", "2001:db8:85a3::", True),
    ("2001:db8::1", "2001:db8::", True),
    ("2001:db8:85a3::", "2001:db8:85a3::", False),
    ("::1", "::", True),
    ("not an ip", None, True),
    (None, None, False),
]


def test_truncate_ip_in_sql_is_idempotent(db_url: str) -> None:
    engine = connect(db_url)
    md = MetaData()
    t = Table("ips", md, Column("id", Integer, primary_key=True), Column("ip", String(45)))
    md.create_all(engine)
    dialect = engine.dialect.name
    with engine.begin() as c:
        c.execute(insert(t), [{"id": i + 1, "ip": ip} for i, (ip, _, _) in enumerate(IPS)])
        rows = c.execute(
            select(
                truncate_ip(t.c.ip, dialect), pending_condition(t.c.ip, "truncate_ip", dialect)
            ).order_by(t.c.id)
        ).all()
    assert [(r[0], bool(r[1])) for r in rows] == [(want, pending) for _, want, pending in IPS]
    engine.dispose()


def _expired(rule: RetentionRule, anchor: datetime, now: datetime) -> bool:
    """The purge's own decision (the SQL condition compares with the same cutoff)."""
    c = cutoff(rule, now, "Europe/Berlin")
    return anchor <= c.value if c.inclusive else anchor < c.value


@pytest.mark.parametrize(
    "period", ["1 day", "30 days", "2 weeks", "1 month", "6 months", "1 year", "10 years"]
)
@pytest.mark.parametrize("end_of_year", [False, True])
def test_kept_until_is_the_purge_day_for_every_day_of_a_leap_year(
    period: str, end_of_year: bool
) -> None:
    rule = RetentionRule(
        id="r",
        period=Period.parse(period),
        anchor=Anchor(column="ts", end_of_year=end_of_year),
        action="delete",
        legal_reference="x",
    )
    day = datetime(2024, 1, 1, 14, 30)
    while day.year == 2024:
        for anchor in (day, day.replace(hour=0, minute=0)):
            expiry = expires_at(rule, anchor, "Europe/Berlin")
            just_before = expiry - timedelta(microseconds=1)
            assert not _expired(rule, anchor, just_before), (anchor, expiry)
            assert _expired(rule, anchor, expiry), (anchor, expiry)
            # the day an erasure reports as the last one kept is the last the purge keeps
            last = last_day_kept(expiry)
            assert not _expired(rule, anchor, datetime.combine(last, time(12), tzinfo=BERLIN))
            after = datetime.combine(last + timedelta(days=1), time(23, 59), tzinfo=BERLIN)
            assert _expired(rule, anchor, after)
        day += timedelta(days=1)
