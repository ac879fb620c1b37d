"""The working-day memo never changes an answer: asked again, in any order, a calendar gives
what a fresh calendar gives (streams/rules/calendar.py)."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from streams.rules.calendar import WorkCalendar

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
