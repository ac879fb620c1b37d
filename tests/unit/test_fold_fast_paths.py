"""The rules path's fast paths (issue 14) give what the slower computations they replace give."""

from __future__ import annotations

import bisect
import importlib
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import AwareDatetime, BaseModel, TypeAdapter, ValidationError

from schemas.cloudevent import CANONICAL_UUID, BoundedTime, CanonicalEventId, EventId, InnerTime
from schemas.events import (
    AMOUNT_FIELDS,
    COUNT_FIELDS,
    EVENT_TYPES,
    EXTENSION_COUNT_FIELDS,
    EXTENSION_FLAG_FIELDS,
    CaseAssessed,
)
from streams.rules import CaseEvent, CaseEventError, CaseState, _figures, apply
from streams.rules.calendar import SHANGHAI
from streams.rules.case_state import AssessmentRecord, Figures, PartyRef, Record, built
from streams.rules.fold import _SUMMARY_STEPS, _assessment, _derived, _insert, parse_event_data
from tests.case_events import NO_STEP_TYPES, STEP_TYPES, case_event
from tests.unit.test_rules_inputs import any_case

START = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)


def record(hours: int, sent: int, event_id: str, amount: int) -> AssessmentRecord:
    return AssessmentRecord(
        event_id=event_id, agency="zs-aic", assessed_at=START + timedelta(hours=hours),
        sent_at=START + timedelta(hours=sent), amounts={"sales_amount": Decimal(amount)})


# Few distinct times and ids, so equal sort keys (and equal keys of different records) occur.
records = st.builds(record, st.integers(0, 3), st.integers(0, 3),
                    st.sampled_from(["a", "b", "c"]), st.integers(0, 2))


def by_key(item: AssessmentRecord) -> tuple[Any, ...]:
    return item.sort_key()


@settings(max_examples=300, deadline=None)
@given(before=st.lists(records, max_size=8), new=records)
def test_insert_equals_a_stable_sort_of_the_steps_and_the_new_one(
        before: list[AssessmentRecord], new: AssessmentRecord) -> None:
    steps = tuple(sorted(before, key=by_key))  # a state's step tuple is sorted
    expected = tuple(sorted((*steps, new), key=by_key))
    got = _insert(steps, new)
    # The very records, in the very order (records with equal keys may differ in content).
    assert len(got) == len(expected) and all(a is b for a, b in zip(got, expected, strict=True))


def test_a_step_sorting_last_is_appended_after_one_comparison(
        monkeypatch: pytest.MonkeyPatch) -> None:
    steps = tuple(record(h, h, f"e{h}", 1) for h in range(30))
    calls = 0
    original = AssessmentRecord.sort_key

    def counted(self: AssessmentRecord) -> tuple[Any, ...]:
        nonlocal calls
        calls += 1
        return original(self)

    monkeypatch.setattr(AssessmentRecord, "sort_key", counted)
    last = record(40, 40, "z", 1)
    assert _insert(steps, last) == (*steps, last)
    assert calls == 2  # the last step's key and the new one's, not one per step
    calls = 0
    early = record(5, 5, "e5x", 1)  # out of order: sorted in, as before
    assert _insert(steps, early) == (*steps[:6], early, *steps[6:])
    assert calls > len(steps)


figure_values = st.fixed_dictionaries({}, optional={
    **{name: st.sampled_from(["0", "1.50", "50000.00"]) for name in _figures.AMOUNTS},
    **{name: st.integers(0, 9) for name in _figures.COUNTS},
    **{name: st.booleans() for name in _figures.FLAGS},
    "unknown_count": st.integers(0, 3),  # an extension field no rule reads
}).filter(lambda d: any(k != "unknown_count" for k in d))


@settings(max_examples=200, deadline=None)
@given(values=figure_values)
def test_the_assessment_record_holds_every_figure_the_event_gives(values: dict[str, Any]) -> None:
    data = CaseAssessed.model_validate_json(CaseAssessed(
        assessed_at=START, **values).model_dump_json())
    event = CaseEvent(event_id="e", type_name="case.assessed", agency="zs-aic", case_id="C",
                      time=START, data={})
    got = _assessment(event, data)
    assert got == AssessmentRecord(
        event_id="e", agency="zs-aic", assessed_at=START, sent_at=START,
        amounts={k: Decimal(v) for k, v in values.items() if k in _figures.AMOUNTS},
        counts={k: v for k, v in values.items() if k in _figures.COUNTS},
        flags={k: v for k, v in values.items() if k in _figures.FLAGS})
    # In the catalogue's order, as before (the stored step's JSON keeps its key order).
    assert list(got.counts) == [k for k in _figures.COUNTS if k in values]
    assert list(got.flags) == [k for k in _figures.FLAGS if k in values]


