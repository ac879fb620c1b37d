"""The calendar's memos never change an answer: asked again, in any order, a calendar gives
what a fresh calendar gives (streams/rules/calendar.py): the first working day from a day,
and the deadline of a period counted in days, working days or months."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.rules.calendar import (
    SHANGHAI,
    DueTime,
    Unit,
    WorkCalendar,
    YearOverride,
    add_days,
    add_hours,
    add_months,
    add_working_days,
    due_after,
)

SHARED = WorkCalendar()
DAYS = st.dates(min_value=date(2019, 1, 1), max_value=date(2031, 12, 31))


@given(st.lists(DAYS, min_size=1, max_size=30))
def test_memoised_answers_equal_fresh_ones(days: list[date]) -> None:
    for day in days + days[::-1]:
        assert SHARED.first_workday_from(day) == WorkCalendar().first_workday_from(day)


def test_the_memo_is_not_part_of_equality() -> None:
    used = WorkCalendar()
    used.first_workday_from(date(2026, 10, 1))
    assert used == WorkCalendar()


CLOSED = WorkCalendar({2025: YearOverride(holidays=(date(2025, 3, 6),),
                                          workdays=(date(2025, 3, 8),)),
                        2099: YearOverride(holidays=(date(2099, 1, 2),))})


@given(st.lists(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)),
                min_size=1, max_size=30))
def test_memoised_working_days_equal_the_calendars_reading(days: list[date]) -> None:
    """`is_workday`'s memo answers as the override and the library do, asked again and in any
    order, for years the library knows and years it does not, with and without an override."""
    for day in days + days[::-1] + [date(2025, 3, 6), date(2025, 3, 8), date(2099, 1, 2)]:
        for calendar in (SHARED, CLOSED):
            assert calendar.is_workday(day) == calendar._reads_workday(day)
            assert calendar.is_workday(day) == WorkCalendar(calendar.overrides)._reads_workday(day)


MOMENTS = st.datetimes(min_value=datetime(2019, 1, 1), max_value=datetime(2031, 12, 31),
                       timezones=st.sampled_from([UTC, SHANGHAI, timezone(timedelta(hours=-11)),
                                                  timezone(timedelta(hours=14))]))
PERIODS = st.one_of(
    st.tuples(st.integers(0, 400), st.sampled_from(["days", "months", "hours"])),
    st.tuples(st.integers(0, 60), st.just("working_days")),
)
FRESH: dict[str, Callable[[datetime, int, WorkCalendar], DueTime]] = {
    "days": add_days, "working_days": add_working_days, "months": add_months,
    "hours": lambda start, amount, _: add_hours(start, amount),
}


@given(st.lists(st.tuples(MOMENTS, PERIODS), min_size=1, max_size=20))
def test_memoised_deadlines_equal_fresh_ones(asked: list[tuple[datetime, tuple[int, str]]]) -> None:
    """due_after's memo (by the start's Shanghai date) answers as each counting rule does,
    asked again and in any order, also when another start on the same day came first."""
    for start, (amount, unit) in asked + asked[::-1]:
        fresh = FRESH[unit](start, amount, WorkCalendar())
        assert due_after(start, amount, cast(Unit, unit), SHARED) == fresh
        assert due_after(start, amount, cast(Unit, unit), SHARED).first_late_instant == \
            fresh.first_late_instant


def test_memoised_deadlines_follow_each_calendars_override() -> None:
    """The memo belongs to one calendar: an override's holiday moves its deadlines only."""
    start = datetime(2025, 3, 3, 10, tzinfo=SHANGHAI)
    plain = due_after(start, 3, "days", SHARED)
    closed = WorkCalendar({2025: YearOverride(holidays=(date(2025, 3, 6),))})
    assert due_after(start, 3, "days", closed).at.date() == date(2025, 3, 7)
    assert due_after(start, 3, "days", SHARED) == plain
    assert plain.at.date() == date(2025, 3, 6)
    assert due_after(start.replace(hour=23), 3, "days", SHARED) is plain  # memoised by date


def test_a_refused_period_is_not_memoised() -> None:
    start = datetime(2025, 3, 3, 10, tzinfo=SHANGHAI)
    for _ in range(2):
        with pytest.raises(ValueError):
            due_after(start, -1, "days", SHARED)
        with pytest.raises(ValueError):
            due_after(datetime(2025, 3, 3, 10), 3, "days", SHARED)
