"""The engine skips a policy whose inputs the case lacks (streams.rules._policy_table.INPUTS):
over generated cases of every step kind, with and without related cases, the shortcut decides
exactly as calling every policy does (same decisions, same next deadline), and each policy
whose declared inputs are absent finds nothing."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.rules import CaseEvent, CaseState, apply, assess, load_rules
from streams.rules._policies import CaseView
from streams.rules._policy_table import INPUTS, POLICIES, has_inputs, present_facts
from streams.rules.calendar import SHANGHAI
from tests.records import OWN_TIME, sample_data
from tests.unit.test_rules_properties import PARTIES, lifecycle, party_history

RULES = load_rules()
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

moments = st.datetimes(min_value=datetime(2024, 6, 1), max_value=datetime(2026, 6, 1)).map(
    lambda t: t.replace(tzinfo=SHANGHAI, microsecond=0))
ADMIN = ["zs-aic", "zs-customs"]
POLICE = ["zs-psb", "zs-psb2"]
amounts = st.sampled_from(["1.00", "20000.00", "45000.00", "60000.00", "900000.00"])


def _variant(draw: st.DrawFn, type_name: str) -> tuple[str, dict[str, Any]]:
    """The sender and data of one event of `type_name`, its choices drawn."""
    data = sample_data(type_name)
    sender = draw(st.sampled_from(ADMIN))
    if type_name == "case.opened":
        id_type, number = draw(st.sampled_from(PARTIES))
        data["offence"] = draw(st.sampled_from(
            ["trademark_counterfeiting", "shoddy_products", "copyright_infringement", "other"]))
        data["parties"] = [{"kind": "organization", "id_type": id_type, "id_number": number,
                            "name": "某公司"}]
        if draw(st.booleans()):
            data["clue_id"] = "Q1"
        if draw(st.booleans()):
            data["committed_at"] = draw(moments).isoformat()
    elif type_name == "case.assessed":
        data = {"assessed_at": "", draw(st.sampled_from(
            ["illegal_business_amount", "sales_amount", "illegal_gains"])): draw(amounts)}
        if draw(st.booleans()):
            data["reasonable_suspicion"] = True
    elif type_name == "transfer.decided":
        data["approved"] = draw(st.booleans())
        data["reasons"] = "理由"
        data["report_at"] = draw(moments).isoformat()
    elif type_name == "case.transferred":
        data["to_agency"] = draw(st.sampled_from(POLICE))
        data["documents"] = data["documents"][: draw(st.integers(0, 4))]
    elif type_name == "filing.decided":
        sender = draw(st.sampled_from(POLICE))
        data.update(filed=draw(st.booleans()), complex=draw(st.booleans()), reasons="理由")
    elif type_name in ("transfer.accepted", "transfer.forwarded", "reconsideration.decided"):
        sender = draw(st.sampled_from(POLICE))
        if type_name == "reconsideration.decided":
            data["upheld"] = draw(st.booleans())
        if type_name == "transfer.forwarded":
            data["to_agency"] = draw(st.sampled_from(POLICE))
    elif type_name == "supervision.issued":
        sender = "zs-procuratorate"
        data["kind"] = draw(st.sampled_from(
            ["explain_non_filing", "order_filing", "recommend_transfer", "correction"]))
        data["to_agency"] = draw(st.sampled_from(POLICE))
    elif type_name == "opinion.replied":
        data["outcome"] = draw(st.sampled_from(["penalty_imposed", "no_penalty", "other"]))
        data["reasons"] = draw(st.sampled_from(["", "理由"]))
    elif type_name == "clue.received":
        data["reporter_named"] = draw(st.booleans())
        data["clue_id"] = "Q1"
    elif type_name == "clue.answered":
        data["clue_id"] = "Q1"
    return sender, data


@st.composite
def any_case(draw: st.DrawFn, case_id: str = "C1") -> list[CaseEvent]:
    """Any few steps of any kinds, at any times: most cases lack most step kinds."""
    kinds = draw(st.lists(st.sampled_from(sorted(OWN_TIME)), max_size=10))
    events = []
    for n, type_name in enumerate(kinds):
        sender, data = _variant(draw, type_name)
        at = draw(moments)
        data[OWN_TIME[type_name]] = at.isoformat()
        events.append(CaseEvent(
            event_id=str(uuid.uuid5(uuid.NAMESPACE_OID, f"{case_id}/{n}")), type_name=type_name,
            agency=sender, case_id=case_id, time=at, data=data))
    return events


def states_after_each(events: list[CaseEvent]) -> list[CaseState]:
    states: list[CaseState] = []
    state: CaseState | None = None
    for event in events:
        state = apply(state, event)
        states.append(state)
    return states


def same_either_way(state: CaseState, related: list[CaseState], now: datetime) -> None:
    fast = assess(state, RULES, now, related)
    full = assess(state, RULES, now, related, every_rule=True)
    assert fast == full
    view = CaseView(state, RULES, related)
    for rule in RULES.enabled_rules():
        if not has_inputs(present_facts(view), INPUTS[rule.id]):
            assert list(POLICIES[rule.id](view, rule)) == [], rule.id


NOWS = [datetime(2024, 1, 1, tzinfo=SHANGHAI), datetime(2025, 6, 1, tzinfo=SHANGHAI),
        datetime(2027, 1, 1, tzinfo=SHANGHAI)]


@SETTINGS
@given(events=any_case(), others=st.lists(any_case("C2"), max_size=1),
       history=st.lists(party_history("C3"), max_size=2))
def test_skipping_policies_without_inputs_decides_as_every_policy_does(
    events: list[CaseEvent], others: list[list[CaseEvent]], history: list[Any]
) -> None:
    related = [s[-1] for s in map(states_after_each, others) if s]
    related += [states_after_each(line.events)[-1] for line in history]
    for state in states_after_each(events):
        for now in NOWS:
            same_either_way(state, related, now)
            same_either_way(state, [], now)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line=lifecycle(), delay=st.sampled_from(["", "approval", "handover", "acceptance"]),
       after=st.integers(min_value=-10, max_value=120))
def test_every_stage_of_a_lifecycle_decides_as_every_policy_does(
    line: Any, delay: str, after: int
) -> None:
    for state in states_after_each(line.events):
        now = max(e.time for e in line.events) + timedelta(days=after)
        same_either_way(state, [], now)


@SETTINGS
@given(data=st.data())
def test_cases_of_one_party_decide_as_every_policy_does(data: st.DataObject) -> None:
    """Split cases, repeat parties and penalties by several agencies: related cases matter."""
    lines = [data.draw(party_history(f"C{i}")) for i in range(data.draw(st.integers(2, 4)))]
    finals = [states_after_each(line.events)[-1] for line in lines]
    for line in lines:
        for state in states_after_each(line.events):
            related = [o for o in finals if o.case_id != state.case_id
                       and o.party_keys & state.party_keys]
            for now in NOWS:
                same_either_way(state, related, now)


def test_every_policy_declares_its_inputs() -> None:
    assert set(INPUTS) == set(POLICIES)


def test_a_case_of_assessments_only_calls_no_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The usual live event on a case that has only its figures: no policy runs at all."""
    state = states_after_each([CaseEvent(
        event_id=str(uuid.uuid4()), type_name="case.assessed", agency="zs-aic", case_id="C9",
        time=NOWS[1], data={"assessed_at": NOWS[1].isoformat(),
                            "illegal_business_amount": "90000.00"})])[-1]
    called: list[str] = []

    def spy(view: CaseView, rule: Any) -> Any:
        called.append(rule.id)
        return iter(())

    from streams.rules import engine
    monkeypatch.setattr(engine, "POLICIES", dict.fromkeys(POLICIES, spy))
    assert assess(state, RULES, NOWS[2]).decisions == []
    assert called == []
    assess(state, RULES, NOWS[2], every_rule=True)
    assert len(called) == len(RULES.enabled_rules())


def test_the_rules_chosen_follow_the_rule_set_evaluated() -> None:
    """The choice is remembered per rule set and set of facts: another rule set (a rule
    switched off by a copy) is never served the first one's choice."""
    opened_at = NOWS[1] - timedelta(days=30)
    state = states_after_each([CaseEvent(
        event_id=str(uuid.uuid4()), type_name="transfer.decided", agency="zs-aic",
        case_id="C8", time=opened_at,
        data={"report_at": opened_at.isoformat(), "decided_at": opened_at.isoformat(),
              "approved": True})])[-1]
    assert [d.rule_id for d in assess(state, RULES, NOWS[1]).decisions] == ["HANDOVER_LATE"]
    off = RULES.model_copy(update={"rules": {
        k: r.model_copy(update={"enabled": False}) if k == "HANDOVER_LATE" else r
        for k, r in RULES.rules.items()}})
    assert assess(state, off, NOWS[1]).decisions == []
    assert [d.rule_id for d in assess(state, RULES, NOWS[1]).decisions] == ["HANDOVER_LATE"]
