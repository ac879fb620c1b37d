"""The ports the stream processors need from the outside world: publishing, the clock, and
the rules runner's case store.

Adapters in `hub.adapters` implement them (PostgreSQL, Kafka); `streams.memory` holds the
in-memory case store that tests use. Neither port shows a driver type: an adapter maps its
driver's errors to the hub's own at its seam (see hub/adapters/postgres.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # annotations only: importing the ports loads no rule engine
    from schemas.alert import Alert
    from streams.rules import CaseState


class Publisher(Protocol):
    """Queues records in order; each returned future resolves at the broker's ack (acks=all)."""

    async def enqueue(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> Awaitable[object]: ...


Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


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

    async def lock_cases(self, case_ids: Collection[str]) -> dict[str, CaseState]:
        """Row-lock these cases (creating empty ones)."""
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

    async def alerts_of(self, case_ids: Collection[str]) -> dict[str, Alert]:
        """The current alert of every alert id raised on these cases."""
        ...

    async def record_alerts(self, alerts: Sequence[Alert], envelopes: Sequence[bytes]) -> None:
        """Set each alert's current status and queue its signed envelope, in this order."""
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
