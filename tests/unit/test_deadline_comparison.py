"""An act's time is compared with its deadline in Shanghai where that is exact (`engine._after`,
issue 14, session 8): for any aware times, in any zone and year, it answers as `>` does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import example, given
from hypothesis import strategies as st

from streams.rules.calendar import SHANGHAI, end_of_day
from streams.rules.engine import _after
from tests.unit.test_shanghai_memo import MOMENTS, ZONES

DEADLINES = st.one_of(
    MOMENTS,
    st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2999, 12, 30),
                 timezones=st.just(SHANGHAI)),
    st.dates(min_value=datetime(1900, 1, 2).date(),
             max_value=datetime(2999, 12, 30).date()).map(end_of_day),
)


NEW_YORK = ZoneInfo("America/New_York")


@given(MOMENTS, DEADLINES, st.sampled_from([0, 1]))
# two times in one zone other than Shanghai, the deadline in its spring-forward gap: `>`
# compares their wall clocks, their instants order the other way (found by hypothesis)
@example(datetime(1998, 4, 5, 1, 0, 0, 1, tzinfo=NEW_YORK),
         datetime(1998, 4, 5, 2, 0, fold=1, tzinfo=NEW_YORK), 0)
def test_after_is_greater_than(moment: datetime, due_at: datetime, fold: int) -> None:
    moment = moment.replace(fold=fold)
    assert _after(moment, due_at) == (moment > due_at)


@given(DEADLINES, st.integers(-3, 3), ZONES)
def test_after_around_the_deadline(due_at: datetime, ticks: int, zone: timezone) -> None:
    """Acts a few microseconds before, at and after the deadline, in any zone."""
    moment = (due_at + timedelta(microseconds=ticks)).astimezone(zone)
    assert _after(moment, due_at) == (moment > due_at)


def test_after_across_shanghais_last_summer_time() -> None:
    """1991's summer time ended on 15 September, 02:00 back to 01:00: the wall clock repeats
    an hour, whose two halves (fold 0 and 1) are compared as instants."""
    first = datetime(1991, 9, 15, 1, 30, tzinfo=SHANGHAI)
    second = first.replace(fold=1)
    assert _after(second, first) == (second > first)
    assert _after(second.astimezone(UTC), first) is True
    assert _after(first.astimezone(UTC), second) is False
    assert _after(datetime(1992, 1, 1, tzinfo=UTC), datetime(1992, 1, 1, tzinfo=SHANGHAI))
