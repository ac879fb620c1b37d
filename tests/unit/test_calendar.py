"""Deadline arithmetic: holiday extension, 调休, hours, operator override, unknown years."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from streams.rules import ConfigError, WorkCalendar, YearOverride, add_days, add_hours, due_after
from streams.rules.calendar import (
    SHANGHAI,
    add_months,
    add_working_days,
    end_of_day,
    load_calendar_override,
    parse_calendar_override,
)

OFFICIAL = WorkCalendar()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_days_end_at_the_last_instant_of_the_nth_day_after_the_start_date() -> None:
    due = add_days(at("2025-03-03T10:00:00+08:00"), 3, OFFICIAL)
    assert due.at == at("2025-03-06T23:59:59.999999+08:00")
    assert not due.extended
    assert due.first_late_instant == at("2025-03-07T00:00:00+08:00")


def test_the_start_day_does_not_count_even_late_at_night() -> None:
    assert add_days(at("2025-03-03T23:59:00+08:00"), 3, OFFICIAL).at.date() == date(2025, 3, 6)
    assert add_days(at("2025-03-03T00:00:00+08:00"), 3, OFFICIAL).at.date() == date(2025, 3, 6)


def test_days_are_counted_on_the_shanghai_date() -> None:
    # 2025-03-02T17:00Z is 2025-03-03 01:00 in Shanghai.
    due = add_days(datetime(2025, 3, 2, 17, tzinfo=UTC), 3, OFFICIAL)
    assert due.at == at("2025-03-06T23:59:59.999999+08:00")
    assert due.at.tzinfo == SHANGHAI


def test_guoqing_2025_moves_the_last_day_to_the_first_working_day_after_it() -> None:
    due = add_days(at("2025-09-29T10:00:00+08:00"), 3, OFFICIAL)
    assert due.nominal_last_day == date(2025, 10, 2)
    assert due.at == end_of_day(date(2025, 10, 9))
    assert due.extended


def test_spring_festival_2026() -> None:
    due = add_days(at("2026-02-12T10:00:00+08:00"), 3, OFFICIAL)
    assert due.at.date() == date(2026, 2, 24)


def test_an_ordinary_weekend_extends_too() -> None:
    assert add_days(at("2025-03-05T10:00:00+08:00"), 3, OFFICIAL).at.date() == date(2025, 3, 10)


def test_a_tiaoxiu_working_weekend_day_is_not_extended() -> None:
    due = add_days(at("2025-09-25T10:00:00+08:00"), 3, OFFICIAL)
    assert due.at.date() == date(2025, 9, 28)  # a Sunday, but a working day
    assert not due.extended


def test_holidays_inside_the_period_are_not_skipped() -> None:
    # 15 days from 2025-04-01 run through 清明 (04-04..06) and end on Wednesday 04-16.
    assert add_days(at("2025-04-01T10:00:00+08:00"), 15, OFFICIAL).at.date() == date(2025, 4, 16)


def test_hours_are_elapsed_time_and_never_extended() -> None:
    due = add_hours(at("2025-09-30T10:15:00+08:00"), 24)
    assert due.at == at("2025-10-01T10:15:00+08:00")
    assert due.nominal_last_day is None and not due.extended
    assert due_after(at("2025-09-30T10:15:00+08:00"), 24, "hours", OFFICIAL) == due


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        add_days(datetime(2025, 3, 3, 10), 3, OFFICIAL)


def test_negative_periods_are_refused() -> None:
    with pytest.raises(ValueError):
        add_days(at("2025-03-03T10:00:00+08:00"), -1, OFFICIAL)
    with pytest.raises(ValueError):
        add_hours(at("2025-03-03T10:00:00+08:00"), -1)


def test_override_adds_a_holiday_to_a_known_year() -> None:
    calendar = WorkCalendar({2025: YearOverride(holidays=(date(2025, 3, 6),))})
    due = add_days(at("2025-03-03T10:00:00+08:00"), 3, calendar)
    assert due.at.date() == date(2025, 3, 7)
    assert due.unverified_years == ()


def test_override_adds_a_working_day_to_a_known_year() -> None:
    calendar = WorkCalendar({2025: YearOverride(workdays=(date(2025, 3, 8),))})
    assert add_days(at("2025-03-05T10:00:00+08:00"), 3, calendar).at.date() == date(2025, 3, 8)


def test_unknown_year_falls_back_to_weekends_and_is_flagged() -> None:
    due = add_days(at("2027-03-03T10:00:00+08:00"), 3, OFFICIAL)
    assert due.at.date() == date(2027, 3, 8)  # Saturday 03-06 -> Monday 03-08
    assert due.unverified_years == (2027,)
    assert not OFFICIAL.knows(2027)
    assert OFFICIAL.knows(2025)


def test_unknown_year_with_an_override_is_not_flagged() -> None:
    calendar = WorkCalendar({2027: YearOverride(holidays=(date(2027, 3, 8),))})
    due = add_days(at("2027-03-03T10:00:00+08:00"), 3, calendar)
    assert due.at.date() == date(2027, 3, 9)
    assert due.unverified_years == ()


def test_a_period_ending_across_into_an_unknown_year_is_flagged() -> None:
    due = add_days(at("2026-12-28T10:00:00+08:00"), 5, OFFICIAL)  # 2027-01-02, a Saturday
    assert due.at.date() == date(2027, 1, 4)
    assert due.unverified_years == (2027,)


def test_override_table_validation_names_the_path() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_calendar_override({"2027": {"holidays": [date(2026, 1, 1)]}})
    assert caught.value.problems[0].path == "calendar.2027"
    with pytest.raises(ConfigError) as caught:
        parse_calendar_override({"2027": {"holidays": ["not a date"]}})
    assert caught.value.problems[0].path == "calendar.2027.holidays[0]"
    with pytest.raises(ConfigError, match="both"):
        parse_calendar_override(
            {"2027": {"holidays": [date(2027, 1, 2)], "workdays": [date(2027, 1, 2)]}}
        )
    with pytest.raises(ConfigError) as caught:
        parse_calendar_override({"2027": {"holidayz": []}})
    assert caught.value.problems[0].path == "calendar.2027.holidayz"


def test_calendar_override_file(tmp_path: Path) -> None:
    path = tmp_path / "calendar.toml"
    path.write_text(
        "[calendar.2027]\nholidays = [2027-01-01, 2027-03-08]\nworkdays = [2027-02-06]\n",
        encoding="utf-8",
    )
    years = load_calendar_override(path)
    assert years[2027].holidays == (date(2027, 1, 1), date(2027, 3, 8))
    assert WorkCalendar(years).is_workday(date(2027, 2, 6))  # a Saturday made a working day
    path.write_text("[calendar.2027\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_calendar_override(path)
    assert caught.value.problems[0].file == str(path)


def test_a_calendar_with_no_working_day_in_sight_is_an_error() -> None:
    start = date(2027, 1, 1)
    rest = tuple(start + timedelta(days=i) for i in range(90))
    calendar = WorkCalendar({2027: YearOverride(holidays=rest)})
    with pytest.raises(ConfigError, match="working day"):
        add_days(at("2026-12-31T10:00:00+08:00"), 1, calendar)


# -- working days (SAMR Order 20: 工作日) and months (民法典 Arts 201-203) -----------------------


def test_working_days_skip_ordinary_weekends() -> None:
    # Fri 2025-03-07 + 1 working day = Mon 03-10
    due = add_working_days(at("2025-03-07T16:00:00+08:00"), 1, OFFICIAL)
    assert due.at == at("2025-03-10T23:59:59.999999+08:00")


def test_working_days_count_a_tiaoxiu_sunday() -> None:
    # Fri 2025-09-26 + 1 working day = Sun 09-28, a 调休 working day (国庆 2025)
    assert add_working_days(at("2025-09-26T10:00:00+08:00"), 1, OFFICIAL).at.date() == date(
        2025, 9, 28
    )


def test_working_days_skip_a_holiday_and_count_both_tiaoxiu_days() -> None:
    # 2025-09-30 + 1 = 10-09 (10-01..08 off); + 2 = 10-10; + 3 = Sat 10-11 (调休 working day)
    start = at("2025-09-30T10:00:00+08:00")
    days = [add_working_days(start, n, OFFICIAL).at.date() for n in (1, 2, 3)]
    assert days == [date(2025, 10, 9), date(2025, 10, 10), date(2025, 10, 11)]


def test_working_days_started_on_a_holiday() -> None:
    # received on 2025-10-03 (holiday): the first working day is 10-09
    assert add_working_days(at("2025-10-03T10:00:00+08:00"), 1, OFFICIAL).at.date() == date(
        2025, 10, 9
    )


def test_working_days_on_the_shanghai_date_and_in_unknown_years() -> None:
    # 2025-03-07T17:00Z is Saturday 03-08 01:00 in Shanghai: + 1 working day = Mon 03-10
    assert add_working_days(at("2025-03-07T17:00:00+00:00"), 1, OFFICIAL).at.date() == date(
        2025, 3, 10
    )
    due = add_working_days(at("2027-03-05T10:00:00+08:00"), 1, OFFICIAL)
    assert due.at.date() == date(2027, 3, 8) and due.unverified_years == (2027,)
    override = WorkCalendar({2027: YearOverride(holidays=(date(2027, 3, 8),))})
    due = add_working_days(at("2027-03-05T10:00:00+08:00"), 1, override)
    assert due.at.date() == date(2027, 3, 9) and due.unverified_years == ()


def test_working_days_bounds() -> None:
    assert add_working_days(at("2025-03-07T10:00:00+08:00"), 0, OFFICIAL).at.date() == date(
        2025, 3, 7
    )
    with pytest.raises(ValueError):
        add_working_days(at("2025-03-07T10:00:00+08:00"), -1, OFFICIAL)
    with pytest.raises(ValueError):
        add_working_days(at("2025-03-07T10:00:00+08:00"), 367, OFFICIAL)


@pytest.mark.parametrize(
    ("start", "months", "last_day"),
    [
        ("2025-01-15T10:00:00+08:00", 2, "2025-03-17"),  # 03-15 is a Saturday -> Monday
        ("2024-12-31T10:00:00+08:00", 2, "2025-02-28"),  # no Feb 31: the month's last day
        ("2023-12-31T10:00:00+08:00", 2, "2024-02-29"),  # leap year
        ("2025-12-31T10:00:00+08:00", 2, "2026-02-28"),  # a 调休 Saturday: not extended
        ("2025-08-01T10:00:00+08:00", 2, "2025-10-09"),  # 10-01 in 国庆: first working day after
        ("2025-11-30T10:00:00+08:00", 3, "2026-02-28"),  # no Feb 30; 02-28 is a 调休 Saturday
    ],
)
def test_months_end_on_the_corresponding_day(start: str, months: int, last_day: str) -> None:
    due = add_months(at(start), months, OFFICIAL)
    assert due.at == end_of_day(date.fromisoformat(last_day))
    assert due_after(at(start), months, "months", OFFICIAL) == due
