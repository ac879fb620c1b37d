"""`json_bytes` / `json_text` are `model_dump_json` byte for byte: alerts (what the hub signs
and stores), case states (whole and bounded) and their steps (case_state_events rows)."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from hub.adapters.case_store import _BOUNDED_SET, _STEP_LISTS
from schemas.alert import Alert
from schemas.model_json import json_bytes, json_text
from streams.rules import CaseEvent, assess
from tests.unit.test_rules_inputs import NOWS, RULES, any_case, states_after_each

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)  # any text JSON can hold


def assert_same_json(model: BaseModel, include: set[str] | None = None) -> None:
    expected = model.model_dump_json(include=include)
    assert json_text(model, include) == expected
    assert json_bytes(model, include) == expected.encode("utf-8")


@SETTINGS
@given(events=any_case(), now=st.sampled_from(NOWS))
def test_case_states_their_steps_and_alerts_dump_as_model_dump_json(
        events: list[CaseEvent], now: datetime) -> None:
    for state in states_after_each(events):
        assert_same_json(state)
        assert_same_json(state, _BOUNDED_SET)
        for field in _STEP_LISTS:
            for record in getattr(state, field):
                assert_same_json(record)
        for alert in assess(state, RULES, now, [], every_rule=True).decisions:
            assert_same_json(alert)


def an_alert(zh: str, en: str, facts: dict[str, object]) -> Alert:
    return Alert(alert_id="7f1e3c52-2a0b-4c8e-9d1f-0a1b2c3d4e5f", rule_id="HANDOVER_LATE",
                 status="open", case_id="C1", agency="zs-aic",
                 raised_at=datetime.fromisoformat("2026-01-02T03:04:05+08:00"), due_at=None,
                 legal_basis="SC Art 5", facts=facts, message_zh=zh or "。", message_en=en or ".")


@SETTINGS
@given(zh=texts, en=texts, facts=st.dictionaries(texts, st.one_of(
    texts, st.integers(), st.none(), st.booleans(), st.lists(texts, max_size=3)), max_size=4))
def test_any_alert_text_and_facts_dump_as_model_dump_json(
        zh: str, en: str, facts: dict[str, object]) -> None:
    assert_same_json(an_alert(zh, en, facts))


def test_an_include_of_no_field_is_an_empty_object_and_a_non_model_is_refused() -> None:
    alert = an_alert("预警", "alert", {})
    assert json_text(alert, set()) == "{}" == alert.model_dump_json(include=set())
    with pytest.raises(AttributeError):
        json_text(object())  # type: ignore[arg-type]
