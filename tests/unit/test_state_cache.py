"""The case store's per-process caches: parsed states (exact versions only, bounded in events)
and parsed stored alerts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, cast

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