@settings(max_examples=300, deadline=None)
@given(values=figure_values)
def test_the_built_assessment_record_equals_the_validated_one(values: dict[str, Any]) -> None:
    """`_assessment` builds its record without validation: validating the same values gives
    an equal record, whose every value has the same type."""
    data = CaseAssessed.model_validate_json(CaseAssessed(
        assessed_at=START, **values).model_dump_json())
    event = CaseEvent(event_id="e", type_name="case.assessed", agency="zs-aic", case_id="C",
                      time=START + timedelta(minutes=5), data={})
    got = _assessment(event, data)
    validated = AssessmentRecord.model_validate(dict(got))
    assert got == validated
    assert got.model_fields_set == validated.model_fields_set
    assert got.model_dump_json() == validated.model_dump_json()
    for name in ("amounts", "counts", "flags"):
        assert ([(k, type(v)) for k, v in getattr(got, name).items()]
                == [(k, type(v)) for k, v in getattr(validated, name).items()])


@settings(max_examples=200, deadline=None)
@given(before=figure_values, after=figure_values)
def test_updated_figures_equal_validated_ones(before: dict[str, Any],
                                              after: dict[str, Any]) -> None:
    event = CaseEvent(event_id="e", type_name="case.assessed", agency="zs-aic", case_id="C",
                      time=START, data={})
    figures = Figures()
    for values in (before, after):
        data = CaseAssessed.model_validate_json(CaseAssessed(
            assessed_at=START, **values).model_dump_json())
        figures = figures.updated(_assessment(event, data))
        validated = Figures.model_validate(dict(figures))
        assert figures == validated and figures.model_fields_set == validated.model_fields_set
        assert figures.model_dump_json() == validated.model_dump_json()


def test_the_assessment_record_is_built_without_validation(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: AssessmentRecord, **data: Any) -> None:
        raise AssertionError("validated again")

    data = CaseAssessed(assessed_at=START, illegal_business_amount="60000.00")
    event = CaseEvent(event_id="e", type_name="case.assessed", agency="zs-aic", case_id="C",
                      time=START, data={})
    monkeypatch.setattr(AssessmentRecord, "__init__", refuse)
    assert _assessment(event, data).amounts == {"illegal_business_amount": Decimal("60000.00")}


fold_module = importlib.import_module("streams.rules.fold")
case_state_module = importlib.import_module("streams.rules.case_state")


def _from_scratch(state: CaseState) -> dict[str, Any]:
    """The summary derived from every step of `state` (all summary steps laid over)."""
    steps = {name: getattr(state, name) for name in (*_SUMMARY_STEPS, "assessments")}
    return _derived(CaseState(case_id=state.case_id), steps)


@settings(max_examples=150, deadline=None)
@given(types=st.lists(st.sampled_from(STEP_TYPES + NO_STEP_TYPES), min_size=1, max_size=10),
       hours=st.lists(st.integers(0, 300), min_size=10, max_size=10))
def test_the_summary_after_each_event_equals_one_derived_from_every_step(
        types: list[str], hours: list[int]) -> None:
    """An event adding no summary step (an assessment) keeps the state's agency, offence,
    opening time and parties: the same as deriving them from all the steps again."""
    state = CaseState(case_id="C-1")
    for n, type_name in enumerate(types):
        state = apply(state, case_event("C-1", n, type_name, hours[n]))
        expected = _from_scratch(state)
        assert {name: getattr(state, name) for name in expected} == expected


