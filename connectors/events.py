"""Building an agency's CloudEvent bytes for the hub (contract section 2)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from schemas.events import EVENT_TYPES


class UnknownEventType(ValueError):
    """The event type name is not in the contract's catalogue."""


def event_source(agency_id: str) -> str:
    return f"urn:linkage:agency:{agency_id}"


def build_event(
    agency_id: str,
    type_name: str,
    case_id: str,
    data: dict[str, Any],
    *,
    event_id: str | None = None,
    time: datetime | None = None,
    validate: bool = True,
) -> tuple[str, bytes]:
    """(event id, UTF-8 JSON bytes) of one CloudEvent; data validated against its schema."""
    spec = EVENT_TYPES.get(type_name)
    if spec is None:
        raise UnknownEventType(f"未知事件类型 / unknown event type: {type_name}")
    if validate:
        spec.model.model_validate_json(json.dumps(data))
    event_id = event_id or str(uuid.uuid4())
    event = {
        "specversion": "1.0",
        "id": event_id,
        "source": event_source(agency_id),
        "type": spec.ce_type,
        "subject": case_id,
        "time": (time or datetime.now(UTC)).isoformat(),
        "datacontenttype": "application/json",
        "data": data,
    }
    return event_id, json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
