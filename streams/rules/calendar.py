"""Deadline arithmetic in Asia/Shanghai: calendar days with holiday extension, and hours.

The reading of the law this module encodes (linkage-law.md, "Counting days"):

* All deadlines are computed in Asia/Shanghai (`SHANGHAI`). A deadline is reported as the
  *last instant that is still on time*; an act at or before it meets the deadline, and the
  deadline is missed from the next microsecond on.
* A period counted in **days** does not count the day on which it starts (刑事诉讼法
  第一百零五条: 期间开始的时和日不计算在期间以内) and runs in calendar days. "3 days from
  the report", for a report made at any time on 2025-03-03 (Shanghai date), ends at the end
  of 2025-03-06: 2025-03-06T23:59:59.999999+08:00.
* Where that last day is not a working day, the period ends at the end of the first working
  day after it (期间的最后一日为节假日的，以节假日后的第一日为期满日期). "Not a working day"
  is read as the official calendar reads 节假日: statutory holidays *and* ordinary weekends,
  while a weekend made a working day by 调休 is a working day. Days inside the period are
  never skipped; only the last day moves. Example: 3 days from 2025-09-29 would end on
  2025-10-02, inside 国庆 (2025-10-01..08), so it ends at the end of 2025-10-09.
* A period counted in **working days** (工作日: 15 working days to check a report) counts
  only working days of the official calendar, 调休 working weekends included, from the day
  after the start; it ends at the end of its last working day, so it needs no extension.
* A period counted in **months** (2 months to reply to a 检察意见) ends on the day of the
  last month that corresponds to the start day, or on that month's last day when it has no
  such day (民法典 第二百零二条: 到期月的对应日为期间的最后一日；没有对应日的，月末日为期间
  的最后一日), moved to the first working day after it when that day is a rest day (第二百零三条).
* A period counted in **hours** (24 hours from the approval) is exact elapsed time from the
  instant it starts, and is never extended (the law extends periods counted in days).
* Working days come from the `chinesecalendar` library (module `chinese_calendar`), which
  knows the State Council's yearly notice for the years it ships. An operator override
  (`YearOverride` per year: extra `holidays`, extra `workdays`) is applied on top of it. For a
  year the library does not know, an override entry for that year *is* that year's calendar
  (weekends, plus its holidays, minus its workdays); without one the module falls back to
  weekends only and reports the year in `DueTime.unverified_years` so alerts can say so.
"""

from __future__ import annotations

import calendar as gregorian
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

import chinese_calendar
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, model_validator
from pydantic_core import TzInfo

from streams.rules._errors import ConfigError, Problem, problems_from_validation
from streams.rules._quick import quick_init

SHANGHAI = ZoneInfo("Asia/Shanghai")
END_OF_DAY = time(23, 59, 59, 999_999)
ONE_TICK = timedelta(microseconds=1)  # from the last on-time instant to the first late one
_MAX_EXTENSION_DAYS = 60  # a longer run of rest days is a broken override, not a calendar

Unit = Literal["days", "hours", "working_days", "months"]
_MAX_WORKING_DAYS = 366  # a longer period in working days is a broken configuration


