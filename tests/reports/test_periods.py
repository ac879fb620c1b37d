"""Reporting periods in Asia/Shanghai, and the exact 万元 conversion and id masking of the
双公示 export (unit)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.penalty.cells import parse_amount
from hub.reports.disclosure import mask_person_id, wan
from hub.reports.periods import PeriodError, parse_period


def test_periods_and_their_bounds() -> None:
    october = parse_period("2026-10")
    assert october.start.isoformat() == "2026-10-01T00:00:00+08:00"
    assert october.end.isoformat() == "2026-11-01T00:00:00+08:00"
    assert parse_period("2026-12").end.isoformat() == "2027-01-01T00:00:00+08:00"
    q4 = parse_period("2026-Q4")
    assert (q4.kind, q4.months, q4.zh) == ("quarter", ["2026-10", "2026-11", "2026-12"],
                                           "2026年第4季度")
    assert len(parse_period("2026").months) == 12
    for bad in ("2026-13", "2026-00", "2026-Q5", "1999", "26-10", "2026-1", ""):
        with pytest.raises(PeriodError):
            parse_period(bad)


@given(st.integers(2000, 2098), st.integers(1, 12))
def test_months_tile_the_year(year: int, month: int) -> None:
    p = parse_period(f"{year}-{month:02d}")
    following = parse_period(f"{year + (month == 12)}-{month % 12 + 1:02d}")
    assert p.end == following.start
    assert timedelta(days=28) <= p.end - p.start <= timedelta(days=31)


@given(st.decimals(min_value=0, max_value=Decimal("99999999.99"), places=2))
def test_wan_is_exact_and_read_back_by_the_importer(yuan: Decimal) -> None:
    assert parse_amount(wan(yuan)) == yuan


def test_masking() -> None:
    assert mask_person_id("442000199001011234") == "442000********1234"
    assert mask_person_id("442000900101123") == "442000******123"
    assert mask_person_id("AB1234567") == "AB*****67"
