"""Case state: idempotent and order-insensitive apply, derived fields, JSON round trip, bad events."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from schemas.cloudevent import CloudEvent
from schemas.events import Offence
from streams.rules import CaseEvent, CaseEventError, CaseState, apply, fold

PARTY = {"kind": "organization", "id_type": "USCC", "id_number": "91442000MA0000001X", "name": "甲"}


def event(
    n: int, kind: str, data: dict[str, Any], agency: str = "zs-aic", case_id: str = "C1"
) -> CaseEvent:
    own = next(value for key, value in data.items() if key.endswith("_at"))
    return CaseEvent(
        event_id=str(uuid.UUID(int=n)),
        type_name=kind,
        agency=agency,
        case_id=case_id,
        time=datetime.fromisoformat(own),
        data=data,
    )


OPENED = event(
    1,
    "case.opened",
    {
        "offence": "trademark_counterfeiting",
        "opened_at": "2025-03-03T09:00:00+08:00",
        "parties": [PARTY],
        "summary": "s",
    },
)
ASSESSED_1 = event(
    2,
    "case.assessed",
    {
        "assessed_at": "2025-03-03T10:00:00+08:00",
        "illegal_business_amount": "60000.00",
        "illegal_gains": "1000.00",
    },
)
ASSESSED_2 = event(
    3,
    "case.assessed",
    {"assessed_at": "2025-03-05T10:00:00+08:00", "illegal_business_amount": "40000.00"},
    agency="zs-psb",
)
DECIDED = event(
    4,
    "transfer.decided",
    {
        "report_at": "2025-03-04T09:00:00+08:00",
        "decided_at": "2025-03-04T10:00:00+08:00",
        "approved": True,
    },
)
TRANSFERRED = event(
    5,
    "case.transferred",
    {
        "to_agency": "zs-psb",
        "transferred_at": "2025-03-04T15:00:00+08:00",
        "documents": [
            {"kind": "transfer_letter", "title": "移送书", "sha256": "a" * 64},
            {"kind": "investigation_report", "title": "调查报告", "sha256": "b" * 64},
        ],
    },
)
ACCEPTED = event(
    6,
    "transfer.accepted",
    {"accepted_at": "2025-03-04T16:00:00+08:00", "receipt_no": "R1"},
    agency="zs-psb",
)
CLUE = CaseEvent(
    event_id=str(uuid.UUID(int=7)),
    type_name="clue.notified",
    agency="zs-aic",
    case_id="C1",
    time=datetime.fromisoformat("2025-03-03T12:00:00+08:00"),
    data={"to_agency": "zs-psb", "summary": "线索"},
)
ALL = [OPENED, ASSESSED_1, ASSESSED_2, DECIDED, TRANSFERRED, ACCEPTED, CLUE]


def test_state_summarises_the_case() -> None:
    state = fold(ALL)
    assert state is not None
    assert state.case_id == "C1"
    assert state.agency == "zs-aic"
    assert state.offence is Offence.TRADEMARK_COUNTERFEITING
    assert state.party_keys == {("USCC", "91442000MA0000001X")}
    assert state.report_at == datetime.fromisoformat("2025-03-04T09:00:00+08:00")
    assert state.transfers[0].document_kinds == ("investigation_report", "transfer_letter")
    assert state.acceptances[0].agency == "zs-psb"
    assert len(state.event_ids) == len(ALL)


def test_latest_assessment_wins_per_field() -> None:
    state = fold(ALL)
    assert state is not None
    assert state.figures.amounts == {
        "illegal_business_amount": Decimal("40000.00"),  # from the later assessment
        "illegal_gains": Decimal("1000.00"),  # only the first gives it
    }
    assert state.figures.as_of["illegal_gains"] == datetime.fromisoformat(
        "2025-03-03T10:00:00+08:00"
    )


def test_apply_is_idempotent_by_event_id() -> None:
    state = fold(ALL)
    assert state is not None
    for item in ALL:
        assert apply(state, item) is state


def test_apply_is_order_insensitive() -> None:
    expected = fold(ALL)
    for order in itertools.islice(itertools.permutations(ALL), 0, 5040, 97):
        assert fold(order) == expected


def test_agency_before_the_opening_arrives_is_the_first_administrative_sender() -> None:
    state = fold([ACCEPTED, DECIDED])
    assert state is not None and state.agency == "zs-aic" and state.offence is None
    police_only = fold([ACCEPTED])
    assert police_only is not None and police_only.agency is None


def test_state_round_trips_through_json() -> None:
    state = fold(ALL)
    assert state is not None
    text = state.model_dump_json()
    assert '"illegal_business_amount":"40000.00"' in text
    assert CaseState.model_validate_json(text) == state


def test_extension_figures_are_read() -> None:
    extended = event(
        8,
        "case.assessed",
        {
            "assessed_at": "2025-03-06T10:00:00+08:00",
            "click_count": 50000,
            "reasonable_suspicion": True,
        },
    )
    state = apply(None, extended)
    assert state.figures.counts == {"click_count": 50000}
    assert state.figures.flags == {"reasonable_suspicion": True}
    assert state.assessments[0].ignored_fields == ()


@pytest.mark.parametrize(("name", "value"), [("member_count", "many"),
                                             ("rightholder_bankrupt", 1),
                                             ("works_count", -1)])
def test_extension_figures_are_typed_strictly(name: str, value: object) -> None:
    bad = event(8, "case.assessed", {"assessed_at": "2025-03-06T10:00:00+08:00",
                                     "illegal_gains": "100.00", name: value})
    with pytest.raises(CaseEventError, match=r"invalid data for case\.assessed"):
        apply(None, bad)


def test_unknown_type_is_refused() -> None:
    bad = CaseEvent(
        event_id="x",
        type_name="case.exploded",
        agency="zs-aic",
        case_id="C1",
        time=datetime.fromisoformat("2025-03-03T10:00:00+08:00"),
        data={},
    )
    with pytest.raises(CaseEventError, match="unknown event type"):
        apply(None, bad)


def test_invalid_data_is_refused_strictly() -> None:
    bad = event(9, "case.assessed", {"assessed_at": "2025-03-03T10:00:00+08:00"})
    bad = bad.model_copy(update={"data": {**bad.data, "illegal_gains": 30000}})  # a number
    with pytest.raises(CaseEventError, match=r"invalid data for case\.assessed"):
        apply(None, bad)


def test_event_of_another_case_is_refused() -> None:
    state = apply(None, OPENED)
    other = event(
        10, "case.closed", {"closed_at": "2025-04-01T10:00:00+08:00", "outcome": "x"}, case_id="C2"
    )
    with pytest.raises(CaseEventError, match="C2"):
        apply(state, other)


def test_naive_event_time_is_refused() -> None:
    with pytest.raises(ValueError):
        CaseEvent(
            event_id="x",
            type_name="case.closed",
            agency="a",
            case_id="C1",
            time=datetime(2025, 3, 3),
            data={},
        )


def test_from_cloudevent() -> None:
    cloud = CloudEvent.model_validate(
        {
            "specversion": "1.0",
            "id": str(uuid.UUID(int=11)).upper(),
            "source": "urn:linkage:agency:zs-aic",
            "type": "cn.linkage.case.opened.v1",
            "subject": "C1",
            "time": datetime.fromisoformat("2025-03-03T09:00:00+08:00"),
            "datacontenttype": "application/json",
            "data": OPENED.data,
        }
    )
    case_event = CaseEvent.from_cloudevent(cloud)
    assert case_event.event_id == str(uuid.UUID(int=11))  # canonical lowercase
    assert (case_event.type_name, case_event.agency, case_event.case_id) == (
        "case.opened",
        "zs-aic",
        "C1",
    )
    assert apply(None, case_event).offence is Offence.TRADEMARK_COUNTERFEITING
