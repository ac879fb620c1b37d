"""CloudEvents 1.0 structured-JSON event as the contract constrains it (section 2)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from schemas import dsse

AGENCY_ID_PATTERN = r"^[a-z][a-z0-9-]{1,31}$"
SOURCE_PATTERN = r"^urn:linkage:agency:[a-z][a-z0-9-]{1,31}$"
TYPE_PATTERN = r"^cn\.linkage\.[a-z][a-z_]*(\.[a-z][a-z_]*)*\.v1$"
CASE_ID_PATTERN = r"^[^\x00-\x1f\x7f]{1,128}$"

_TYPE_RE = re.compile(r"^cn\.linkage\.(?P<name>.+)\.v1$")


def event_type_name(ce_type: str) -> str | None:
    """`cn.linkage.case.opened.v1` -> `case.opened`; None when not of that form."""
    match = _TYPE_RE.fullmatch(ce_type)
    return match.group("name") if match else None


def source_agency(source: str) -> str:
    """`urn:linkage:agency:zs-aic` -> `zs-aic`."""
    return source.removeprefix("urn:linkage:agency:")


def canonical_event_id(value: str) -> str:
    """The canonical (lowercase, hyphenated) form of an event UUID; ValueError if not a UUID."""
    return str(uuid.UUID(value))


class CloudEvent(BaseModel):
    """One CloudEvents 1.0 event; `data` is validated separately against its event type."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    specversion: Literal["1.0"]
    id: str
    source: str
    type: str
    subject: str = Field(pattern=CASE_ID_PATTERN)
    time: AwareDatetime
    datacontenttype: Literal["application/json"]
    data: dict[str, Any]

    @field_validator("id")
    @classmethod
    def _id_is_uuid(cls, value: str) -> str:
        try:
            uuid.UUID(value)
        except ValueError as exc:
            raise ValueError("id must be a UUID") from exc
        return value

    @property
    def agency(self) -> str:
        return source_agency(self.source)

    @property
    def type_name(self) -> str | None:
        return event_type_name(self.type)

    @property
    def event_id(self) -> str:
        return canonical_event_id(self.id)


def readable_event_id(value: bytes) -> str | None:
    """Best-effort event id of any record (used to key receipts even for rejections)."""
    try:
        envelope = json.loads(value)
        payload = dsse.Envelope.model_validate(envelope).payload_bytes()
        event_id = json.loads(payload).get("id")
        return canonical_event_id(event_id) if isinstance(event_id, str) else None
    except (ValueError, TypeError, AttributeError, ValidationError):
        return None
