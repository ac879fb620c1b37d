"""An obligation's facts and texts (`Obligation.explain`) are made only for the obligations
the engine turns into alerts, and do not depend on when they are made: over generated cases,
each alert is made exactly once per decision, and explaining every obligation after the
policy has run to its end gives what explaining each as it is found gives."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from unittest import mock

from hypothesis import given

from streams.rules import CaseEvent, assess
from streams.rules._policies import CaseView, Obligation
from streams.rules._policy_table import POLICIES
from streams.rules._thresholds import Run
from tests.unit.test_rules_inputs import NOWS, RULES, SETTINGS, any_case, states_after_each
from tests.unit.test_rules_properties import lifecycle


def _counted_assess(state: Any, now: datetime) -> tuple[int, int]:
    """(explanations made, decisions) of one assessment; a run's facts (the costliest, of
    `should_transfer`) are not made by an assessment without alerts."""
    made = runs_described = 0
    explained, run_facts = Obligation.explained, Run.facts

    def counting(self: Obligation) -> Any:
        nonlocal made
        made += 1
        return explained(self)

    def counting_runs(self: Run) -> Any:
        nonlocal runs_described
        runs_described += 1
        return run_facts(self)

    with (mock.patch.object(Obligation, "explained", counting),
          mock.patch.object(Run, "facts", counting_runs)):
        decisions = assess(state, RULES, now).decisions
    assert runs_described <= len(decisions)
    return made, len(decisions)


def _same_explained_late(state: Any) -> None:
    view = CaseView(state, RULES, ())
    for rule in RULES.enabled_rules():
        found = list(POLICIES[rule.id](view, rule))  # every obligation made first
        again = POLICIES[rule.id](CaseView(state, RULES, ()), rule)
        for late, early in zip(found, again, strict=True):
            assert early.explained() == late.explained(), rule.id


@SETTINGS
@given(events=any_case())
def test_explanations_are_made_once_per_alert_and_alike_whenever_made(
    events: list[CaseEvent],
) -> None:
    for state in states_after_each(events):
        _same_explained_late(state)
        for now in NOWS:
            made, decisions = _counted_assess(state, now)
            assert made == decisions


@SETTINGS
@given(line=lifecycle())
def test_an_on_time_lifecycle_explains_only_its_alerts(line: Any) -> None:
    """A lifecycle's on-time steps (transfer, handover, acceptance, filing due and met) make
    obligations without alerts: none of them is explained."""
    for state in states_after_each(line.events):
        _same_explained_late(state)
        now = max(e.time for e in line.events)
        made, decisions = _counted_assess(state, now)
        assert made == decisions