def test_an_assessment_derives_no_summary_but_the_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    state = apply(None, case_event("C-1", 0, "penalty.decided", 1))
    calls = 0
    original = fold_module._earliest

    def counted(records: Any) -> Any:
        nonlocal calls
        calls += 1
        return original(records)

    monkeypatch.setattr(fold_module, "_earliest", counted)
    after = apply(state, case_event("C-1", 1, "case.assessed", 2))
    assert calls == 0
    assert after.agency == state.agency is not None and len(after.assessments) == 1
    apply(after, case_event("C-1", 2, "transfer.decided", 3))
    assert calls > 0  # a summary step derives it again


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(
    st.uuids().map(str), st.uuids().map(lambda u: str(u).upper()), st.uuids().map(lambda u: u.hex),
    st.uuids().map(lambda u: f"{{{u}}}"), st.uuids().map(lambda u: f"urn:uuid:{u}"),
    st.uuids().map(lambda u: str(u)[:-1] + "g"), st.uuids().map(lambda u: str(u) + "\n"),
    st.text(alphabet="0123456789abcdef-", min_size=30, max_size=40)))
def test_a_cloudevent_id_is_accepted_exactly_when_it_parses_as_a_uuid(value: str) -> None:
    """The canonical-form shortcut of `EventId`'s check accepts what `uuid.UUID` accepts and
    nothing else (the ingress checks every event's id with it); `CanonicalEventId`, the
    replay's fast reading's (pydantic-core's pattern), accepts exactly the canonical ids."""
    try:
        uuid.UUID(value)
        parses = True
    except ValueError:
        parses = False
    try:
        _EVENT_ID.validate_python(value)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == parses
    try:
        _CANONICAL_ID.validate_python(value)
        canonical = True
    except ValidationError:
        canonical = False
    assert canonical == (CANONICAL_UUID.match(value) is not None)
    assert not canonical or accepted


_EVENT_ID: TypeAdapter[str] = TypeAdapter(EventId)
_CANONICAL_ID: TypeAdapter[str] = TypeAdapter(CanonicalEventId)


def _steps_of(state: CaseState) -> list[Any]:
    """Every step record of a state, and the parties of its openings."""
    found: list[Any] = []
    for name in CaseState.model_fields:
        value = getattr(state, name)
        if name != "event_ids" and type(value) is tuple:
            found += value
    found += [party for opening in state.openings for party in opening.parties]
    return found


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=any_case())
def test_every_built_step_record_equals_the_validated_one(events: list[CaseEvent]) -> None:
    """The fold builds each step's record (and an opening's parties) without validation:
    validating the same values gives an equal record, with the same fields set, values of
    the same types and the same JSON (what the case store keeps), for every step type."""
    state = None
    for event in events:
        state = apply(state, event)
    steps = _steps_of(state) if state is not None else []
    assert len(steps) >= len(events)  # every event of any_case leaves a step
    for step in steps:
        validated = type(step).model_validate(dict(step))
        assert step == validated
        assert step.model_fields_set == validated.model_fields_set
        assert step.model_dump_json() == validated.model_dump_json()
        assert {k: type(v) for k, v in dict(step).items()} == {
            k: type(v) for k, v in dict(validated).items()}


def _takes(record_type: Any, data_type: Any) -> bool:
    """Whether a record field of `record_type` keeps a value of the contract's `data_type` as
    it is: the same type, a `datetime` for an `AwareDatetime`, `str` for a `Literal` of
    strings, or optionals of such."""
    if record_type == data_type:
        return True
    if get_origin(data_type) is Annotated:
        return _takes(record_type, get_args(data_type)[0])
    if data_type is AwareDatetime:
        return record_type is datetime
    if get_origin(data_type) is Literal:
        return record_type is str and all(type(a) is str for a in get_args(data_type))
    record_args, data_args = get_args(record_type), get_args(data_type)
    if get_origin(data_type) in (Union, UnionType) and get_origin(record_type) in (Union, UnionType):
        return len(record_args) == len(data_args) and all(
            _takes(r, d) for r, d in zip(record_args, data_args, strict=True))
    return False


def test_every_copied_record_field_takes_its_data_field_as_it_is() -> None:
    """The records `_copying` builds from same-named data fields (without validation) have
    fields whose types take the data's validated values unchanged: a contract change that
    widened a data field (say a `Literal` to `str` where the record keeps the `Literal`)
    fails here rather than storing a record validation would refuse."""
    copied = 0
    for type_name, (_, build) in fold_module._STEPS.items():
        cells = [c.cell_contents for c in (build.__closure__ or ())]
        record_type: Any = next((c for c in cells if isinstance(c, type)), None)
        if record_type is None:
            continue
        data_fields = EVENT_TYPES[type_name].model.model_fields
        for name, field in record_type.model_fields.items():
            if name in Record.model_fields:
                continue
            assert _takes(field.annotation, data_fields[name].annotation), (type_name, name)
            copied += 1
    assert copied > 20


