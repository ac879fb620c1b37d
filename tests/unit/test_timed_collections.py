"""The rules worker's collector (hub/timed_collections.py): off between clock ticks, still
collecting reference cycles when due, and giving the process its collector back."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from hub.timed_collections import TimedCollections


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Node:
    """A reference cycle of one: freed only by the collector."""

    def __init__(self) -> None:
        self.me = self


def garbage_cycle() -> weakref.ref[Node]:
    return weakref.ref(Node())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def collections(clock: Clock) -> Iterator[TimedCollections]:
    timed = TimedCollections(every=30.0, after=10**9, clock=clock)
    yield timed
    timed.stop()


def test_the_first_tick_turns_the_automatic_collector_off(collections: TimedCollections) -> None:
    assert gc.isenabled()
    assert collections.tick() is False
    assert collections.started and not gc.isenabled()
    assert gc.get_freeze_count() > 0


def test_a_cycle_waits_for_the_clock_then_is_collected(collections: TimedCollections,
                                                       clock: Clock) -> None:
    collections.tick()
    cycle = garbage_cycle()
    clock.now += 29.0
    assert collections.tick() is False
    assert cycle() is not None  # no automatic collection in between
    clock.now += 1.0
    assert collections.tick() is True
    assert cycle() is None
    assert collections.tick() is False  # the clock starts again from this collection


def test_piled_up_allocations_bring_the_collection_forward(clock: Clock) -> None:
    timed = TimedCollections(every=30.0, after=1_000, clock=clock)
    try:
        timed.tick()
        cycle = garbage_cycle()
        kept: list[list[int]] = [[] for _ in range(2_000)]  # tracked objects, alive: they count
        assert timed.tick() is True
        assert cycle() is None and len(kept) == 2_000
    finally:
        timed.stop()


def test_stop_gives_the_collector_back(collections: TimedCollections) -> None:
    collections.tick()
    collections.stop()
    assert gc.isenabled() and gc.get_freeze_count() == 0 and not collections.started
    collections.stop()  # stopping twice is harmless
    assert gc.isenabled()
