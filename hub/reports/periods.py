"""Reporting periods: a month `2026-10`, a quarter `2026-Q4`, a year `2026`, in Asia/Shanghai."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
PERIOD_PATTERN = r"^20\d{2}(-(0[1-9]|1[0-2])|-Q[1-4])?$"  # 2000 to 2099
MONTH_PATTERN = r"^20\d{2}-(0[1-9]|1[0-2])$"


class PeriodError(ValueError):
    """Not a period of the form 2026-10, 2026-Q4 or 2026."""


@dataclass(frozen=True)
class Period:
    label: str
    kind: str  # month / quarter / year
    start: datetime
    end: datetime  # exclusive

    @property
    def months(self) -> list[str]:
        """The months of the period, as labels."""
        out = []
        y, m = self.start.year, self.start.month
        while datetime(y, m, 1, tzinfo=SHANGHAI) < self.end:
            out.append(f"{y:04d}-{m:02d}")
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out

    @property
    def zh(self) -> str:
        if self.kind == "month":
            return f"{self.start.year}年{self.start.month}月"
        if self.kind == "quarter":
            return f"{self.start.year}年第{(self.start.month - 1) // 3 + 1}季度"
        return f"{self.start.year}年"


def _first(year: int, month: int) -> datetime:
    if month > 12:
        year, month = year + 1, month - 12
    return datetime(year, month, 1, tzinfo=SHANGHAI)


def parse_period(text: str) -> Period:
    if not re.match(PERIOD_PATTERN, text):
        raise PeriodError(f"期间格式应为 2026-10、2026-Q4 或 2026（2000–2099 年）/ a period is "
                          f"2026-10, 2026-Q4 or 2026 (years 2000-2099): {text!r}")
    year = int(text[:4])
    if len(text) == 4:
        return Period(text, "year", _first(year, 1), _first(year + 1, 1))
    if text[5] == "Q":
        q = int(text[6])
        return Period(text, "quarter", _first(year, 3 * q - 2), _first(year, 3 * q + 1))
    month = int(text[5:7])
    return Period(text, "month", _first(year, month), _first(year, month + 1))
