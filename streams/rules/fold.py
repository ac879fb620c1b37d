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
    CaseClosed,
    CaseOpened,
    CaseTransferred,
    EventData,
    EvidenceHandedOver,
    EvidenceReceived,
    FilingDecided,
    PenaltyDecided,
    ReconsiderationDecided,
    ReconsiderationRequested,
    SupervisionIssued,
    SupervisionRequested,
    TransferAccepted,
    TransferDecided,
    TransferForwarded,
)
from streams.rules import _figures
from streams.rules._errors import CaseEventError
from streams.rules.case_state import (
    AcceptanceRecord,
    AssessmentRecord,
    CaseEvent,
    CaseState,
    ClosureRecord,
    EvidenceReceiptRecord,
    Figures,
    FilingRecord,
    ForwardRecord,
    HandoverRecord,
    OpeningRecord,
    PartyRef,
    PenaltyRecord,
    ReconsiderationDecisionRecord,
    ReconsiderationRequestRecord,
    Record,
    SupervisionRecord,
    SupervisionRequestRecord,
    TransferDecisionRecord,
    TransferRecord,
)

R = TypeVar("R", bound=Record)


def _insert(records: tuple[R, ...], record: R) -> tuple[R, ...]:
    return tuple(sorted((*records, record), key=lambda item: item.sort_key()))


def _earliest(records: Iterable[Record]) -> Record | None:
    return min(records, key=lambda item: item.sort_key(), default=None)


def _assessment(event: CaseEvent, data: CaseAssessed) -> AssessmentRecord:
    amounts = {
        name: value for name in _figures.AMOUNTS if (value := getattr(data, name)) is not None
    }
    counts = {
        name: value
        for name in _figures.COUNTS
        if name in CaseAssessed.model_fields and (value := getattr(data, name)) is not None
    }
    flags: dict[str, bool] = {
        name: value
        for name in _figures.FLAGS
        if name in CaseAssessed.model_fields and (value := getattr(data, name)) is not None
    }
    ignored: list[str] = []
    extra = data.model_extra or {}
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
    return AssessmentRecord(
        event_id=event.event_id,
        agency=event.agency,
        assessed_at=data.assessed_at,
        sent_at=event.time,
        amounts=amounts,
        counts=counts,
        flags=flags,
        ignored_fields=tuple(ignored),
    )


Handler = Callable[[CaseState, CaseEvent, Any], dict[str, Any]]


def _on_opened(state: CaseState, event: CaseEvent, data: CaseOpened) -> dict[str, Any]:
    record = OpeningRecord(
        event_id=event.event_id,
        agency=event.agency,
        opened_at=data.opened_at,
        sent_at=event.time,
        offence=data.offence,
        parties=tuple(
            PartyRef(kind=p.kind, id_type=p.id_type, id_number=p.id_number, name=p.name)
            for p in data.parties
        ),
    )
    return {"openings": _insert(state.openings, record)}


def _on_assessed(state: CaseState, event: CaseEvent, data: CaseAssessed) -> dict[str, Any]:
    return {"assessments": _insert(state.assessments, _assessment(event, data))}


def _on_penalty(state: CaseState, event: CaseEvent, data: PenaltyDecided) -> dict[str, Any]:
    record = PenaltyRecord(
        event_id=event.event_id,
        agency=event.agency,
        decided_at=data.decided_at,
        decision_no=data.decision_no,
        fine=data.fine,
        confiscated=data.confiscated,
    )
    return {"penalties": _insert(state.penalties, record)}


def _on_transfer_decided(
    state: CaseState, event: CaseEvent, data: TransferDecided
) -> dict[str, Any]:
    record = TransferDecisionRecord(
        event_id=event.event_id,
        agency=event.agency,
        report_at=data.report_at,
        decided_at=data.decided_at,
        approved=data.approved,
        reasons=data.reasons,
    )
    return {"transfer_decisions": _insert(state.transfer_decisions, record)}


def _on_transferred(state: CaseState, event: CaseEvent, data: CaseTransferred) -> dict[str, Any]:
    record = TransferRecord(
        event_id=event.event_id,
        agency=event.agency,
        to_agency=data.to_agency,
        transferred_at=data.transferred_at,
        document_kinds=tuple(sorted({document.kind for document in data.documents})),
    )
    return {"transfers": _insert(state.transfers, record)}


def _on_accepted(state: CaseState, event: CaseEvent, data: TransferAccepted) -> dict[str, Any]:
    record = AcceptanceRecord(
        event_id=event.event_id,
        agency=event.agency,
        accepted_at=data.accepted_at,
        receipt_no=data.receipt_no,
    )
    return {"acceptances": _insert(state.acceptances, record)}


def _on_forwarded(state: CaseState, event: CaseEvent, data: TransferForwarded) -> dict[str, Any]:
    record = ForwardRecord(
        event_id=event.event_id,
        agency=event.agency,
        forwarded_at=data.forwarded_at,
        to_agency=data.to_agency,
    )
    return {"forwards": _insert(state.forwards, record)}


def _on_filing(state: CaseState, event: CaseEvent, data: FilingDecided) -> dict[str, Any]:
    record = FilingRecord(
        event_id=event.event_id,
        agency=event.agency,
        decided_at=data.decided_at,
        filed=data.filed,
        complex=data.complex,
        reasons=data.reasons,
    )
    return {"filing_decisions": _insert(state.filing_decisions, record)}


