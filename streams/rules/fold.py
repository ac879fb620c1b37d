"""Folding accepted events into a case's state: one handler per event type, then derivation.

`apply` is pure, idempotent by event id and insensitive to arrival order (see
`streams.rules.case_state` for how the summary fields are derived from the sorted steps).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from schemas.events import (
    EVENT_TYPES,
    CaseAssessed,
    CaseOpened,
    CaseTransferred,
    EventData,
    EvidenceHandedOver,
    EvidenceReceived,
)
from streams.rules import _figures
from streams.rules._errors import CaseEventError
from streams.rules.case_state import (
    AcceptanceRecord,
    AssessmentRecord,
    CaseEvent,
    CaseState,
    ClosureRecord,
    ClueAnswerRecord,
    ClueRecord,
    EvidenceReceiptRecord,
    Figures,
    FilingRecord,
    ForwardRecord,
    HandoverRecord,
    OpeningRecord,
    OpinionRecord,
    OpinionReplyRecord,
    PartyRef,
    PenaltyRecord,
    ProsecutionRecord,
    ReconsiderationDecisionRecord,
    ReconsiderationRequestRecord,
    Record,
    Sent,
    SupervisionRecord,
    SupervisionRequestRecord,
    TransferDecisionRecord,
    TransferRecord,
    built,
    by_sort_key,
)

R = TypeVar("R", bound=Record)


def _insert(records: tuple[R, ...], record: R) -> tuple[R, ...]:
    """`records` (sorted by sort key, as every step tuple of a state is) with `record` in its
    place: after every record whose key is not greater, as a stable sort of the two puts it.

    The usual step sorts last (its time is the latest so far): that one is appended after one
    key comparison; only a step arriving out of order sorts the tuple again (issue 14: sorting
    with a Python key per step was the largest single cost of a live rules event, and it grew
    with the case)."""
    if not records or records[-1].sort_key() <= record.sort_key():
        return (*records, record)
    return tuple(sorted((*records, record), key=by_sort_key))


def _earliest(records: Iterable[Record]) -> Record | None:
    return min(records, key=by_sort_key, default=None)


_ASSESSED_COUNTS = tuple(n for n in _figures.COUNTS if n in CaseAssessed.model_fields)
_ASSESSED_FLAGS = tuple(n for n in _figures.FLAGS if n in CaseAssessed.model_fields)
"""The counts and flags the contract's `case.assessed` names (the rest are extension fields):
found once here, not per event (reading `model_fields` costs ~1 µs each time)."""


assert set(_figures.AMOUNTS) <= set(CaseAssessed.model_fields)


def _assessment(event: Sent, data: CaseAssessed) -> AssessmentRecord:
    # Read from the fields' dict, every name read being a declared field (as
    # `CaseAssessed._at_least_one_figure` reads them; issue 14, session 9: a `getattr` each
    # cost about twice as much), and the extra values as pydantic's `model_extra` returns them.
    values = data.__dict__
    amounts = {
        name: value for name in _figures.AMOUNTS if (value := values[name]) is not None
    }
    counts = {
        name: value for name in _ASSESSED_COUNTS if (value := values[name]) is not None
    }
    flags: dict[str, bool] = {
        name: value for name in _ASSESSED_FLAGS if (value := values[name]) is not None
    }
    ignored: list[str] = []
    extra = data.__pydantic_extra__
    if extra:  # none, usually: the extension figures are declared fields now
        for name in _figures.EXTENSION_COUNTS:
            if name in extra:
                value = extra[name]
                if type(value) is int and value >= 0:
                    counts[name] = value
                else:
                    ignored.append(name)
        for name in _figures.EXTENSION_FLAGS:
            if name in extra:
                value = extra[name]
                if type(value) is bool:
                    flags[name] = value
                else:
                    ignored.append(name)
    # Built, not validated (issue 14: validating it was half of folding an assessment): every
    # value already has the record's type, from the validated data (Decimal amounts, int counts
    # and bool flags, checked above for the extension fields) or the validated head, so
    # validation would return each as it is. tests/unit/test_fold_fast_paths.py checks, with
    # generated data, that this equals the validated record.
    return built(AssessmentRecord, {
        "event_id": event.event_id,
        "agency": event.agency,
        "assessed_at": data.assessed_at,
        "sent_at": event.time,
        "amounts": amounts,
        "counts": counts,
        "flags": flags,
        "ignored_fields": tuple(ignored),
    })


Builder = Callable[[Any, Any], Record]
"""Makes the step record of an event from its head (`Sent`: id, sender, time) and its data.

