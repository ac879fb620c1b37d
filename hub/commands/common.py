"""Shared CLI plumbing: settings resolution, database sessions, argument types, output."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hub.adapters.postgres import Pool, create_pool, migrate
from hub.runtime import resolve
from hub.settings import Settings
from schemas.cloudevent import AGENCY_ID_PATTERN


class CliError(Exception):
    """An error the CLI reports on stderr with a non-zero exit (bilingual message)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@asynccontextmanager
async def database(settings: Settings, *, restricted: bool = True) -> AsyncIterator[Pool]:
    """A migrated database pool for one CLI command."""
    resolved = resolve(settings)
    dsn = resolved.require_database()
    await migrate(dsn)
    pool = await create_pool(dsn, max_size=2, restricted=restricted)
    try:
        yield pool
    finally:
        await pool.close()


# -- argument types: bad values are argparse errors (one line, exit 2), never tracebacks ----

def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"不是整数 / not an integer: {text!r}") from None


def non_negative_int(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"不能为负数 / must not be negative: {value}")
    return value


def positive_int(text: str) -> int:
    value = _integer(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"必须为正整数 / must be a positive integer: {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"不是数字 / not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"必须为正数 / must be a positive number: {text}")
    return value


def agency_id(text: str) -> str:
    """An agency id of the contract (section 1): `^[a-z][a-z0-9-]{1,31}$`."""
    if not re.fullmatch(AGENCY_ID_PATTERN, text):
        raise argparse.ArgumentTypeError(
            f"机关编号无效（小写字母开头，2-32 位小写字母、数字或连字符）/ invalid agency id "
            f"(a lowercase letter, then 1-31 lowercase letters, digits or hyphens): {text!r}")
    return text


# -- output ---------------------------------------------------------------------------------

SHANGHAI = ZoneInfo("Asia/Shanghai")
LOCAL_ZONE_LABEL = "(+08)"
"""Tables show times for people in Asia/Shanghai; JSON keeps RFC 3339 with the offset."""


def local_time(moment: datetime | None, *, seconds: bool = False) -> str:
    """A time for a person reading a table: Asia/Shanghai, no offset (the header says +08)."""
    if moment is None:
        return "-"
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S" if seconds
                                                else "%Y-%m-%d %H:%M")


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()  # RFC 3339 with its offset
    return str(value)


def print_json(document: Any) -> None:
    """One JSON document on stdout (contract section 6)."""
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2,
                                default=_json_default) + "\n")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain aligned table (CJK characters count as two columns)."""
    import unicodedata

    def width(text: str) -> int:
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)

    cells = [[str(c) for c in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(width(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        line = "  ".join(c + " " * (widths[i] - width(c)) for i, c in enumerate(row))
        sys.stdout.write(line.rstrip() + "\n")
        if n == 0:
            sys.stdout.write("  ".join("-" * w for w in widths) + "\n")