class YearOverride(BaseModel):
    """An operator's corrections to one year's calendar: extra rest days and extra working days."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    holidays: tuple[date, ...] = ()
    workdays: tuple[date, ...] = ()

    @model_validator(mode="after")
    def _disjoint(self) -> YearOverride:
        both = sorted(set(self.holidays) & set(self.workdays))
        if both:
            raise ValueError(
                f"日期不能同时为节假日和工作日：{both[0]} / "
                f"a date cannot be both a holiday and a working day: {both[0]}"
            )
        return self


CalendarOverride = dict[int, YearOverride]
_OVERRIDE_ADAPTER: TypeAdapter[CalendarOverride] = TypeAdapter(CalendarOverride)


def parse_calendar_override(
    table: Mapping[str, Any], *, file: str | None = None, prefix: str = "calendar"
) -> CalendarOverride:
    """Validate a `{year: {holidays: [...], workdays: [...]}}` table; ConfigError on a bad entry."""
    try:
        years = _OVERRIDE_ADAPTER.validate_python(dict(table))
    except ValidationError as exc:
        raise ConfigError(
            [
                Problem(p.path, p.message_zh, p.message_en, file)
                for p in problems_from_validation(exc, (prefix,))
            ]
        ) from exc
    problems = [
        Problem(
            f"{prefix}.{year}",
            f"日期 {day} 不属于 {year} 年",
            f"date {day} is not in year {year}",
            file,
        )
        for year, entry in years.items()
        for day in (*entry.holidays, *entry.workdays)
        if day.year != year
    ]
    if problems:
        raise ConfigError(problems)
    return years


def load_calendar_override(path: str | Path) -> CalendarOverride:
    """Read a calendar override file: `[calendar.2027]` tables with `holidays` / `workdays` lists."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError([Problem("", "无法读取日历文件", str(exc), str(path))]) from exc
    table = document.get("calendar", {})
    if not isinstance(table, dict):
        raise ConfigError([Problem("calendar", "必须为表（table）", "must be a table", str(path))])
    return parse_calendar_override(table, file=str(path))


@lru_cache(maxsize=64)
def _library_knows(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


@dataclass(frozen=True)
class WorkCalendar:
    """Which days are working days in mainland China: the official calendar plus an override."""

    overrides: Mapping[int, YearOverride] = field(default_factory=dict)
    _first_workday: dict[date, date] = field(default_factory=dict, init=False, repr=False,
                                             compare=False, hash=False)
    """Memo of first_workday_from: a replay asks it for the same few hundred days millions
    of times, and the calendar never changes once built."""
    _workday: dict[date, bool] = field(default_factory=dict, init=False, repr=False,
                                       compare=False, hash=False)
    """Memo of `is_workday`: `chinese_calendar.is_workday` checks that it knows the year by
    taking the min and max of all its holidays, on every call (~60 µs, profiled), and a
    deadline in working days asks it for each day it counts (15 + 15 for a report): issue
    14, session 11, a quarter of assessing the v1.1 mix of `bench/replay.py`."""
    _due_on: dict[tuple[date, int, str], DueTime] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False)
    """Memo of `due_after` for periods counted in days, working days or months: their
    deadline depends only on the Shanghai date the period starts on (issue 14: a deadline
    was recounted for every case, every rule, every evaluation)."""

    def knows(self, year: int) -> bool:
        """True when the year's calendar is official (library) or given by the operator."""
        return year in self.overrides or _library_knows(year)

    def is_workday(self, day: date) -> bool:
        """True when `day` is a working day (调休 weekends included); memoised per day."""
        known = self._workday.get(day)
        if known is None:
            known = self._workday[day] = self._reads_workday(day)
        return known

    def _reads_workday(self, day: date) -> bool:
        """`is_workday` read from the override and the library (what the memo remembers)."""
        entry = self.overrides.get(day.year)
        if entry is not None:
            if day in entry.holidays:
                return False
            if day in entry.workdays:
                return True
        if _library_knows(day.year):
            return bool(chinese_calendar.is_workday(day))
        return day.weekday() < 5

    def first_workday_from(self, day: date) -> date:
        """`day` itself if it is a working day, else the first working day after it."""
        known = self._first_workday.get(day)
        if known is not None:
            return known
        for offset in range(_MAX_EXTENSION_DAYS + 1):
            candidate = day + timedelta(days=offset)
            if self.is_workday(candidate):
                self._first_workday[day] = candidate
                return candidate
        raise ConfigError(
            [
                Problem(
                    f"calendar.{day.year}",
                    f"{day} 之后连续 {_MAX_EXTENSION_DAYS} 天都不是工作日",
                    f"no working day within {_MAX_EXTENSION_DAYS} days after {day}",
                )
            ]
        )


@quick_init
@dataclass(frozen=True)
class DueTime:
    """A computed deadline: the last on-time instant, and how it was obtained."""

    at: datetime  # last instant still on time, Asia/Shanghai
    nominal_last_day: date | None = None  # day periods: the last day before holiday extension
    unverified_years: tuple[int, ...] = ()  # years read as weekends-only (no official calendar)

    @property
    def extended(self) -> bool:
        return self.nominal_last_day is not None and self.at.date() != self.nominal_last_day

    @property
    def first_late_instant(self) -> datetime:
        return self.at + ONE_TICK