Every builder builds its record without validating it (`case_state.built`), as `_assessment`
does, and for the same reason (issue 14: validating the record was ~3-5 µs of each step's
fold, a third of the fold after parsing): each value comes from the data validated by its
contract model or from the validated head, and each record field's type takes the data
field's value as it is (the same or a wider type: an `AwareDatetime` into a `datetime`, a
contract `Literal` into the same `Literal` or `str`, `Offence` into `Offence`), so validating
it would return every value unchanged. tests/unit/test_fold_fast_paths.py checks, for every
step type over generated data, that each built record equals the validated one, JSON and
fields set included, and `test_every_record_field_takes_its_data_field` that each copied
field's type is one a validation would pass through."""


def _opening(event: Sent, data: CaseOpened) -> OpeningRecord:
    # Read from the fields' dicts, every name a declared field, as `_assessment` reads them.
    values = data.__dict__
    return built(OpeningRecord, {
        "event_id": event.event_id,
        "agency": event.agency,
        "opened_at": values["opened_at"],
        "sent_at": event.time,
        "offence": values["offence"],
        # One comprehension (CPython runs `for p in [x]` as an assignment, issue 14, session
        # 12: the second comprehension was a call and a list more a case).
        "parties": tuple([
            built(PartyRef, {"kind": p["kind"], "id_type": p["id_type"],
                             "id_number": p["id_number"], "name": p["name"]})
            for party in values["parties"] for p in [party.__dict__]
        ]),
        "clue_id": values["clue_id"],
        "committed_at": values["committed_at"],
    })


def _transfer(event: Sent, data: CaseTransferred) -> TransferRecord:
    # From the fields' dicts, as `_opening` reads them (issue 14, session 12: a model's
    # attribute, each document's `kind` included, costs about three times a dict's item).
    values = data.__dict__
    return built(TransferRecord, {
        "event_id": event.event_id,
        "agency": event.agency,
        "to_agency": values["to_agency"],
        "transferred_at": values["transferred_at"],
        "document_kinds": tuple(sorted({document.__dict__["kind"]
                                        for document in values["documents"]})),
    })


def _handover(event: Sent, data: EvidenceHandedOver) -> HandoverRecord:
    return built(HandoverRecord, {
        "event_id": event.event_id,
        "agency": event.agency,
        "handover_id": data.handover_id,
        "to_agency": data.to_agency,
        "handed_over_at": data.handed_over_at,
        "item_count": len(data.items),
    })


def _evidence_receipt(event: Sent, data: EvidenceReceived) -> EvidenceReceiptRecord:
    return built(EvidenceReceiptRecord, {
        "event_id": event.event_id,
        "agency": event.agency,
        "handover_id": data.handover_id,
        "received_at": data.received_at,
        "discrepancy_count": len(data.discrepancies),
    })


def _copying(record_type: type[Record]) -> Builder:
    """A builder for a step whose record fields are the event data's fields of the same names
    (besides the event id and sender)."""
    names = [n for n in record_type.model_fields if n not in Record.model_fields]

    def build(event: Sent, data: EventData) -> Record:
        # From the fields' dict: each name is a declared field of the data (tests/unit/
        # test_fold_fast_paths.py), which its attribute reads from there.
        fields = data.__dict__
        values = {"event_id": event.event_id, "agency": event.agency}
        for name in names:
            values[name] = fields[name]
        return built(record_type, values)

    return build


# Each type with a step: the state's tuple it goes into and how its record is made. Types
# without one (clue.notified, investigation.*) only mark their event id as seen.
_STEPS: Mapping[str, tuple[str, Builder]] = {
    "case.opened": ("openings", _opening),
    "case.assessed": ("assessments", _assessment),
    "penalty.decided": ("penalties", _copying(PenaltyRecord)),
    "transfer.decided": ("transfer_decisions", _copying(TransferDecisionRecord)),
    "case.transferred": ("transfers", _transfer),
    "transfer.accepted": ("acceptances", _copying(AcceptanceRecord)),
    "transfer.forwarded": ("forwards", _copying(ForwardRecord)),
    "filing.decided": ("filing_decisions", _copying(FilingRecord)),
    "reconsideration.requested": ("reconsideration_requests",
                                  _copying(ReconsiderationRequestRecord)),
    "reconsideration.decided": ("reconsideration_decisions",
                                _copying(ReconsiderationDecisionRecord)),
    "supervision.requested": ("supervision_requests", _copying(SupervisionRequestRecord)),
    "supervision.issued": ("supervisions", _copying(SupervisionRecord)),
    "evidence.handed_over": ("handovers", _handover),
    "evidence.received": ("evidence_receipts", _evidence_receipt),
    "case.closed": ("closures", _copying(ClosureRecord)),
    "prosecution.decided": ("prosecutions", _copying(ProsecutionRecord)),
    "opinion.issued": ("opinions", _copying(OpinionRecord)),
    "opinion.replied": ("opinion_replies", _copying(OpinionReplyRecord)),
    "clue.received": ("clues", _copying(ClueRecord)),
    "clue.answered": ("clue_answers", _copying(ClueAnswerRecord)),
}


