"""The engine's per-rule-set memos (a deadline's facts, an indication of no grounds) give
what the careful path gives, and never share a value an alert could change."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from unittest.mock import patch

from hypothesis import assume, given
from hypothesis import strategies as st

from schemas.events import Offence
from streams.rules import CaseEvent, assess, engine
from streams.rules._thresholds import Indication, indication
from streams.rules.case_state import Figures
from streams.rules.rules_config import Deadline
from tests.unit.test_rules_inputs import NOWS, RULES, any_case, states_after_each
from tests.unit.test_rules_properties import lifecycle


def _careful_deadline_facts(deadline: Deadline, name: str | None) -> dict[str, Any]:
    return {"name": name, "amount": deadline.amount, "unit": deadline.unit,
            "starts": deadline.starts, "unconfirmed": deadline.unconfirmed}


@given(events=any_case(), others=st.lists(any_case("C2"), max_size=1),
       now=st.sampled_from(NOWS))
def test_deadline_facts_are_the_deadlines_own(
    events: list[CaseEvent], others: list[list[CaseEvent]], now: datetime
) -> None:
    related = [state for other in others for state in states_after_each(other)[-1:]]
    for state in states_after_each(events):
        memoised = assess(state, RULES, now, related).decisions
        with patch.object(engine, "_deadline_facts", _careful_deadline_facts):
            careful = assess(state, RULES, now, related).decisions
        assert [d.model_dump_json() for d in memoised] == [d.model_dump_json() for d in careful]


@given(line=lifecycle(delay="approval"))
def test_an_alerts_deadline_facts_are_its_own(line: Any) -> None:
    """Changing one alert's facts changes no later alert (the memo's dict is copied)."""
    now = max(e.time for e in line.events) + timedelta(days=60)
    state = states_after_each(line.events)[-1]
    changed = 0
    for decision in assess(state, RULES, now).decisions:
        if "deadline" in decision.facts:
            decision.facts["deadline"]["amount"] = -1
            changed += 1
    assume(changed)  # the approval was late where the figures met a threshold
    for decision in assess(state, RULES, now).decisions:
        if "deadline" in decision.facts:
            assert decision.facts["deadline"]["amount"] != -1


@given(offence=st.sampled_from(list(Offence)),
       act_day=st.none() | st.dates(date(1990, 1, 1), date(2040, 12, 31)),
       judged_day=st.none() | st.dates(date(1990, 1, 1), date(2040, 12, 31)))
def test_no_grounds_is_the_indication_of_no_figures(
    offence: Offence, act_day: date | None, judged_day: date | None
) -> None:
    found = indication(RULES, offence, Figures(), act_day, judged_day)
    assert found == Indication(act_day=act_day or judged_day)
    assert not found and found.facts() == Indication(act_day=act_day or judged_day).facts()
