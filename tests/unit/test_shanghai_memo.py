"""The memos of Shanghai times never change an answer: for any aware time, in any zone, asked in
any order, `to_shanghai` gives what `astimezone(Asia/Shanghai)` gives, down to `fold`, and
`shanghai_iso` / `shanghai_minute` what formatting that gives (streams/rules/calendar.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic_core import TzInfo

from streams.rules.calendar import (
    SHANGHAI,
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


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.just(SHANGHAI)), st.sampled_from([0, 1]))
def test_iso_text_is_what_isoformat_gives_in_every_year(moment: datetime, fold: int) -> None:
    """Across the summer times before 1992 and the switch to the fast text, either fold,
    with and without microseconds."""
    for local in (moment.replace(fold=fold), moment.replace(fold=fold, microsecond=0)):
        assert _iso_text(local) == local.isoformat()


def test_iso_text_around_the_fast_texts_first_instant() -> None:
    first = datetime(1992, 1, 1, tzinfo=SHANGHAI)
    for local in (first, first - timedelta(microseconds=1), first + timedelta(microseconds=1),
                  datetime(1991, 9, 15, 1, 30, tzinfo=SHANGHAI, fold=1),
                  datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=SHANGHAI)):
        assert _iso_text(local) == local.isoformat()
    assert _iso_text(first) == "1992-01-01T00:00:00+08:00"
    assert _iso_text(datetime(1986, 5, 4, 12, tzinfo=SHANGHAI)) == "1986-05-04T12:00:00+09:00"


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
