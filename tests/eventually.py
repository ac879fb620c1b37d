"""Polling with a deadline instead of fixed sleeps: `eventually(check, timeout)`.

`check` is called (and awaited if it returns an awaitable) until it returns a truthy value,
which `eventually` returns; an AssertionError inside `check` counts as "not yet". At the
deadline the test fails with what the last call returned or raised, plus `describe()` if
given (e.g. the worker's log), so a timeout explains itself. `eventually_sync` is the same
for code that runs outside an event loop.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

__all__ = ["eventually", "eventually_sync"]


def _failure(timeout: float, last: object, describe: Callable[[], str] | None) -> AssertionError:
    detail = f"\n{describe()}" if describe is not None else ""
    return AssertionError(f"not true within {timeout:g}s; last result: {last!r}{detail}")


async def eventually(
    check: Callable[[], T | Awaitable[T]],
    timeout: float = 30.0,
    *,
    interval: float = 0.05,
    describe: Callable[[], str] | None = None,
) -> T:
    """The first truthy result of `check`, polled every `interval` seconds until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        error: AssertionError | None = None
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
        except AssertionError as exc:
            error, result = exc, None  # type: ignore[assignment]
        if result:
            return result  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise _failure(timeout, error or result, describe) from error
        await asyncio.sleep(interval)


def eventually_sync(
    check: Callable[[], T],
    timeout: float = 30.0,
    *,
    interval: float = 0.05,
    describe: Callable[[], str] | None = None,
) -> T:
    """`eventually` for synchronous code (not from inside a running event loop)."""
    return asyncio.run(eventually(check, timeout, interval=interval, describe=describe))
