"""The polling helper: returns the first truthy result, fails at the deadline with a reason."""

from __future__ import annotations

import time

import pytest

from tests.eventually import eventually, eventually_sync


async def test_returns_the_first_truthy_result_of_a_sync_or_async_check() -> None:
    calls = iter([0, None, "", 7, 8])
    assert await eventually(lambda: next(calls), timeout=5, interval=0) == 7

    async def later() -> list[int]:
        return [1]

    assert await eventually(later, timeout=1) == [1]


async def test_an_assertion_inside_the_check_means_not_yet() -> None:
    seen: list[int] = []

    def check() -> bool:
        seen.append(1)
        assert len(seen) >= 3, "too early"
        return True

    assert await eventually(check, timeout=5, interval=0)
    assert len(seen) == 3


async def test_the_deadline_fails_with_the_last_result_and_a_description() -> None:
    started = time.monotonic()
    with pytest.raises(AssertionError, match=r"within 0\.2s; last result: 0\nworker log") as info:
        await eventually(lambda: 0, timeout=0.2, describe=lambda: "worker log")
    assert 0.2 <= time.monotonic() - started < 2
    with pytest.raises(AssertionError, match="too early") as info:
        await eventually(lambda: (_ for _ in ()).throw(AssertionError("too early")), timeout=0.1)
    assert isinstance(info.value.__cause__, AssertionError)


def test_the_sync_form_behaves_the_same() -> None:
    calls = iter([False, True])
    assert eventually_sync(lambda: next(calls), timeout=5, interval=0) is True
    with pytest.raises(AssertionError, match=r"within 0\.1s"):
        eventually_sync(lambda: None, timeout=0.1)
