"""The case store's per-process cache of parsed states: exact versions only, bounded in events."""

from __future__ import annotations

from hub.adapters.case_store import StateCache
from streams.rules import CaseState


def state(case_id: str, events: int) -> CaseState:
    return CaseState(case_id=case_id, event_ids=tuple(f"e{i:03d}" for i in range(events)))


def test_a_state_is_found_only_at_the_version_it_was_cached_at() -> None:
    cache = StateCache(100)
    cache.put("C-1", 3, state("C-1", 2))
    assert cache.get("C-1", 3) == state("C-1", 2)
    assert cache.get("C-1", 4) is None and cache.get("C-1", 2) is None
    assert cache.get("C-2", 3) is None
    cache.put("C-1", 4, state("C-1", 3))
    assert cache.get("C-1", 3) is None
    assert cache.version_of("C-1") == 4 and cache.version_of("C-2") is None


def test_the_least_recently_used_cases_go_first_when_the_events_exceed_the_budget() -> None:
    cache = StateCache(10)  # a state weighs 1 + its events
    cache.put("A", 1, state("A", 3))
    cache.put("B", 1, state("B", 3))
    assert cache.get("A", 1) is not None  # A used last: B goes first
    cache.put("C", 1, state("C", 3))
    assert cache.version_of("B") is None
    assert cache.version_of("A") == 1 and cache.version_of("C") == 1
    cache.put("A", 2, state("A", 5))  # replacing A frees its old weight first: 6 + 4
    assert cache.version_of("C") == 1 and cache.get("A", 2) is not None
    cache.put("huge", 1, state("huge", 10))  # heavier than the whole budget: not kept
    assert cache.version_of("huge") is None and cache.version_of("A") == 2
