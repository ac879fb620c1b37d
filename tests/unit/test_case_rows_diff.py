"""The case store's patch of a saved state (issue 14): the case_state_events rows it appends
for a state that only gained events are exactly the rows the new state has and the old one
lacks; any other change is left to a whole write (None). A case created whole
(`_rows_of`) has the rows the patch of an empty state would append."""

from __future__ import annotations

import json
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.adapters.case_store import (
    _BOUNDED,
    _ROW_FIELDS,
    _added_rows,
    _inserted,
    _patch,
    _rows_of,
)
from streams.rules import CaseState, apply
from tests.case_events import NO_STEP_TYPES, STEP_TYPES, case_event
from tests.unit.test_rules_inputs import any_case


def rows(state: CaseState) -> dict[str, tuple[str | None, Any]]:
    """event id -> (step list, step) as case_state_events holds them."""
    found: dict[str, tuple[str | None, Any]] = dict.fromkeys(state.event_ids, (None, None))
    for field in _ROW_FIELDS:
        for record in getattr(state, field):
            found[record.event_id] = (field, record.model_dump_json())
    return found


def changed(old: CaseState, new: CaseState) -> set[str]:
    return {f for f in CaseState.model_fields if getattr(new, f) is not getattr(old, f)}


kinds = st.lists(st.tuples(st.sampled_from([*STEP_TYPES, *NO_STEP_TYPES]), st.integers(0, 300)),
                 min_size=1, max_size=20)


@settings(max_examples=60, deadline=None)
@given(before=kinds, after=kinds, order=st.randoms(use_true_random=False))
def test_the_rows_appended_are_the_rows_gained(
        before: list[tuple[str, int]], after: list[tuple[str, int]], order: random.Random) -> None:
    events = [case_event("C-1", n, t, h) for n, (t, h) in enumerate(before + after)]
    order.shuffle(events)
    old = CaseState(case_id="C-1")
    for item in events[:len(before)]:
        old = apply(old, item)
    new = old
    for item in events[len(before):]:
        new = apply(new, item)
    added = _added_rows(old, new, changed(old, new))
    assert added is not None  # apply only ever adds events, each with at most one step
    gained = {e: v for e, v in rows(new).items() if e not in rows(old)}
    assert {(e, (f, None if s is None else s)) for _, e, f, s in added} == {
        (e, (f, s)) for e, (f, s) in gained.items()}


def test_a_step_replaced_or_an_event_gone_is_no_patch() -> None:
    state = apply(apply(CaseState(case_id="C-1"), case_event("C-1", 0, "case.opened", 0)),
                  case_event("C-1", 1, "case.assessed", 1))
    other = apply(CaseState(case_id="C-1"), case_event("C-1", 0, "case.opened", 0))
    fewer = state.model_copy(update={"event_ids": state.event_ids[:1],
                                     "assessments": ()})
    assert _added_rows(state, fewer, changed(state, fewer)) is None
    # equal steps, not the same objects: written whole too (apply never does this)
    replaced = state.model_copy(update={"openings": other.openings})
    assert _added_rows(state, replaced, changed(state, replaced)) is None
    moved = state.model_copy(update={"openings": (), "event_ids": state.event_ids})
    assert _added_rows(state, moved, changed(state, moved)) is None
    orphan = state.model_copy(update={"assessments": (*state.assessments, other.openings[0])})
    assert _added_rows(state, orphan, changed(state, orphan)) is None


@given(st.lists(st.text(max_size=4), unique=True), st.text(max_size=4))
def test_the_one_inserted_id_is_found_by_bisection(ids: list[str], extra: str) -> None:
    old = tuple(sorted(ids))
    new = tuple(sorted({*ids, extra}))
    assert _inserted(old, new) == (None if extra in ids else extra)
    assert _inserted(old, old) is None
    if len(old) > 1:
        assert _inserted(old, (*old[1:], "\U0010ffff", "\U0010fffe")) is None


@settings(max_examples=60, deadline=None)
@given(events=any_case(), fields=st.sets(st.sampled_from(sorted(_BOUNDED)), min_size=1))
def test_the_patch_of_bounded_fields_is_what_the_state_dumps_of_them(
        events: list[Any], fields: set[str]) -> None:
    """`_patch` dumps a model field by itself and the rest with `include`: the same JSON."""
    state: CaseState | None = None
    for event in events:
        state = apply(state, event)
        assert json.loads(_patch(state, fields)) == json.loads(
            state.model_dump_json(include=fields))


@settings(max_examples=80, deadline=None)
@given(kinds=kinds, order=st.randoms(use_true_random=False),
       corrupt=st.sampled_from(["none", "event gone", "event twice", "step twice"]))
def test_the_rows_of_a_created_case_are_those_its_patch_from_empty_appends(
        kinds: list[tuple[str, int]], order: random.Random, corrupt: str) -> None:
    """`_rows_of(state)` == `_added_rows(empty, state, every field)`: the same rows, and
    None for the same states (a step of no event, an event twice, an event with two
    steps), which are then sent whole for the trigger to refuse."""
    events = [case_event("C-1", n, t, h) for n, (t, h) in enumerate(kinds)]
    order.shuffle(events)
    state = CaseState(case_id="C-1")
    for item in events:
        state = apply(state, item)
    stepped = [f for f in sorted(_ROW_FIELDS) if getattr(state, f)]
    if corrupt == "event gone":
        state = state.model_copy(update={"event_ids": state.event_ids[1:]})
    elif corrupt == "event twice":
        state = state.model_copy(update={"event_ids": (*state.event_ids, state.event_ids[0])})
    elif corrupt == "step twice" and stepped:
        field = order.choice(stepped)
        state = state.model_copy(update={field: (*getattr(state, field),
                                                 getattr(state, field)[0])})
    empty = CaseState(case_id="C-1")
    expected = _added_rows(empty, state, set(CaseState.model_fields))
    found = _rows_of(state)
    assert (found is None) == (expected is None)
    if found is not None and expected is not None:
        assert sorted(found, key=str) == sorted(expected, key=str)
    if corrupt in ("event twice", "step twice") and (corrupt == "event twice" or stepped):
        assert found is None
