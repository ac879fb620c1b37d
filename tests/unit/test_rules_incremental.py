"""The incremental parts of the fold and the thresholds (issue 14) equal a walk from scratch."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.rules import CaseEvent, CaseState, _thresholds, apply, load_rules
from streams.rules.calendar import SHANGHAI
from streams.rules.case_state import Figures

RULES = load_rules()
START = datetime(2025, 3, 3, 9, 0, tzinfo=SHANGHAI)


def event(case_id: str, n: int, type_name: str, hours: int, **data: object) -> CaseEvent:
    at = START + timedelta(hours=hours)
    own = "opened_at" if type_name == "case.opened" else "assessed_at"
    return CaseEvent(event_id=str(uuid.uuid5(uuid.NAMESPACE_OID, f"{case_id}/{n}")),
                     type_name=type_name, agency="zs-aic", case_id=case_id, time=at,
                     data={own: at.isoformat(), **data})


def opened(case_id: str) -> CaseEvent:
    return event(case_id, 0, "case.opened", 0, offence="trademark_counterfeiting", summary="s",
                 parties=[{"kind": "person", "id_type": "ID", "id_number": "P", "name": "张"}])


def from_scratch(state: CaseState) -> tuple[Figures, tuple[_thresholds.Run, ...]]:
    figures = Figures()
    for assessment in state.assessments:
        figures = figures.updated(assessment)
    _thresholds._runs_memo.pop(state.case_id, None)
    return figures, _thresholds.indication_runs(state, RULES)


def shuffled(case_id: str, steps: list[tuple[int, str]], order: random.Random) -> list[CaseEvent]:
    """The case's opening and its assessments (hours after opening, amount), in `order`."""
    events = [event(case_id, n + 1, "case.assessed", hours, illegal_business_amount=amount)
              for n, (hours, amount) in enumerate(steps)]
    events.append(opened(case_id))
    order.shuffle(events)
    return events


# (hours after opening, amount): over and under the 50,000 threshold, in any arrival order.
assessments = st.lists(
    st.tuples(st.integers(1, 400), st.sampled_from(["60000.00", "20000.00", "90000.00", "1.00"])),
    min_size=1, max_size=12)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=assessments, order=st.randoms(use_true_random=False))
def test_figures_and_runs_after_each_event_equal_a_walk_from_scratch(
        steps: list[tuple[int, str]], order: random.Random) -> None:
    case_id = f"C-{uuid.uuid4()}"
    state = CaseState(case_id=case_id)
    for item in shuffled(case_id, steps, order):
        state = apply(state, item)
        runs = _thresholds.indication_runs(state, RULES)  # goes on from the last call's walk
        assert (state.figures, runs) == from_scratch(state)
        assert _thresholds.indication_runs(state, RULES) == runs


def test_a_walk_is_not_resumed_under_another_rule_set_or_act_day() -> None:
    case_id = f"C-{uuid.uuid4()}"
    state = apply(apply(None, opened(case_id)),
                  event(case_id, 1, "case.assessed", 5, illegal_business_amount="60000.00"))
    assert state is not None
    runs = _thresholds.indication_runs(state, RULES)
    assert len(runs) == 1 and runs[0].end is None
    stricter = RULES.model_copy(deep=True)
    for trigger in stricter.offences["trademark_counterfeiting"].thresholds.values():
        trigger.min.update({name: minimum * 100 for name, minimum in trigger.min.items()})
    assert _thresholds.indication_runs(state, stricter) == ()
    assert _thresholds.indication_runs(state, RULES) == runs


@settings(max_examples=60, deadline=None)
@given(events=st.lists(st.tuples(st.integers(1, 400), st.sampled_from(
    ["illegal_business_amount", "sales_amount", "marks_count", "reasonable_suspicion"]),
    st.integers(0, 90_000)), min_size=1, max_size=8))
def test_figures_built_without_validation_equal_validated_ones(
        events: list[tuple[int, str, int]]) -> None:
    """`Figures.updated` builds its result unvalidated: it equals, and dumps as, the figures
    validated from the same values."""
    state = CaseState(case_id="F1")
    for n, (hours, name, value) in enumerate(events):
        figure: object = (True if name == "reasonable_suspicion" else
                          value if name.endswith("_count") else f"{value}.00")
        state = apply(state, event("F1", n, "case.assessed", hours, **{name: figure}))
        validated = Figures.model_validate(state.figures.model_dump())
        assert state.figures == validated
        assert state.figures.model_dump_json() == validated.model_dump_json()
        assert Figures.model_validate_json(state.figures.model_dump_json()) == state.figures


def grounds_from_scratch(state: CaseState) -> _thresholds.Indication:
    """`case_indication` as first written: the thresholds checked on the case's figures."""
    judged = max(state.figures.as_of.values(), default=None)
    return _thresholds.indication(RULES, state.offence, state.figures,
                                  _thresholds.shanghai_day(state.committed_at),
                                  _thresholds.shanghai_day(judged))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=assessments, order=st.randoms(use_true_random=False),
       amount=st.sampled_from(["6E+4", "60000", "60000.00", "1.00"]))
def test_a_cases_grounds_from_its_walk_equal_the_thresholds_checked_again(
        steps: list[tuple[int, str]], order: random.Random, amount: str) -> None:
    """The grounds `case_indication` takes from the walk's last step (issue 14, session 8)
    equal, facts and texts included, the thresholds checked on the case's figures; and a
    state whose figures are not the walk's (the same assessments, other figures, an amount
    of another exponent) gets its own."""
    case_id = f"G-{uuid.uuid4()}"
    state = CaseState(case_id=case_id)
    for item in shuffled(case_id, steps, order):
        state = apply(state, item)
        _thresholds.indication_runs(state, RULES)
        for case in (state, state.model_copy(update={"figures": state.figures.model_copy(
                update={"amounts": {"illegal_business_amount": Decimal(amount)}})})):
            got, expected = _thresholds.case_indication(RULES, case), grounds_from_scratch(case)
            assert got == expected
            assert got.facts() == expected.facts() and got.describe() == expected.describe()