def _on_reconsideration_requested(
    state: CaseState, event: CaseEvent, data: ReconsiderationRequested
) -> dict[str, Any]:
    record = ReconsiderationRequestRecord(
        event_id=event.event_id, agency=event.agency, requested_at=data.requested_at
    )
    return {"reconsideration_requests": _insert(state.reconsideration_requests, record)}


def _on_reconsideration_decided(
    state: CaseState, event: CaseEvent, data: ReconsiderationDecided
) -> dict[str, Any]:
    record = ReconsiderationDecisionRecord(
        event_id=event.event_id, agency=event.agency, decided_at=data.decided_at, upheld=data.upheld
    )
    return {"reconsideration_decisions": _insert(state.reconsideration_decisions, record)}


def _on_supervision_requested(
    state: CaseState, event: CaseEvent, data: SupervisionRequested
) -> dict[str, Any]:
    record = SupervisionRequestRecord(
        event_id=event.event_id, agency=event.agency, requested_at=data.requested_at
    )
    return {"supervision_requests": _insert(state.supervision_requests, record)}


def _on_supervision_issued(
    state: CaseState, event: CaseEvent, data: SupervisionIssued
) -> dict[str, Any]:
    record = SupervisionRecord(
        event_id=event.event_id,
        agency=event.agency,
        issued_at=data.issued_at,
        kind=data.kind,
        to_agency=data.to_agency,
    )
    return {"supervisions": _insert(state.supervisions, record)}


def _on_handed_over(state: CaseState, event: CaseEvent, data: EvidenceHandedOver) -> dict[str, Any]:
    record = HandoverRecord(
        event_id=event.event_id,
        agency=event.agency,
        handover_id=data.handover_id,
        to_agency=data.to_agency,
        handed_over_at=data.handed_over_at,
        item_count=len(data.items),
    )
    return {"handovers": _insert(state.handovers, record)}


def _on_received(state: CaseState, event: CaseEvent, data: EvidenceReceived) -> dict[str, Any]:
    record = EvidenceReceiptRecord(
        event_id=event.event_id,
        agency=event.agency,
        handover_id=data.handover_id,
        received_at=data.received_at,
        discrepancy_count=len(data.discrepancies),
    )
    return {"evidence_receipts": _insert(state.evidence_receipts, record)}


def _on_closed(state: CaseState, event: CaseEvent, data: CaseClosed) -> dict[str, Any]:
    record = ClosureRecord(
        event_id=event.event_id, agency=event.agency, closed_at=data.closed_at, outcome=data.outcome
    )
    return {"closures": _insert(state.closures, record)}


# Types without a handler (clue.notified, investigation.*) only mark their event id as seen.
_HANDLERS: Mapping[str, Handler] = {
    "case.opened": _on_opened,
    "case.assessed": _on_assessed,
    "penalty.decided": _on_penalty,
    "transfer.decided": _on_transfer_decided,
    "case.transferred": _on_transferred,
    "transfer.accepted": _on_accepted,
    "transfer.forwarded": _on_forwarded,
    "filing.decided": _on_filing,
    "reconsideration.requested": _on_reconsideration_requested,
    "reconsideration.decided": _on_reconsideration_decided,
    "supervision.requested": _on_supervision_requested,
    "supervision.issued": _on_supervision_issued,
    "evidence.handed_over": _on_handed_over,
    "evidence.received": _on_received,
    "case.closed": _on_closed,
}


def _derive(state: CaseState) -> CaseState:
    """Recompute the summary fields from the sorted steps."""
    opening = state.openings[-1] if state.openings else None
    if opening is not None:
        agency: str | None = opening.agency
    else:
        first_admin_step = _earliest(
            (
                *state.penalties,
                *state.transfer_decisions,
                *state.transfers,
                *state.reconsideration_requests,
                *state.supervision_requests,
            )
        )
        agency = first_admin_step.agency if first_admin_step is not None else None
    figures = Figures()
    for assessment in state.assessments:
        figures = figures.updated(assessment)
    return state.model_copy(
        update={
            "agency": agency,
            "offence": opening.offence if opening else None,
            "opened_at": opening.opened_at if opening else None,
            "parties": opening.parties if opening else (),
            "figures": figures,
        }
    )


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


def apply(state: CaseState | None, event: CaseEvent) -> CaseState:
    """The case state after `event`; the same state if the event id was already applied."""
    if state is None:
        state = CaseState(case_id=event.case_id)
    elif state.case_id != event.case_id:
        raise CaseEventError(
            f"event {event.event_id} is for case {event.case_id!r}, not {state.case_id!r}"
        )
    if state.has_event(event.event_id):
        return state
    data = parse_event_data(event)
    handler = _HANDLERS.get(event.type_name)
    updates = handler(state, event, data) if handler is not None else {}
    index = bisect.bisect_left(state.event_ids, event.event_id)
    event_ids = (*state.event_ids[:index], event.event_id, *state.event_ids[index:])
    return _derive(state.model_copy(update={**updates, "event_ids": event_ids}))


def fold(events: Iterable[CaseEvent], state: CaseState | None = None) -> CaseState | None:
    """Apply events in turn (a convenience for replays and tests)."""
    for event in events:
        state = apply(state, event)
    return state