def test_step_records_are_built_without_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    events = [case_event("C-1", n, type_name, n) for n, type_name in enumerate(STEP_TYPES)]

    def refuse(self: Any, **data: Any) -> None:
        raise AssertionError("validated again")

    for model in {type(step) for step in _steps_of(fold_module.fold(events))}:
        monkeypatch.setattr(model, "__init__", refuse)
    state = fold_module.fold(events)
    assert state is not None and len(_steps_of(state)) >= len(STEP_TYPES)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=any_case())
def test_a_state_folded_at_once_equals_the_validated_state(events: list[CaseEvent]) -> None:
    """`fold_read` makes a new case's state without validating it: validating its values
    gives an equal state with the same fields set and JSON (what the case store keeps)."""
    state = fold_module.fold_read("C1", [(e, parse_event_data(e)) for e in events])
    validated = CaseState.model_validate(
        {name: getattr(state, name) for name in state.model_fields_set})
    assert state == validated
    assert state.model_fields_set == validated.model_fields_set
    assert state.model_dump_json() == validated.model_dump_json()
    assert state.model_dump_json(exclude_unset=True) == validated.model_dump_json(
        exclude_unset=True)
    assert state.__pydantic_private__ is None and state.__pydantic_extra__ is None


def test_a_new_state_is_not_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    events = [case_event("C-1", n, type_name, n) for n, type_name in enumerate(STEP_TYPES)]
    read = [(e, parse_event_data(e)) for e in events]
    expected = fold_module.fold_read("C-1", read)

    def refuse(self: Any, **data: Any) -> None:
        raise AssertionError("validated")

    monkeypatch.setattr(CaseState, "__init__", refuse)
    assert fold_module.fold_read("C-1", read) == expected


_BOUNDED: TypeAdapter[datetime] = TypeAdapter(BoundedTime)
_INNER: TypeAdapter[datetime] = TypeAdapter(InnerTime)


@settings(max_examples=400, deadline=None)
@given(day=st.sampled_from(["1899-12-31", "1900-01-01", "1900-01-02", "1900-01-03", "2026-03-02",
                            "2999-12-30", "2999-12-31", "3000-01-01"]),
       clock=st.times(), offset=st.integers(-23 * 60 - 59, 23 * 60 + 59))
def test_the_narrowed_time_takes_only_what_the_bounded_time_takes(day: str, clock: Any,
                                                                  offset: int) -> None:
    """`InnerTime` (the replay's fast reading's, pydantic-core's bounds) accepts only times
    `BoundedTime` (a Python check) accepts, each as the same value, at any offset."""
    sign = "+" if offset >= 0 else "-"
    text = (f'"{day}T{clock.isoformat()}{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"')
    try:
        inner = _INNER.validate_json(text)
    except ValidationError:
        return
    assert _BOUNDED.validate_json(text) == inner
    assert inner.utcoffset() == _BOUNDED.validate_json(text).utcoffset()


def _had_a_figure(data: CaseAssessed) -> bool:
    """The check `CaseAssessed._at_least_one_figure` made before it read the fields' dict."""
    figures = AMOUNT_FIELDS + COUNT_FIELDS + EXTENSION_COUNT_FIELDS + EXTENSION_FLAG_FIELDS
    return not all(getattr(data, name) is None for name in figures)


@settings(max_examples=300, deadline=None)
@given(values=st.dictionaries(
    st.sampled_from([*AMOUNT_FIELDS, *COUNT_FIELDS, *EXTENSION_COUNT_FIELDS,
                     *EXTENSION_FLAG_FIELDS, "note"]),
    st.none() | st.sampled_from(["1.00", 3, True, False, 0]), max_size=4))
def test_an_assessment_is_refused_exactly_when_it_has_no_figure(values: dict[str, Any]) -> None:
    """The fields-dict reading of `_at_least_one_figure` refuses what the getattr one did."""
    data = {"assessed_at": "2026-03-02T09:00:00+08:00", **values}
    unchecked = CaseAssessed.model_construct(**{k: v for k, v in data.items() if v is not None})
    try:
        CaseAssessed.model_validate(data)
        accepted = True
    except ValidationError as exc:
        accepted = False
        if "at least one amount" not in str(exc):
            return  # refused for a value's type, before the figure check
    assert accepted == _had_a_figure(unchecked)


