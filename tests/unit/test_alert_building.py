"""The engine builds its alerts without validating them (issue 14): each equals the validated one."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.alert import Alert
from streams.rules import CaseEvent, CaseState, assess
from tests.case_events import START, case_event
from tests.unit.test_rules_inputs import NOWS, RULES, any_case, states_after_each
from tests.unit.test_rules_properties import lifecycle, party_history

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_validated_alike(alert: Alert) -> None:
    """`alert` equals the alert validated from its values: every value, which fields are set,
    each value's type and the payload's JSON (what is signed and stored)."""
    validated = Alert.model_validate(dict(alert))
    assert alert == validated
    assert alert.model_fields_set == validated.model_fields_set
    assert alert.model_dump_json() == validated.model_dump_json()
    assert alert.model_dump_json() == Alert.model_validate_json(alert.model_dump_json()).model_dump_json()
    assert {k: type(v) for k, v in dict(alert).items()} == {
        k: type(v) for k, v in dict(validated).items()}
    assert alert.raised_at.utcoffset() is not None
    assert alert.due_at is None or alert.due_at.utcoffset() is not None


def every_decision(state: CaseState, related: list[CaseState], now: datetime) -> list[Alert]:
    return assess(state, RULES, now, related, every_rule=True).decisions


@SETTINGS
@given(events=any_case(), history=st.lists(party_history("C3"), max_size=2))
def test_built_alerts_of_any_case_equal_validated_ones(
        events: list[CaseEvent], history: list[Any]) -> None:
    related = [states_after_each(line.events)[-1] for line in history]
    for state in states_after_each(events):
        for now in NOWS:
            for alert in every_decision(state, related, now):
                assert_validated_alike(alert)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line=lifecycle(delay="approval"), after=st.integers(min_value=-10, max_value=120))
def test_built_alerts_of_a_late_lifecycle_equal_validated_ones(line: Any, after: int) -> None:
    now = max(e.time for e in line.events) + timedelta(days=after)
    for state in states_after_each(line.events):
        for alert in every_decision(state, [], now):
            assert_validated_alike(alert)


def test_an_alert_is_built_without_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    events = [case_event("C-1", 0, "case.opened", 0), case_event("C-1", 1, "case.assessed", 1),
              case_event("C-1", 2, "penalty.decided", 2)]
    state = states_after_each(events)[-1]
    now = START + timedelta(days=400)
    expected = every_decision(state, [], now)
    assert expected  # an over-threshold case penalised, never transferred

    def refuse(self: Alert, **data: Any) -> None:
        raise AssertionError("validated again")

    monkeypatch.setattr(Alert, "__init__", refuse)
    assert every_decision(state, [], now) == expected