_FIXED_OFFSETS = (timezone, TzInfo)  # pydantic parses RFC 3339 offsets into TzInfo
_IN_SHANGHAI: dict[datetime, datetime] = {}
_IN_SHANGHAI_SIZE = 65_536


def to_shanghai(moment: datetime) -> datetime:
    """The same instant in Asia/Shanghai; refuses naive datetimes.

    Memoised for fixed-offset times (issue 14: an evaluation converted each of its case's
    times about four times over, ~19 conversions a case): the answer depends on the instant
    alone, and fixed-offset datetimes are equal (and hash alike) exactly when their instants
    are. Times in a zone with transitions are not memoised (two of them can be equal while
    their instants differ by `fold`); a time already in Shanghai is itself, as `astimezone`
    returns it."""
    zone = moment.tzinfo
    if zone is SHANGHAI:
        return moment
    if type(zone) in _FIXED_OFFSETS:
        found = _IN_SHANGHAI.get(moment)
        return found if found is not None else _remember(_IN_SHANGHAI, moment,
                                                         moment.astimezone(SHANGHAI))
    if zone is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: an offset or time zone is required")
    return moment.astimezone(SHANGHAI)


_EIGHT_HOURS = timedelta(hours=8)


def _eight_hours_from(year: int) -> bool:
    """True when this tzdata's Asia/Shanghai is +08:00 without summer time from `year` on, as
    far as the 1st and 16th of every month up to 2100 show (its last change was in 1991; the
    rule after its table, "CST-8", has none; a change a government makes would show there)."""
    for y in range(year, 2101):
        for month in range(1, 13):
            for day in (1, 16):
                wall = datetime(y, month, day, 12, tzinfo=SHANGHAI)
                if (wall.utcoffset(), wall.dst(), wall.replace(fold=1).utcoffset()) != (
                        _EIGHT_HOURS, timedelta(0), _EIGHT_HOURS):
                    return False
    return True


_STANDARD_YEAR = 1992 if _eight_hours_from(1992) else 10_000
"""The first Shanghai year whose wall clock is UTC+08:00 throughout (its offset from
1991-09-15 on), where `_standard_wall` reads a time's Shanghai wall clock off its own fields:
10,000 (never) when the tzdata at hand says otherwise, and every time then goes through
zoneinfo."""

_SHIFTS: dict[tzinfo, timedelta] = {}
"""Per fixed-offset zone, +08:00 less its offset (the zone itself the key: zones that compare
equal have one offset)."""


def _standard_wall(moment: datetime) -> datetime | None:
    """`moment`'s Shanghai wall clock as the fields of a datetime (in `moment`'s own zone),
    where Shanghai is UTC+08:00 (`_STANDARD_YEAR` on): a Shanghai time is its own; a fixed-offset
    time is moved by +08:00 less its offset (the zone's, kept in `_SHIFTS`: `utcoffset` is a
    method call into pydantic-core's TzInfo, ~2.2 k instructions). None: ask zoneinfo (an
    earlier Shanghai year, a zone with transitions, a naive time, or a move past the last
    representable day, where `astimezone` fails too).

    Issue 14, session 11: reading a case's times in Shanghai (`astimezone`, the memo's first
    hash of each time, which asks for its offset, and `isoformat`, which asks the zone again)
    was ~20 % of an assessment. tests/unit/test_shanghai_memo.py compares every reading made
    from it with zoneinfo's, over generated times in every zone and year."""
    zone = moment.tzinfo
    if zone is SHANGHAI:
        return moment if moment.year >= _STANDARD_YEAR else None
    if zone is None or type(zone) not in _FIXED_OFFSETS:
        return None
    shift = _SHIFTS.get(zone)
    if shift is None:
        offset = moment.utcoffset()
        assert offset is not None  # a fixed offset
        shift = _remember(_SHIFTS, zone, _EIGHT_HOURS - offset)
    try:
        wall = moment + shift
    except OverflowError:
        return None
    return wall if wall.year >= _STANDARD_YEAR else None


