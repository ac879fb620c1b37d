"""The case store's per-process cache of parsed states: exact versions only, bounded in events,
random eviction (a round over the cases does not make every access miss)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any, cast

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.adapters.case_store import (
    ParsedAlerts,
    PostgresCaseSession,
    PostgresCaseStore,
    StateCache,
)
from schemas.alert import Alert
from streams.rules import CaseState

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


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


def test_states_are_dropped_when_the_events_exceed_the_budget() -> None:
    cache = StateCache(10, random.Random(1))  # a state weighs 1 + its events
    cache.put("A", 1, state("A", 3))
    cache.put("B", 1, state("B", 3))
    cache.put("C", 1, state("C", 3))  # 12 > 10: A or B goes, never the one just put
    assert cache.version_of("C") == 1 and len(cache) == 2
    kept = "A" if cache.version_of("A") is not None else "B"
    cache.put(kept, 2, state(kept, 5))  # replacing frees its old weight first: 6 + 4
    assert len(cache) == 2 and cache.get(kept, 2) is not None and cache.get(kept, 1) is None
    cache.put("huge", 1, state("huge", 10))  # heavier than the whole budget: not kept
    assert cache.version_of("huge") is None and len(cache) == 2
    cache.put(kept, 3, state(kept, 10))  # nor a cached case grown past it
    assert cache.version_of(kept) is None and cache.version_of("C") == 1 and len(cache) == 1


@settings(max_examples=100, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from("ABCDEFGH"), st.integers(0, 6)), max_size=60),
       seed=st.integers(0, 2**32))
def test_the_budget_holds_and_the_last_state_put_is_found(
        ops: list[tuple[str, int]], seed: int) -> None:
    cache = StateCache(12, random.Random(seed))
    for version, (case_id, events) in enumerate(ops):
        cache.put(case_id, version, state(case_id, events))
        assert cache.get(case_id, version) == state(case_id, events)
        held = [case for case in "ABCDEFGH" if cache.version_of(case) is not None]
        assert len(held) == len(cache)
        assert sum(1 + len(cache._entries[c][1].event_ids) for c in held) <= 12


def test_a_round_over_more_cases_than_fit_still_mostly_hits() -> None:
    """The rules worker's usual pattern: every active case touched once per round. A working
    set 20 % over the budget made every access of LRU miss; random eviction keeps most."""
    cases = [f"C-{n:03d}" for n in range(120)]
    cache = StateCache(100 * 5, random.Random(7))  # 100 states of 4 events fit
    hits = 0
    for round_ in range(20):
        for case_id in cases:
            if cache.get(case_id, 1) is not None:
                hits += round_ >= 10
            else:
                cache.put(case_id, 1, state(case_id, 4))
    assert hits > 0.5 * 10 * len(cases)


def test_a_session_shares_the_stores_cache_even_while_it_is_empty() -> None:
    """An empty cache is falsy (it has a length): it must still be the one sessions use."""
    cache, alerts = StateCache(100), ParsedAlerts(10)
    store = PostgresCaseStore(cast(Any, None), cache)
    assert store.cache is cache
    session = PostgresCaseSession(cast(Any, None), store.cache, alerts)
    assert session._cache is cache and session._alert is alerts


def alert(n: int, status: str = "open") -> Alert:
    return Alert(alert_id=str(uuid.UUID(int=n)), rule_id="R-1", case_id="C-1", agency="zs-aic",
                 status=status, raised_at=START, due_at=None, message_zh="预警。",
                 message_en="Alert.", legal_basis="basis", facts={"n": n})


def test_a_stored_alert_is_parsed_once_while_its_text_is_unchanged() -> None:
    parsed = ParsedAlerts(3)
    texts = [alert(n).model_dump_json() for n in range(3)]
    for _ in range(4):
        assert [parsed(t) for t in texts] == [Alert.model_validate_json(t) for t in texts]
    assert parsed.parses == 3
    resolved = alert(0, "resolved").model_dump_json()  # changed: another text, parsed anew
    assert parsed(resolved).status == "resolved" and parsed.parses == 4
    assert len(parsed._parsed) <= 3  # full: emptied, then the new one kept
