"""Shared CLI plumbing: settings resolution, database sessions, output helpers."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from hub.adapters.postgres import create_pool, migrate
from hub.runtime import resolve
from hub.settings import Settings


class CliError(Exception):
    """An error the CLI reports on stderr with a non-zero exit (bilingual message)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@asynccontextmanager
async def database(settings: Settings, *, restricted: bool = True) -> AsyncIterator[asyncpg.Pool]:
    """A migrated database pool for one CLI command."""
    resolved = resolve(settings)
    dsn = resolved.require_database()
    await migrate(dsn)
    pool = await create_pool(dsn, max_size=2, restricted=restricted)
    try:
        yield pool
    finally:
        await pool.close()


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n")


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