def shanghai_date(moment: datetime) -> date:
    """`to_shanghai(moment).date()`: the date of its Shanghai wall clock (`_standard_wall`)
    where that is +08:00, else of the conversion.

    Without a memo: a replay's walk over a case's assessments asks the day of each
    assessment's own time once, and the memo's miss (the time's hash, which asks its offset,
    the conversion, which asks it again, the store) was ~8 k instructions against ~4 k
    (callgrind; issue 14, session 8). tests/unit/test_shanghai_memo.py compares the two."""
    wall = _standard_wall(moment)
    return wall.date() if wall is not None else to_shanghai(moment).date()


_ISO: dict[tuple[datetime, int], str] = {}
_MINUTE: dict[datetime, str] = {}
_ISO_OF: dict[int, tuple[datetime, str]] = {}
_MINUTE_OF: dict[int, tuple[datetime, str]] = {}
_K = TypeVar("_K")
_V = TypeVar("_V")


def _remember(table: dict[_K, _V], key: _K, value: _V) -> _V:
    """Store a memoised answer, emptying the table first when it is full (bounded memory)."""
    if len(table) >= _IN_SHANGHAI_SIZE:
        table.clear()
    table[key] = value
    return value


def shanghai_iso(moment: datetime) -> str:
    """The instant in Asia/Shanghai in ISO 8601 (alert facts)."""
    return _text(moment, _ISO_OF, _iso_text, _iso_of_local)


def _iso_of_local(local: datetime) -> str:
    """`isoformat` of a Shanghai time, memoised by wall time and `fold`: Shanghai times are
    compared by wall time, and with the fold that fixes the offset too."""
    key = (local, local.fold)
    found = _ISO.get(key)
    return found if found is not None else _remember(_ISO, key, local.isoformat())


def _text(moment: datetime, texts: dict[int, tuple[datetime, str]],
          of_wall: Callable[[datetime], str], of_local: Callable[[datetime], str]) -> str:
    """A text of `moment` in Shanghai: made from its Shanghai wall clock where that is +08:00
    (`_standard_wall`), else from zoneinfo's conversion; remembered in `texts` by the time's
    identity (its `id`, checked against the time kept with the text, which it keeps alive).

    Issue 14, session 11 (callgrind): a case's times are formatted again and again (a run's
    start as the threshold's time and the clock's start, the shared deadlines of a day):
    ~60 % of the readings of a replay are of a time read before, and a memo by value paid
    the first hash of each time (its offset asked of its zone) and the conversion."""
    known = texts.get(id(moment))
    if known is not None and known[0] is moment:
        return known[1]
    wall = _standard_wall(moment)
    text = of_wall(wall) if wall is not None else of_local(to_shanghai(moment))
    _remember(texts, id(moment), (moment, text))
    return text


_TWO_DIGITS = tuple(f"{n:02d}" for n in range(100))


def _iso_text(wall: datetime) -> str:
    """What `isoformat` gives for the Shanghai time of this wall clock, offset +08:00 (a year of
    four digits: `_STANDARD_YEAR` to 9999): its fields from a table of two-digit texts, no
    format spec but the microseconds'. Issue 14, session 11 (callgrind): ~5-8 k instructions
    against `isoformat`'s ~12 k (which asks the zone for its offset and formats through
    sprintf); an f-string of `:02d` specs was no cheaper than `isoformat` (session 8)."""
    text = (f"{wall.year}-{_TWO_DIGITS[wall.month]}-{_TWO_DIGITS[wall.day]}"
            f"T{_TWO_DIGITS[wall.hour]}:{_TWO_DIGITS[wall.minute]}:{_TWO_DIGITS[wall.second]}")
    micro = wall.microsecond
    return f"{text}.{micro:06d}+08:00" if micro else text + "+08:00"


def shanghai_minute(moment: datetime) -> str:
    """"YYYY-MM-DD HH:MM" in Asia/Shanghai (alert messages)."""
    return _text(moment, _MINUTE_OF, _minute_text, _minute_of_local)


def _minute_of_local(local: datetime) -> str:
    """`_minute_text` of a Shanghai time, memoised by wall time."""
    found = _MINUTE.get(local)
    return found if found is not None else _remember(_MINUTE, local, _minute_text(local))


