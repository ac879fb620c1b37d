"""The ports the stream processors need from the outside world: publishing, the clock,
the ingress store and the rules runner's case store.

Adapters in `hub.adapters` implement them (PostgreSQL, Kafka); tests use the in-memory
stores of `streams.memory` (case store) and `streams.ingress_memory` (ingress store). No
port shows a driver type: an adapter maps its driver's errors to the hub's own at its seam
(streams/errors.py, hub/adapters/postgres.py): StoreUnavailable is retried, StoreRefused
is not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple, Protocol

from audit.ledger import LedgerEntry, NewEntry
from schemas.receipt import ReceiptStatus

if TYPE_CHECKING:  # annotations only: importing the ports loads no rule engine
    from schemas.alert import Alert
    from streams.rules import CaseState


class Publisher(Protocol):
    """Queues records in order; each returned future resolves at the broker's ack (acks=all)."""

    async def enqueue(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> Awaitable[object]: ...


OutRecord = tuple[str, bytes | None, bytes, Sequence[tuple[str, bytes]]]
"""One record to publish: topic, key, value, headers."""


class BatchPublisher(Publisher, Protocol):
    """A Publisher that also takes a whole batch of records at once (the ingress worker's)."""

    async def publish_all(self, records: Sequence[OutRecord]) -> None:
        """Queue every record, in order within each topic and partition, and return once the
        broker acknowledged all of them (acks=all); raises if any was not."""
        ...


Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


RecordKey = tuple[str, int, int, bytes]
"""(topic, partition, offset, SHA-256 of the value): what makes a record the same record."""


@dataclass(frozen=True, init=False)
class IngressRecord:
    """One Kafka record from a `linkage.ingress.<agency>` topic.

    Its `__init__` is written out (issue 14, session 9): a frozen dataclass's sets each of
    its eight attributes by `object.__setattr__`, and the worker makes one record a message;
    this one fills the instance's dict at once, as `functools.cached_property` writes a frozen
    instance's attribute (the dataclass still gives equality, hash, repr and `replace`)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None
    record_hash: bytes = field(init=False, repr=False, compare=False)
    """SHA-256 of the value, computed once (the ingress path reads a record's key three or
    four times; functools.cached_property takes a lock on each first read in Python 3.11)."""
    record_key: RecordKey = field(init=False, repr=False, compare=False)

    def __init__(self, topic: str, partition: int, offset: int, key: bytes | None,
                 value: bytes | None, timestamp_ms: int | None = None) -> None:
        record_hash = hashlib.sha256(value or b"").digest()
        self.__dict__.update(topic=topic, partition=partition, offset=offset, key=key,
                             value=value, timestamp_ms=timestamp_ms, record_hash=record_hash,
                             record_key=(topic, partition, offset, record_hash))


class StoredOutcome(NamedTuple):
    """A record's single outcome as stored (`record` = its bytes when rejected: the quarantine).

    A NamedTuple, immutable like the frozen dataclass it was: the ingress worker makes one
    per record, and a frozen dataclass's `__init__` sets each field through
    `object.__setattr__` (~1 µs per record against ~0.3; issue 14)."""

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

    async def revocations(self, keyids: Sequence[str]) -> dict[str, datetime]:
        """Revocation times of those of these keys that are revoked, as committed now.

        Read under the append lock, which revoking a key also takes: the registry snapshot
        verification used may be up to REGISTRY_TTL old, and a record signed by a key revoked
        meanwhile must not enter the ledger (`ledger verify` would rightly flag it).
        """
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


# -- the case store (the rules runner's storage) ---------------------------------------------


@dataclass(frozen=True)
class OutboxRow:
    """A signed alert envelope waiting for the broker's acknowledgement."""

    seq: int
    alert_id: str
    rule_id: str
    status: str
    case_id: str
    envelope: bytes


@dataclass(frozen=True)
class ParkedEvent:
    """An accepted event the rules could not apply (a bug): kept, not marked processed, and
    tried again from `retry_at` on; `attempts` counts the failed tries."""

    event_id: str
    case_id: str
    record: bytes
    error: str
    retry_at: datetime
    attempts: int = 1


class CaseSession(Protocol):
    """One transaction over the case store: everything is committed together or not at all.

    `lock_*` methods take the row locks that serialise writers of the same case (see
    hub/sql/cases.sql); `lock_due` and `lock_unpublished` skip rows another session holds.
    """

    async def processed(self, event_ids: Collection[str]) -> set[str]:
        """The ids among `event_ids` already folded into their case."""
        ...

    async def mark_processed(self, event_ids: Collection[str]) -> None: ...

    async def park(self, events: Sequence[ParkedEvent]) -> None:
        """Keep these events for a later try; one already parked counts one more attempt."""
        ...

    async def lock_parked(self, now: datetime, limit: int) -> list[ParkedEvent]:
        """Up to `limit` parked events whose retry time has come, oldest first."""
        ...

    async def unpark(self, event_ids: Collection[str]) -> None: ...

    async def lock_cases(self, case_ids: Collection[str],
                         initial: Mapping[str, CaseState] | None = None) -> dict[str, CaseState]:
        """Row-lock these cases, creating the absent ones: empty, or holding their state in
        `initial` (a case new to the store written once, whole: `rules replay`)."""
        ...

    async def lock_due(self, now: datetime, limit: int) -> dict[str, CaseState]:
        """Row-lock up to `limit` cases whose next deadline has passed, earliest first."""
        ...

    async def load_cases(self, case_ids: Collection[str]) -> dict[str, CaseState]:
        """Stored case states without a lock (absent cases are left out)."""
        ...

    async def save_cases(self, states: Sequence[CaseState]) -> None:
        """Store these (locked) cases' states and their party index entries."""
        ...

    async def neighbours(self, case_ids: Collection[str]) -> dict[str, set[str]]:
        """For each case, the other cases that share a party (id_type, id_number) with it."""
        ...

    async def set_next_due(self, due: Mapping[str, datetime | None]) -> None: ...

    async def ledger_records(self, case_id: str) -> list[bytes]:
        """Every ledgered record of one case, in ledger order."""
        ...

    async def lock_cursor(self) -> int | None:
        """The ledger index the rules have caught up to, row-locked; None while another
        session holds it."""
        ...

    async def unprocessed_since(self, start: int, settled_before: datetime,
                                limit: int) -> tuple[list[bytes], int]:
        """Up to `limit` ledger entries from `start` on, received before `settled_before`:
        the records of those not processed yet, and the index after the last one looked at."""
        ...

    async def set_cursor(self, next_index: int) -> None: ...

    async def alerts_of(self, case_ids: Collection[str]) -> dict[str, Alert]:
        """The current alert of every alert id raised on these cases."""
        ...

    async def record_alerts(self, alerts: Sequence[Alert], envelopes: Sequence[bytes],
                            payloads: Sequence[str] | None = None) -> None:
        """Set each alert's current status and queue its signed envelope, in this order;
        `payloads`, when given, are the alerts' JSON (the envelopes' payloads), so a store
        need not serialise them again."""
        ...

    async def lock_unpublished(self, limit: int) -> list[OutboxRow]:
        """Row-lock the oldest unpublished envelopes, in outbox order."""
        ...

    async def mark_published(self, seqs: Sequence[int]) -> None: ...


class CaseStore(Protocol):
    """Case states, processed and parked events, alerts and their outbox (a unit of work)."""

    def transaction(self) -> AbstractAsyncContextManager[CaseSession]:
        """A session whose changes commit when the block exits normally, else roll back."""
        ...

    async def open_count(self) -> int: ...

    async def unpublished_count(self) -> int: ...

    async def parked_events(self) -> list[ParkedEvent]:
        """Every parked event, oldest retry first (for operators)."""
        ...

    async def list_alerts(
        self, *, status: str | None = None, case_id: str | None = None
    ) -> list[Alert]:
        """Current alerts, oldest first, optionally of one status and one case."""
        ...
