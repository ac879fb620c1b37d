"""The JSON API's wire models (contract section 7); FastAPI derives /openapi.json from them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from streams.rules.calendar import SHANGHAI


def _shanghai(moment: datetime) -> datetime:
    return moment.astimezone(SHANGHAI) if moment.tzinfo is not None else moment


# Ledger indexes, tree sizes and log positions are PostgreSQL bigints.
MAX_INDEX = 2**63 - 1

# Free text in a path or query: anything PostgreSQL can store (no NUL).
TEXT_PATTERN = r"^[^\x00]+$"
USERNAME_PATTERN = r"^[a-z][a-z0-9._-]{1,31}$"  # as hub/sql/accounts.sql checks
NAME_PATTERN = r"^[a-z][a-z0-9._-]{0,63}$"  # event types, access-log actions
RULE_PATTERN = r"^[A-Z][A-Z0-9_]{0,63}$"
CaseId = Annotated[str, Path(pattern=TEXT_PATTERN, max_length=200)]

# Every time the API answers with is in Asia/Shanghai (+08:00), like the alerts' own times.
Time = Annotated[datetime, AfterValidator(_shanghai)]


class Problem(BaseModel):
    """Every error: a machine reason and the message in Chinese, then English."""

    error: str
    message_zh: str
    message_en: str


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=USERNAME_PATTERN)
    password: str = Field(min_length=1, max_length=1024)


class TokenResponse(BaseModel):
    token: str
    expires_at: Time


class Me(BaseModel):
    username: str
    role: str
    agency: str
    agency_name: str


class AlertOut(BaseModel):
    """The signed alert payload of contract section 4, plus the board's view of it."""

    alert_id: str
    rule_id: str
    status: Literal["open", "resolved"]
    case_id: str
    agency: str
    agency_name: str
    raised_at: Time
    due_at: Time | None
    legal_basis: str
    facts: dict[str, Any]
    message_zh: str
    message_en: str
    offence: str | None = None
    light: Literal["red", "yellow", "green", "none"]


class AlertStats(BaseModel):
    total: int
    per_rule: dict[str, int]


class PartyOut(BaseModel):
    kind: str
    id_type: str
    id_number: str
    name: str


class FigureOut(BaseModel):
    name: str
    value: str


class ThresholdOut(BaseModel):
    """One threshold of the case's offence: each minimum against the case's figure."""

    name: str
    legal_basis: str
    met: bool
    minimums: dict[str, str]
    actual: dict[str, str | None]


class StageOut(BaseModel):
    code: str
    zh: str
    en: str


class DeadlineOut(BaseModel):
    rule_id: str | None
    what_zh: str
    what_en: str
    due_at: Time
    light: Literal["red", "yellow", "green", "none"]


class TimelineEventOut(BaseModel):
    event_id: str
    type: str
    agency: str
    agency_name: str
    time: Time
    received_at: Time
    ledger_index: int
    leaf_hash: str


class CaseOut(BaseModel):
    case_id: str
    offence: str | None
    offence_zh: str | None
    agency: str | None
    agency_name: str | None
    opened_at: Time | None
    parties: list[PartyOut]
    amounts: list[FigureOut]
    thresholds: list[ThresholdOut]
    stage: StageOut
    open_deadlines: list[DeadlineOut]
    open_alerts: list[AlertOut]
    resolved_alerts: list[AlertOut]
    timeline: list[TimelineEventOut]


class InclusionCheck(BaseModel):
    """An event's inclusion proof checked against the latest signed checkpoint."""

    ledger_index: int
    verified: bool
    tree_size: int | None
    checkpoint: str | None
    message_zh: str
    message_en: str


class SupervisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["explain_non_filing", "order_filing", "recommend_transfer", "correction"]
    to_agency: str = Field(pattern=r"^[a-z][a-z0-9-]{1,31}$")
    wait_seconds: float = Field(default=10.0, ge=0, le=30)


class ReceiptOut(BaseModel):
    event_id: str
    case_id: str
    status: str
    reason: str | None
    detail: str | None
    ledger_index: int | None
    leaf_hash: str | None


class LedgerEntryOut(BaseModel):
    ledger_index: int
    event_id: str
    agency: str
    case_id: str
    type: str
    time: Time
    received_at: Time
    keyid: str
    leaf_hash: str


class CosignatureOut(BaseModel):
    witness: str
    line: str


class CheckpointOut(BaseModel):
    tree_size: int
    root_hash: str
    note: str
    created_at: Time
    cosignatures: list[CosignatureOut]


class AccessEntryOut(BaseModel):
    seq: int
    at: Time
    username: str | None
    role: str | None
    agency: str | None
    action: str
    target: str | None
    client: str | None
    outcome: str
    detail: dict[str, Any]


class UserOut(BaseModel):
    username: str
    agency: str
    role: str
    display_name: str
    disabled: bool
    locked_until: Time | None
    created_at: Time


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=USERNAME_PATTERN)
    agency: str = Field(pattern=r"^[a-z][a-z0-9-]{1,31}$")
    role: Literal["officer", "supervisor", "auditor", "admin"]
    password: str = Field(min_length=1, max_length=1024, pattern=r"^[^\x00]*$")
    display_name: str = Field(default="", max_length=64, pattern=r"^[^\x00]*$")


class AgencyOut(BaseModel):
    id: str
    role: str
    name: str
    name_en: str