def _minute_text(local: datetime) -> str:
    """`local.strftime("%Y-%m-%d %H:%M")`, formatted without strftime where the two agree
    (a four-digit year; strftime pads no year below 1000): a replay misses the memo for
    nearly every instant it formats (each case's own), and strftime cost ~1.5 µs of ~0.4
    (issue 14, session 7; tests/unit/test_shanghai_memo.py compares them); the two-digit
    fields from `_TWO_DIGITS` as `_iso_text` reads them."""
    if local.year < 1000:
        return local.strftime("%Y-%m-%d %H:%M")
    return (f"{local.year}-{_TWO_DIGITS[local.month]}-{_TWO_DIGITS[local.day]}"
            f" {_TWO_DIGITS[local.hour]}:{_TWO_DIGITS[local.minute]}")


def end_of_day(day: date) -> datetime:
    """The last instant of a Shanghai calendar day."""
    return datetime.combine(day, END_OF_DAY, tzinfo=SHANGHAI)


def add_days(start: datetime, days: int, calendar: WorkCalendar) -> DueTime:
    """End of the `days`-th calendar day after `start`'s Shanghai date, holiday-extended."""
    if days < 0:
        raise ValueError("days must be >= 0")
    nominal = to_shanghai(start).date() + timedelta(days=days)
    last = calendar.first_workday_from(nominal)
    consulted = {nominal.year + offset for offset in range(last.year - nominal.year + 1)}
    unverified = tuple(sorted(year for year in consulted if not calendar.knows(year)))
    return DueTime(end_of_day(last), nominal, unverified)


def _unverified(calendar: WorkCalendar, first: date, last: date) -> tuple[int, ...]:
    return tuple(y for y in range(first.year, last.year + 1) if not calendar.knows(y))


def add_working_days(start: datetime, days: int, calendar: WorkCalendar) -> DueTime:
    """End of the `days`-th working day after `start`'s Shanghai date (调休 weekends count)."""
    if not 0 <= days <= _MAX_WORKING_DAYS:
        raise ValueError(f"working days must be between 0 and {_MAX_WORKING_DAYS}")
    first = to_shanghai(start).date()
    day, counted = first, 0
    while counted < days:
        day += timedelta(days=1)
        if calendar.is_workday(day):
            counted += 1
    return DueTime(end_of_day(day), day, _unverified(calendar, first, day))


def add_months(start: datetime, months: int, calendar: WorkCalendar) -> DueTime:
    """End of the day corresponding to `start`'s Shanghai date `months` months later (the month's
    last day when it has none), holiday-extended like a period in days."""
    if months < 0:
        raise ValueError("months must be >= 0")
    first = to_shanghai(start).date()
    index = first.month - 1 + months
    year, month = first.year + index // 12, index % 12 + 1
    nominal = date(year, month, min(first.day, gregorian.monthrange(year, month)[1]))
    last = calendar.first_workday_from(nominal)
    return DueTime(end_of_day(last), nominal, _unverified(calendar, nominal, last))


def add_hours(start: datetime, hours: int) -> DueTime:
    """`start` plus exactly `hours` hours (elapsed time, never extended)."""
    if hours < 0:
        raise ValueError("hours must be >= 0")
    return DueTime(to_shanghai(start) + timedelta(hours=hours))


def due_after(start: datetime, amount: int, unit: Unit, calendar: WorkCalendar) -> DueTime:
    """The deadline `amount` `unit` after `start` under this module's reading of the law.

    Periods counted in days, working days or months are memoised per calendar by the start's
    Shanghai date (all `add_days`, `add_working_days` and `add_months` read of `start`);
    errors are not memoised."""
    if unit == "hours":
        return add_hours(start, amount)
    key = (shanghai_date(start), amount, unit)
    due = calendar._due_on.get(key)
    if due is None:
        if unit == "days":
            due = add_days(start, amount, calendar)
        elif unit == "working_days":
            due = add_working_days(start, amount, calendar)
        else:
            due = add_months(start, amount, calendar)
        calendar._due_on[key] = due
    return due
