"""`within_time_range` accepts exactly the times in [1900-01-01Z, 3000-01-01Z), whatever their
offset: its shortcut for years well inside the range must agree with comparing instants."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.cloudevent import EARLIEST_TIME, LATEST_TIME, within_time_range

OFFSETS = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
EDGE_YEARS = st.sampled_from([1899, 1900, 1901, 2997, 2998, 2999])


def _in_range(value: datetime) -> bool:
    if not 1900 <= value.year < 3000:
        return False
    return EARLIEST_TIME <= value < LATEST_TIME


@given(st.one_of(
    st.datetimes(min_value=datetime(1800, 1, 2), max_value=datetime(3100, 1, 1), timezones=OFFSETS),
    st.builds(lambda year, moment, zone: moment.replace(year=year, tzinfo=zone), EDGE_YEARS,
              st.datetimes(max_value=datetime(2000, 12, 31)).filter(
                  lambda m: not (m.month == 2 and m.day == 29)), OFFSETS),
))
def test_accepts_exactly_the_instants_in_range(value: datetime) -> None:
    if _in_range(value):
        assert within_time_range(value) is value
    else:
        with pytest.raises(ValueError):
            within_time_range(value)


def test_the_edges() -> None:
    plus14, minus12 = timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))
    assert within_time_range(EARLIEST_TIME) is EARLIEST_TIME
    with pytest.raises(ValueError):
        within_time_range(datetime(1900, 1, 1, 13, tzinfo=plus14))  # 1899-12-31T23:00Z
    with pytest.raises(ValueError):
        within_time_range(datetime(2999, 12, 31, 12, tzinfo=minus12))  # 3000-01-01T00:00Z
    late = datetime(2999, 12, 31, 11, 59, 59, 999999, tzinfo=minus12)
    assert within_time_range(late) is late