def _applied_by_copy(state: CaseState, event: Any, data: Any) -> CaseState:
    """`fold._applied` as it was before session 9: pydantic's `model_copy` of the state."""
    step = fold_module._STEPS.get(event.type_name)
    updates: dict[str, Any] = {}
    if step is not None:
        target, build = step
        updates[target] = _insert(getattr(state, target), build(event, data))
    index = bisect.bisect_left(state.event_ids, event.event_id)
    event_ids = (*state.event_ids[:index], event.event_id, *state.event_ids[index:])
    return state.model_copy(
        update={**updates, "event_ids": event_ids, **_derived(state, updates)})


def _same_state(got: CaseState, expected: CaseState) -> None:
    assert got == expected
    assert list(got.__dict__) == list(expected.__dict__)  # the same fields, in the same order
    assert all(got.__dict__[f] is expected.__dict__[f] or got.__dict__[f] == expected.__dict__[f]
               for f in got.__dict__)
    assert got.model_fields_set == expected.model_fields_set
    assert got.model_dump_json() == expected.model_dump_json()
    assert got.model_dump_json(exclude_unset=True) == expected.model_dump_json(exclude_unset=True)
    assert got.__pydantic_private__ is None and got.__pydantic_extra__ is None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=any_case(), split=st.integers(0, 10))
def test_applying_one_read_event_equals_the_model_copy_of_the_state(
        events: list[CaseEvent], split: int) -> None:
    """`applied_read` (the worker's path: the state made without `model_copy`) gives, event
    after event, the state `model_copy` made, fields set and JSON included, from a state
    folded at once as from one built event by event, repeated events included."""
    read = [(e, parse_event_data(e)) for e in events]
    state = (fold_module.fold_read("C1", read[:split]) if read[:split]
             else CaseState(case_id="C1"))
    expected = state
    for event, data in [*read[split:], *read[:2]]:  # the first two again: already applied
        state = fold_module.applied_read(state, event, data)
        if not expected.has_event(event.event_id):
            expected = _applied_by_copy(expected, event, data)
        _same_state(state, expected)
    assert state == (fold_module.fold(events) or CaseState(case_id="C1"))


def test_applying_a_read_event_of_another_case_is_refused() -> None:
    event = case_event("C-2", 1, "case.assessed", 1)
    with pytest.raises(CaseEventError, match="not 'C-1'"):
        fold_module.applied_read(CaseState(case_id="C-1"), event, parse_event_data(event))


def test_built_sets_the_slots_object_setattr_would_set() -> None:
    """`built` calls `BaseModel`'s four slot setters directly: every model it builds finds
    those very descriptors (none redefines a slot), so it sets what `object.__setattr__`
    would, and the instance holds what a validated one holds."""
    models = {CaseState, Figures, PartyRef,
              *(cls for cls in vars(case_state_module).values()
                if isinstance(cls, type) and issubclass(cls, Record))}
    for model in models:
        for slot in ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__",
                     "__pydantic_private__"):
            found = next(c.__dict__[slot] for c in model.__mro__ if slot in c.__dict__)
            assert found is BaseModel.__dict__[slot], (model, slot)
    figures = built(Figures, {"amounts": {"sales_amount": Decimal(1)}, "counts": {},
                              "flags": {}, "as_of": {}})
    validated = Figures(amounts={"sales_amount": Decimal(1)}, counts={}, flags={}, as_of={})
    assert figures == validated and figures.model_fields_set == validated.model_fields_set
    assert figures.__pydantic_extra__ is None and figures.__pydantic_private__ is None
    assert figures.model_dump_json() == validated.model_dump_json()


def test_every_built_instance_has_a_fields_set_of_its_own() -> None:
    """`built` copies the model's set of field names for each instance (the default fields
    set): changing one instance's set changes neither the next one's nor the model's."""
    values = {"kind": "person", "id_type": "PRC_ID", "id_number": "1", "name": "某人"}
    first = built(PartyRef, dict(values))
    first.__pydantic_fields_set__.discard("name")
    second = built(PartyRef, dict(values))
    assert second.model_fields_set == PartyRef(**values).model_fields_set
    assert second.model_fields_set is not first.model_fields_set
