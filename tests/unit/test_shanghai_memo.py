"""The memos and fast paths of Shanghai times never change an answer: for any aware time, in any
zone, asked in any order, `to_shanghai` gives what `astimezone(Asia/Shanghai)` gives, down to
`fold`, `shanghai_iso` / `shanghai_minute` / `shanghai_date` what formatting that gives, read
from the time's own fields where Shanghai is +08:00 (`_standard_wall`) and through zoneinfo
elsewhere: the 1986-1991 summer times, the first and last representable days, zones with
transitions, offsets of seconds and microseconds (streams/rules/calendar.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic_core import TzInfo

from streams.rules import calendar
from streams.rules.calendar import (
    SHANGHAI,
    _eight_hours_from,
    _iso_text,
    _minute_text,
    shanghai_date,
    shanghai_iso,
    shanghai_minute,
    to_shanghai,
)

ZONES = st.one_of(
    st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m))),
    st.integers(-14 * 3600, 14 * 3600).map(TzInfo),
    st.sampled_from([UTC, SHANGHAI, ZoneInfo("America/New_York"), ZoneInfo("Europe/London")]),
)
MOMENTS = st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2999, 12, 30),
                       timezones=ZONES, allow_imaginary=True)


def _exactly(moment: datetime) -> tuple[object, ...]:
    return (moment.replace(tzinfo=None), moment.tzinfo, moment.fold, moment.utcoffset())


@given(st.lists(MOMENTS, min_size=1, max_size=30))
def test_memoised_conversion_equals_astimezone(moments: list[datetime]) -> None:
    for moment in moments + moments[::-1]:
        local = moment.astimezone(SHANGHAI)
        assert _exactly(to_shanghai(moment)) == _exactly(local)
        assert shanghai_iso(moment) == local.isoformat()
        assert shanghai_minute(moment) == local.strftime("%Y-%m-%d %H:%M")


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59)))
def test_minute_text_is_what_strftime_gives_in_every_year(moment: datetime) -> None:
    """Below year 1000 too, where strftime does not pad the year (the f-string would)."""
    assert _minute_text(moment) == moment.strftime("%Y-%m-%d %H:%M")


@given(MOMENTS)
def test_shanghai_date_is_the_converted_times_date(moment: datetime) -> None:
    assert shanghai_date(moment) == moment.astimezone(SHANGHAI).date()


@pytest.mark.parametrize("moment", [
    datetime(1991, 12, 31, 16, tzinfo=UTC),  # 1992-01-01 00:00 in Shanghai: the fast path's first
    datetime(1991, 12, 31, 15, 59, 59, 999_999, tzinfo=UTC),
    datetime(1991, 9, 14, 16, 59, tzinfo=TzInfo(0)),  # the last hour of summer time (+09:00)
    datetime(1990, 9, 15, 16, 30, tzinfo=timezone(timedelta(hours=-3))),
    datetime(9999, 12, 31, 15, 59, tzinfo=TzInfo(0)),  # Shanghai's 9999-12-31 23:59
    datetime(9999, 12, 31, 20, tzinfo=timezone(timedelta(hours=12))),
    datetime(1, 1, 1, 2, tzinfo=TzInfo(-3600)),
])
def test_shanghai_date_at_the_edges(moment: datetime) -> None:
    assert shanghai_date(moment) == moment.astimezone(SHANGHAI).date()


def test_shanghai_date_fails_where_the_conversion_fails() -> None:
    late = datetime(9999, 12, 31, 20, tzinfo=TzInfo(0))  # 10000-01-01 04:00 in Shanghai
    with pytest.raises(OverflowError):
        late.astimezone(SHANGHAI)
    with pytest.raises(OverflowError):
        shanghai_date(late)
    with pytest.raises(ValueError, match="naive"):
        shanghai_date(datetime(2026, 1, 1))


def test_equal_instants_in_other_offsets_share_the_answer() -> None:
    utc = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)
    first = to_shanghai(utc)
    for same in (utc.astimezone(timezone(timedelta(hours=-5))), utc.astimezone(TzInfo(28800))):
        assert _exactly(to_shanghai(same)) == _exactly(first)
    assert first.isoformat() == "2026-03-02T00:30:00+08:00"


def test_shanghai_summer_time_folds_are_kept_apart() -> None:
    """1986-1991 had summer time: 1990-09-16 01:30 happened twice in Shanghai."""
    early = datetime(1990, 9, 15, 16, 30, tzinfo=UTC)  # 01:30 CDT (+09:00)
    late = datetime(1990, 9, 15, 17, 30, tzinfo=UTC)  # 01:30 CST (+08:00)
    first, second = to_shanghai(early), to_shanghai(late)
    assert (first.fold, second.fold) == (0, 1)
    assert first.replace(tzinfo=None) == second.replace(tzinfo=None)
    assert to_shanghai(second).fold == 1 and to_shanghai(first).fold == 0
    assert second.astimezone(UTC) == late
    assert (shanghai_iso(early), shanghai_iso(late)) == ("1990-09-16T01:30:00+09:00",
                                                         "1990-09-16T01:30:00+08:00")


def test_naive_times_are_refused() -> None:
    for _ in range(2):
        with pytest.raises(ValueError, match="naive"):
            to_shanghai(datetime(2026, 1, 1, 8))


ANY_ZONES = st.one_of(
    ZONES,
    st.integers(-86_399_999_999, 86_399_999_999).map(
        lambda us: timezone(timedelta(microseconds=us))),
)
EVERY_YEAR = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59),
                          timezones=ANY_ZONES, allow_imaginary=True)
"""Every representable year, where the move to Shanghai may leave the calendar."""
ABOUT_1992 = st.datetimes(min_value=datetime(1985, 12, 1), max_value=datetime(1992, 1, 2),
                          timezones=ANY_ZONES, allow_imaginary=True)
"""Shanghai's summer times (1986-1991), their folds and gaps, and the first day of +08:00 alone."""