def _figures_after(before: CaseState, new: tuple[AssessmentRecord, ...],
                   appended: bool = False) -> Figures:
    """The figures of assessments `new` (each laid over the previous in order), from `before`'s.

    Incremental (issue 14): when the assessments are unchanged, or the new one sorts last
    (the usual case), the result is `before.figures` (with it laid over): equal to folding
    them all again, which is done only when an assessment arrives out of order. `appended`:
    the caller knows `new` is `before`'s assessments and one more (`_insert` appended it),
    so they are not compared (issue 14, session 9: a slice and a comparison as long as the
    case's assessments, for every assessment of a live case)."""
    old = before.assessments
    if new is old:
        return before.figures
    if appended or (len(new) == len(old) + 1 and new[:-1] == old):
        return before.figures.updated(new[-1])
    figures = Figures()
    for assessment in new:
        figures = figures.updated(assessment)
    return figures


_SUMMARY_STEPS = frozenset({"openings", "penalties", "transfer_decisions", "transfers",
                            "reconsideration_requests", "supervision_requests", "clues"})
"""The step tuples the summary's agency, offence, opening time and parties are derived from
(`_derived`); an event adding to none of them leaves those four as they are."""


_ADMIN_STEPS = ("penalties", "transfer_decisions", "transfers", "reconsideration_requests",
                "supervision_requests")
"""The steps only an administrative agency sends, in the order `_derived` reads them."""


def _derived(state: CaseState, updates: Mapping[str, Any],
             appended: bool = False) -> dict[str, Any]:
    """The summary fields of `state` with the step tuples `updates` laid over it (computed
    before the one copy `apply` makes, not on a copy made first). Steps that none of the
    summary is derived from (an assessment, the usual event) change only the figures: the
    rest is `state`'s, as derived when its steps were (issue 14)."""
    # Read from the fields' dicts, without a closure to look each step tuple up (issue 14,
    # session 12: a model's attribute costs about three times a dict's item; every case a
    # replay folds, and every live event adding a step, comes through here). With the other
    # changes of session 12 here and in `built`: bench/fold.py under callgrind, v1.0 mix,
    # 427,893 -> 419,519 instructions a case (record reading included).
    fields = state.__dict__
    assessments = updates.get("assessments", fields["assessments"])
    if _SUMMARY_STEPS.isdisjoint(updates):
        return {"figures": _figures_after(state, assessments, appended)}
    openings: tuple[OpeningRecord, ...] = updates.get("openings", fields["openings"])
    if openings:
        opening = openings[-1].__dict__
        return {
            "agency": opening["agency"],
            "offence": opening["offence"],
            "opened_at": opening["opened_at"],
            "parties": opening["parties"],
            "figures": _figures_after(state, assessments, appended),
        }
    first_admin_step = _earliest(
        [step for name in _ADMIN_STEPS for step in updates.get(name, fields[name])]
    ) or _earliest(updates.get("clues", fields["clues"]))
    return {
        "agency": first_admin_step.agency if first_admin_step is not None else None,
        "offence": None,
        "opened_at": None,
        "parties": (),
        "figures": _figures_after(state, assessments, appended),
    }


def parse_event_data(event: CaseEvent) -> EventData:
    """The event's data validated by its contract model (strict JSON mode); CaseEventError if bad."""
    spec = EVENT_TYPES.get(event.type_name)
    if spec is None:
        raise CaseEventError(f"unknown event type {event.type_name!r} (event {event.event_id})")
    try:
        return spec.model.model_validate_json(json.dumps(event.data))
    except (ValidationError, TypeError, ValueError) as exc:
        raise CaseEventError(
            f"invalid data for {event.type_name} (event {event.event_id}): {exc}"
        ) from exc


def _check_case(case_id: str, event: Sent) -> None:
    if event.case_id != case_id:
        raise CaseEventError(
            f"event {event.event_id} is for case {event.case_id!r}, not {case_id!r}"
        )


