"""Rules-layer events (`streams.rules.CaseEvent`) of every contract type, at chosen instants."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from streams.rules import CaseEvent
from streams.rules.calendar import SHANGHAI
from tests.records import OWN_TIME, sample_data, sender_of

START = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)
STEP_TYPES = ["case.opened", "case.assessed",
              *sorted(set(OWN_TIME) - {"case.opened", "case.assessed"})]
"""Every type whose event leaves a step in the case state, the opening first."""
NO_STEP_TYPES = ["clue.notified", "investigation.requested", "investigation.responded"]
"""Event types whose event leaves no step: only its id is kept."""


def case_event(case_id: str, n: int, type_name: str, hours: int) -> CaseEvent:
    """Event number `n` of a case (its id derived from both), its own time `hours` after
    START; the rest of its data is tests.records' sample (instants from the clock)."""
    at = START + timedelta(hours=hours)
    data = sample_data(type_name)
    if type_name in OWN_TIME:
        data[OWN_TIME[type_name]] = at.isoformat()
    return CaseEvent(event_id=str(uuid.uuid5(uuid.NAMESPACE_OID, f"{case_id}/{n}")),
                     type_name=type_name, agency=sender_of(type_name), case_id=case_id,
                     time=at, data=data)