READINGS: dict[str, tuple[Callable[[datetime], object], Callable[[datetime], object]]] = {
    "to_shanghai": (lambda m: _exactly(to_shanghai(m)), lambda m: _exactly(m.astimezone(SHANGHAI))),
    "shanghai_iso": (shanghai_iso, lambda m: m.astimezone(SHANGHAI).isoformat()),
    "shanghai_minute": (shanghai_minute,
                        lambda m: m.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")),
    "shanghai_date": (shanghai_date, lambda m: m.astimezone(SHANGHAI).date()),
}


def _same_reading(moment: datetime) -> None:
    """Every reading of `moment` is zoneinfo's, or fails as zoneinfo does (past the last day)."""
    for name, (fast, careful) in READINGS.items():
        try:
            expected = careful(moment)
        except OverflowError:
            with pytest.raises(OverflowError):
                fast(moment)
            continue
        for _ in range(2):  # computed, then remembered
            assert fast(moment) == expected, name


@given(st.one_of(EVERY_YEAR, ABOUT_1992), st.sampled_from([0, 1]))
@example(datetime(1991, 12, 31, 16, tzinfo=TzInfo(0)), 0)  # Shanghai's 1992-01-01 00:00
@example(datetime(1991, 12, 31, 15, 59, 59, 999_999, tzinfo=TzInfo(0)), 0)
@example(datetime(1991, 9, 15, 1, 30, tzinfo=SHANGHAI), 1)  # the last summer time's fold
@example(datetime(1992, 1, 1, tzinfo=SHANGHAI), 1)
@example(datetime(9999, 12, 31, 15, 59, 59, 999_999, tzinfo=UTC), 0)  # the last Shanghai instant
@example(datetime(9999, 12, 31, 16, tzinfo=UTC), 0)  # past it: OverflowError
@example(datetime(1, 1, 1, tzinfo=TzInfo(14 * 3600)), 0)  # before the first day in UTC
@example(datetime(2026, 3, 8, 2, 30, tzinfo=ZoneInfo("America/New_York")), 0)  # a gap
@example(datetime(2026, 5, 3, 17, 4, 5, 1, tzinfo=timezone(timedelta(microseconds=-1))), 0)
def test_every_reading_is_zoneinfos(moment: datetime, fold: int) -> None:
    _same_reading(moment.replace(fold=fold))


@given(st.datetimes(min_value=datetime(1992, 1, 1), max_value=datetime(9999, 12, 31, 23, 59),
                    timezones=st.just(SHANGHAI)))
def test_iso_text_is_isoformat_from_1992_on(local: datetime) -> None:
    assert _iso_text(local) == local.isoformat()
    assert _iso_text(local.astimezone(TzInfo(28800))) == local.isoformat()


def test_summer_time_years_are_not_read_as_eight_hours() -> None:
    """The guard of the fast path fails where Shanghai was not +08:00 (1986-1991), and holds
    from 1992 with the tzdata the tests run on."""
    assert not _eight_hours_from(1986)
    assert not _eight_hours_from(1991)
    assert _eight_hours_from(1992)
    assert calendar._STANDARD_YEAR == 1992


@given(st.lists(st.one_of(EVERY_YEAR, ABOUT_1992), min_size=1, max_size=10))
def test_without_the_fast_path_every_reading_is_zoneinfos(moments: list[datetime]) -> None:
    """Where the tzdata at hand does not say +08:00 from 1992 on, `_STANDARD_YEAR` is 10,000 and
    every time is read through zoneinfo."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(calendar, "_STANDARD_YEAR", 10_000)
        patch.setattr(calendar, "_ISO_OF", {})
        patch.setattr(calendar, "_MINUTE_OF", {})
        for moment in moments:
            assert calendar._standard_wall(moment) is None
            _same_reading(moment)


def test_a_remembered_text_is_used_for_its_own_time_only() -> None:
    """The texts are remembered by the time's identity (its `id`, checked against the time
    kept with the text): another time that comes to have the same `id` is read afresh."""
    first = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)
    other = datetime(2027, 4, 2, 1, 2, tzinfo=UTC)
    assert shanghai_iso(first) == "2026-03-02T00:30:00+08:00"
    assert shanghai_minute(first) == "2026-03-02 00:30"
    calendar._ISO_OF[id(other)] = (first, "2026-03-02T00:30:00+08:00")
    calendar._MINUTE_OF[id(other)] = (first, "2026-03-02 00:30")
    assert shanghai_iso(other) == "2027-04-02T09:02:00+08:00"
    assert shanghai_minute(other) == "2027-04-02 09:02"
