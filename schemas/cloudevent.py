"""CloudEvents 1.0 structured-JSON event as the contract constrains it (section 2)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from schemas import dsse

AGENCY_ID_PATTERN = r"^[a-z][a-z0-9-]{1,31}$"
SOURCE_PATTERN = r"^urn:linkage:agency:[a-z][a-z0-9-]{1,31}$"
TYPE_PATTERN = r"^cn\.linkage\.[a-z][a-z_]*(\.[a-z][a-z_]*)*\.v1$"
CASE_ID_PATTERN = r"^[^\x00-\x1f\x7f]{1,128}$"

EARLIEST_TIME = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(3000, 1, 1, tzinfo=UTC)
"""Every time in an event (its `time` and the times in its `data`) lies in
[EARLIEST_TIME, LATEST_TIME): far from the ends of Python's and PostgreSQL's calendars, so
no offset or deadline arithmetic can overflow (docs/contract-notes.md, "Times")."""


def within_time_range(value: datetime) -> datetime:
    """The time itself if it lies in [EARLIEST_TIME, LATEST_TIME); ValueError otherwise."""
    if EARLIEST_TIME.year < value.year < LATEST_TIME.year - 1:
        # In range whatever its offset (less than a day): no offset to look up, no comparison
        # across zones (both cost a ledger replay ~4 % of its fold, every time being checked).
        return value
    # The year guard first: converting year 1 at +14:00 to UTC would overflow.
    if not EARLIEST_TIME.year <= value.year < LATEST_TIME.year or not (
            EARLIEST_TIME <= value < LATEST_TIME):
        raise ValueError("time must lie in [1900-01-01T00:00:00Z, 3000-01-01T00:00:00Z)")
    return value


BoundedTime = Annotated[AwareDatetime, AfterValidator(within_time_range)]
"""An RFC 3339 time with offset inside the hub's time range."""

InnerTime = Annotated[AwareDatetime, Field(ge=datetime(1900, 1, 2, tzinfo=UTC),
                                           lt=datetime(2999, 12, 31, tzinfo=UTC))]
"""Times a day inside `BoundedTime`'s range, checked by pydantic-core without a Python call:
a subset of `BoundedTime` however the bounds are compared (an offset is under a day), for
a model that may decline the rest (streams/ledger_records.py)."""

_TYPE_RE = re.compile(r"^cn\.linkage\.(?P<name>.+)\.v1$")


def event_type_name(ce_type: str) -> str | None:
    """`cn.linkage.case.opened.v1` -> `case.opened`; None when not of that form."""
    match = _TYPE_RE.fullmatch(ce_type)
    return match.group("name") if match else None


SOURCE_PREFIX = "urn:linkage:agency:"
"""What an agency's CloudEvent `source` is: this prefix, then the agency id (contract §2)."""


def source_agency(source: str) -> str:
    """`urn:linkage:agency:zs-aic` -> `zs-aic`."""
    return source.removeprefix(SOURCE_PREFIX)


CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


def canonical_event_id(value: str) -> str:
    """The canonical (lowercase, hyphenated) form of an event UUID; ValueError if not a UUID.

    An id already in that form (what connectors send) is returned after one regex match:
    the ingress path reads an event's id a dozen times, and `uuid.UUID` parsing each time
    was 8 % of the ingress worker's CPU."""
    if CANONICAL_UUID.match(value):
        return value
    return str(uuid.UUID(value))


def _id_is_uuid(value: str) -> str:
    if CANONICAL_UUID.match(value):  # what connectors send: a UUID, no parse needed
        return value
    try:
        uuid.UUID(value)
    except ValueError as exc:
        raise ValueError("id must be a UUID") from exc
    return value


EventId = Annotated[str, AfterValidator(_id_is_uuid)]
"""An event id: any text `uuid.UUID` reads. A type (not a `field_validator`) so that a model
made from `CloudEvent` may narrow it (streams/ledger_records.py: canonical ids only, checked
by pydantic-core without a Python call)."""

CanonicalEventId = Annotated[
    str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
"""The ids `EventId` takes without parsing (`CANONICAL_UUID`: lowercase, hyphenated), as a
pattern pydantic-core checks (its `$` ends the text as Python's `\\Z` does; tests/unit/
test_fold_fast_paths.py compares the two)."""


class CloudEvent(BaseModel):
    """One CloudEvents 1.0 event; `data` is validated separately against its event type."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    specversion: Literal["1.0"]
    id: EventId
    source: str
    type: str
    subject: str = Field(pattern=CASE_ID_PATTERN)
    time: BoundedTime
    datacontenttype: Literal["application/json"]
    data: dict[str, Any]

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
    """Best-effort event id of any record (used to key receipts even for rejections).

    Lenient on purpose (a record rejected for NaN still has a readable id, so its sender
    can match the receipt), and never raises: whatever the bytes, the answer is a canonical
    UUID or None.
    """
    try:
        envelope = dsse.Envelope.model_validate_json(value)
        event = json.loads(envelope.payload_bytes())
        event_id = event.get("id") if isinstance(event, dict) else None
        return canonical_event_id(event_id) if isinstance(event_id, str) else None
    except Exception:  # hostile bytes: any failure means "no readable id"
        return None
