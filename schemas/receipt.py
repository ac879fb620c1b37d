"""The hub's signed receipt payload (contract section 3)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict


class ReceiptStatus(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


class Receipt(BaseModel):
    """What the hub tells an agency about one ingress record."""

    model_config = ConfigDict(frozen=True)

    event_id: str | None
    status: ReceiptStatus
    reason: str | None
    detail: str | None
    ledger_index: int | None
    leaf_hash: str | None
    received_at: AwareDatetime
    record_sha256: str | None = None
    """Lowercase hex SHA-256 of the record value as received (contract v1.1); the hub always
    sets it, a 1.0 hub's receipts lack it."""
