"""The demo's simulated cases raise the alerts they are written to show (engine only, no broker)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from connectors.demo import SCENARIOS, legal_times
from streams.rules import CaseEvent, CaseState, apply, evaluate, load_rules

ACCELERATE = 1440  # the default: a legal day per real minute

EXPECTED = {
    "GZ-LAMP": set(),
    "RW-FURN": {"PENALTY_INSTEAD_OF_TRANSFER:open", "SHOULD_TRANSFER:open"},
    "SW-PIRACY": {"DOCUMENTS_MISSING:open", "HANDOVER_LATE:resolved", "NOT_ACCEPTED:open"},
    "AG-SEED": {"FILING_OVERDUE:open"},
    "CU-SEIZE": {"HANDOVER_LATE:open"},
    "SPLIT-AIC": {"SPLIT_CASES:open"},
    "SPLIT-CUS": {"SPLIT_CASES:open"},
    "RV-OPINION": {"OPINION_NOT_ANSWERED:open"},
    "CL-PLATFORM": {"COMPLAINT_NOT_DECIDED:open"},
    "CL-REPORT": {"REPORTER_NOT_TOLD:open"},
    "SC-NEAR": {"MULTI_AGENCY_PENALTIES:open", "NEAR_THRESHOLD_PENALTY:open"},
    "SC-MULTI": {"MULTI_AGENCY_PENALTIES:open"},
}


def test_every_demo_case_raises_what_it_is_written_to_show() -> None:
    rules = load_rules()
    now = datetime.now(UTC)
    states: dict[str, CaseState] = {}
    for scenario in SCENARIOS:
        for step, at in legal_times(scenario, now, ACCELERATE):
            event = CaseEvent(event_id=str(uuid.uuid4()), type_name=step.type_name,
                              agency=step.agency, case_id=scenario.case_prefix, time=at,
                              data=step.data(at.isoformat()))
            states[scenario.case_prefix] = apply(states.get(scenario.case_prefix), event)
    after_the_pending_deadlines = now + timedelta(seconds=2 * 86400 / ACCELERATE)
    raised = {
        case_id: {
            f"{a.rule_id}:{a.status}"
            for a in evaluate(state, rules, after_the_pending_deadlines,
                              [o for o in states.values()
                               if o.case_id != case_id and o.party_keys & state.party_keys])
        }
        for case_id, state in states.items()
    }
    assert raised == EXPECTED
