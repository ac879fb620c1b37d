"""`rules replay` collects young garbage less often while it replays, and leaves the
interpreter's collection thresholds as it found them."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from hub.commands.rules_cmds import YOUNG_COLLECTION_EVERY, fewer_collections


@pytest.fixture(autouse=True)
def thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield gc.get_threshold()
    gc.set_threshold(*before)


def test_the_young_generation_is_collected_less_often_inside() -> None:
    with fewer_collections():
        assert gc.get_threshold() == (YOUNG_COLLECTION_EVERY, 10, 10)
    assert YOUNG_COLLECTION_EVERY > 700


def test_the_thresholds_are_restored_after_the_block_even_when_it_fails() -> None:
    gc.set_threshold(1234, 5, 6)
    with pytest.raises(RuntimeError), fewer_collections():
        raise RuntimeError("a replay that fails")
    assert gc.get_threshold() == (1234, 5, 6)


def test_garbage_cycles_are_still_collected_inside() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self

    found = []
    with fewer_collections():
        for _ in range(YOUNG_COLLECTION_EVERY * 3):
            Node()
        found.append(gc.get_count()[0])
    # Young collections ran: the young count never reached the three rounds of cycles made.
    assert found[0] < YOUNG_COLLECTION_EVERY * 3