def apply(state: CaseState | None, event: CaseEvent) -> CaseState:
    """The case state after `event`; the same state if the event id was already applied."""
    if state is None:
        state = CaseState(case_id=event.case_id)
    else:
        _check_case(state.case_id, event)
    if state.has_event(event.event_id):
        return state
    return _applied(state, event, parse_event_data(event))


def _applied(state: CaseState, event: Sent, data: EventData) -> CaseState:
    """`state` with the new event `event` (its data validated) applied.

    `state.model_copy(update=...)` made without pydantic's `model_copy` (issue 14, session
    9: its `copy.copy` of the values, the extra values and the fields set, each a Python
    call, were ~a fifth of a live event's fold): the same values, the same fields set
    (`state`'s and the updated ones), no extra values nor private attributes (a `CaseState`
    has neither). tests/unit/test_fold_fast_paths.py checks it equals `model_copy`."""
    step = _STEPS.get(event.type_name)
    fields = state.__dict__
    updates: dict[str, Any] = {}
    appended = False
    if step is not None:
        target, build = step
        record = build(event, data)
        steps = updates[target] = _insert(fields[target], record)
        # `_insert` put it last only by appending it: a record sorting before the last
        # one sorts before it again.
        appended = target == "assessments" and steps[-1] is record
    event_ids = fields["event_ids"]
    index = bisect.bisect_left(event_ids, event.event_id)
    updates["event_ids"] = (*event_ids[:index], event.event_id, *event_ids[index:])
    updates.update(_derived(state, updates, appended))
    return built(CaseState, {**fields, **updates},
                 state.__pydantic_fields_set__.union(updates))


def applied_read(state: CaseState, event: Sent, data: EventData) -> CaseState:
    """`fold_read(state.case_id, [(event, data)], state)`: `state` after one event whose
    data is validated (the rules worker's usual event), without the loop."""
    if event.case_id != state.case_id:
        _check_case(state.case_id, event)
    if state.has_event(event.event_id):
        return state
    return _applied(state, event, data)


def fold_read(case_id: str, events: Iterable[tuple[Sent, EventData]],
              state: CaseState | None = None) -> CaseState:
    """`state` (None: a new case) after these events of the case, each with its data
    validated: equal to applying them in turn (`apply` ignores an event id it has seen, so
    the first event of an id counts; events of distinct ids give the same in any order).

    A new case (a ledger replay folds every case so) is made all at once (issue 14): each step
    tuple is sorted once and one state made, where applying the events in turn made a state
    per event; events for a state that exists are applied in turn."""
    if state is not None:
        for event, data in events:
            _check_case(case_id, event)
            if not state.has_event(event.event_id):
                state = _applied(state, event, data)
        return state
    seen: set[str] = set()
    steps: dict[str, list[Record]] = {}
    for event, data in events:
        if event.case_id != case_id:
            _check_case(case_id, event)
        event_id = event.event_id
        if event_id in seen:
            continue
        seen.add(event_id)
        step = _STEPS.get(event.type_name)
        if step is not None:
            target, build = step
            records = steps.get(target)
            if records is None:
                steps[target] = [build(event, data)]
            else:
                records.append(build(event, data))
    # A list of one step (most are) needs no sort, nor its key computed (issue 14, session 7).
    updates: dict[str, Any] = {
        target: tuple(records) if len(records) == 1 else tuple(sorted(records, key=by_sort_key))
        for target, records in steps.items()}
    # Laid into `updates` itself, not merged with it into a new dict (issue 14, session 12).
    updates.update(_derived(_EMPTY, updates))
    updates["event_ids"] = tuple(sorted(seen))
    return _new_state(case_id, updates)


_EMPTY = CaseState(case_id="-")
"""An empty state: the defaults of a new one, and what `_derived` reads of the steps a new
case lacks (it reads no case id)."""


def _new_state(case_id: str, fields: dict[str, Any]) -> CaseState:
    """`CaseState(case_id=case_id).model_copy(update=fields)`, `fields` holding values of
    their fields' types (steps, event ids, derived summary): the same values and the same
    fields set, made without validating a new empty state and copying it (issue 14: ~6 µs
    of each case a replay folds). The defaults are the empty state's, all immutable (None,
    empty tuples, and empty figures, frozen and never changed in place). Equal to the
    validated state: tests/unit/test_fold_fast_paths.py."""
    return built(CaseState, {**_EMPTY.__dict__, "case_id": case_id, **fields},
                 {"case_id", *fields})


def fold(events: Iterable[CaseEvent], state: CaseState | None = None) -> CaseState | None:
    """Apply events in turn (a convenience for replays and tests)."""
    for event in events:
        state = apply(state, event)
    return state
