"""The ports the stream processors need from the outside world: publishing, the clock, storage.

Adapters in `hub.adapters` implement them; tests plug in in-memory ones (streams/memory.py).
Stores raise only `streams.errors` types (StoreUnavailable: retry; StoreRefused: not
retryable), never a driver's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from audit.ledger import LedgerEntry, NewEntry
from schemas.receipt import ReceiptStatus


class Publisher(Protocol):
    """Queues records in order; each returned future resolves at the broker's ack (acks=all)."""

    async def enqueue(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> Awaitable[object]: ...


Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


RecordKey = tuple[str, int, int, bytes]
"""(topic, partition, offset, SHA-256 of the value): what makes a record the same record."""


@dataclass(frozen=True)
class IngressRecord:
    """One Kafka record from a `linkage.ingress.<agency>` topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None

    @property
    def record_hash(self) -> bytes:
        return hashlib.sha256(self.value or b"").digest()

    @property
    def record_key(self) -> RecordKey:
        return (self.topic, self.partition, self.offset, self.record_hash)


@dataclass(frozen=True)
class StoredOutcome:
    """A record's single outcome as stored (`record` = its bytes when rejected: the quarantine)."""

    key: RecordKey
    status: ReceiptStatus
    event_id: str | None
    received_at: datetime
    reason: str | None
    detail: str | None
    ledger_index: int | None
    leaf_hash: bytes | None
    record: bytes | None


@dataclass(frozen=True)
class ParkedRecord:
    """A record the hub could not settle (database refusal or a hub bug), kept for operators."""

    parked_id: int
    record: IngressRecord
    reason: str
    evidence: str
    parked_at: datetime
    attempts: int
    resolved_at: datetime | None = None
    outcome: str | None = None


class IngressUnit(Protocol):
    """One open transaction of the ingress store, holding the ledger's append lock."""

    async def stored_outcomes(self, keys: Sequence[RecordKey]) -> dict[RecordKey, StoredOutcome]:
        """The outcomes already stored for any of these records."""
        ...

    async def ledger_entries(self, event_ids: Sequence[str]) -> dict[str, LedgerEntry]:
        """Ledger entries by (canonical) event id, for those ids already in the ledger."""
        ...

    async def append(self, entries: Sequence[NewEntry]) -> list[LedgerEntry]:
        """Append at the next ledger indexes (with their Merkle nodes)."""
        ...

    async def store_outcomes(self, outcomes: Sequence[StoredOutcome]) -> None: ...


class IngressStore(Protocol):
    """Where ingress outcomes, the ledger and parked records live."""

    def unit(self) -> AbstractAsyncContextManager[IngressUnit]:
        """A transaction: commits when the block exits normally, rolls back on an exception."""
        ...

    async def park(self, record: IngressRecord, reason: str, evidence: str,
                   now: datetime) -> ParkedRecord:
        """Keep a record that could not be settled (again: its attempts grow)."""
        ...

    async def parked(self, parked_ids: Sequence[int] | None = None, *,
                     include_resolved: bool = False) -> list[ParkedRecord]: ...

    async def resolve_parked(self, parked_id: int, outcome: str, now: datetime) -> None:
        """Mark a parked record settled, with the status of its outcome."""
        ...
