"""The ingress processor's store in process memory (streams.ports.IngressStore), for tests.

It keeps what PostgreSQL keeps (outcomes, the ledger as audit.memory.InMemoryLedger, parked
records) and refuses what PostgreSQL refuses: text with U+0000 or a lone surrogate and
integers beyond 64 bits raise StoreRefused, so the processor's handling of a refused batch
can be tested without a server. A unit is a transaction: its appends and outcomes become
visible when its block ends normally and are dropped on an exception. `refuse` lets a test
make the store refuse chosen outcomes, as a constraint would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime

from audit.ledger import LedgerEntry, NewEntry
from audit.memory import InMemoryLedger
from audit.merkle import leaf_hash
from streams.errors import StoreRefused
from streams.ports import IngressRecord, ParkedRecord, RecordKey, StoredOutcome

_INT64 = (-(2**63), 2**63 - 1)


def _check_text(*values: str | None) -> None:
    for value in values:
        if value is None:
            continue
        if "\x00" in value:
            raise StoreRefused('invalid byte sequence for encoding "UTF8": 0x00', "22021")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise StoreRefused(f"invalid input: {exc}", "22021") from None


def _check_int(*values: int | None) -> None:
    for value in values:
        if value is not None and not _INT64[0] <= value <= _INT64[1]:
            raise StoreRefused("value out of int64 range", "22003")


class _MemoryUnit:
    def __init__(self, store: InMemoryIngressStore) -> None:
        self._store = store
        self.appended: list[NewEntry] = []
        self.outcomes: dict[RecordKey, StoredOutcome] = {}

    async def stored_outcomes(self, keys: Sequence[RecordKey]) -> dict[RecordKey, StoredOutcome]:
        known = self._store.outcomes
        return {k: known[k] for k in keys if k in known}

    async def ledger_entries(self, event_ids: Sequence[str]) -> dict[str, LedgerEntry]:
        found: dict[str, LedgerEntry] = {}
        for event_id in event_ids:
            entry = await self._store.ledger.entry_by_event_id(event_id)
            if entry is not None:
                found[event_id] = entry
        return found

    async def append(self, entries: Sequence[NewEntry]) -> list[LedgerEntry]:
        start = (await self._store.ledger.tree_head()).size + len(self.appended)
        for e in entries:
            _check_text(e.event_id, e.agency_id, e.case_id, e.event_type, e.keyid)
        self.appended += entries
        return [LedgerEntry(start + n, e.event_id, e.agency_id, e.case_id, e.event_type,
                            e.event_time, e.received_at, e.keyid, e.record, leaf_hash(e.record))
                for n, e in enumerate(entries)]

    async def revocations(self, keyids: Sequence[str]) -> dict[str, datetime]:
        revoked = self._store.revoked
        return {k: revoked[k] for k in keyids if k in revoked}

    async def store_outcomes(self, outcomes: Sequence[StoredOutcome]) -> None:
        for o in outcomes:
            _check_text(o.key[0], o.event_id, o.reason, o.detail)
            _check_int(o.key[1], o.key[2], o.ledger_index)
            if o.key in self._store.outcomes or o.key in self.outcomes:
                raise StoreRefused("duplicate key value violates unique constraint", "23505")
            if self._store.refuse is not None and self._store.refuse(o):
                raise StoreRefused("refused by the test's rule", "23514")
            self.outcomes[o.key] = o


class InMemoryIngressStore:
    """Outcomes, ledger and parked records in dicts; one unit at a time (the append lock)."""

    def __init__(self, ledger: InMemoryLedger | None = None,
                 refuse: Callable[[StoredOutcome], bool] | None = None) -> None:
        self.ledger = ledger or InMemoryLedger()
        self.outcomes: dict[RecordKey, StoredOutcome] = {}
        self.parked_records: dict[RecordKey, ParkedRecord] = {}
        self.refuse = refuse
        self.revoked: dict[str, datetime] = {}
        """Key revocations as committed (keyid -> time), which units read under the lock."""
        self.units_committed = 0
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[_MemoryUnit]:
        async with self._lock:
            unit = _MemoryUnit(self)
            yield unit
            if unit.appended:
                await self.ledger.append(unit.appended)
            self.outcomes.update(unit.outcomes)
            self.units_committed += 1

    async def park(self, record: IngressRecord, reason: str, evidence: str,
                   now: datetime) -> ParkedRecord:
        _check_text(evidence)
        old = self.parked_records.get(record.record_key)
        parked = ParkedRecord(old.parked_id if old else len(self.parked_records) + 1, record,
                              reason, evidence, now, old.attempts + 1 if old else 1)
        self.parked_records[record.record_key] = parked
        return parked

    async def parked(self, parked_ids: Sequence[int] | None = None, *,
                     include_resolved: bool = False) -> list[ParkedRecord]:
        return sorted((p for p in self.parked_records.values()
                       if (parked_ids is None or p.parked_id in parked_ids)
                       and (include_resolved or p.resolved_at is None)),
                      key=lambda p: p.parked_id)

    async def resolve_parked(self, parked_id: int, outcome: str, now: datetime) -> None:
        for key, p in self.parked_records.items():
            if p.parked_id == parked_id:
                self.parked_records[key] = replace(p, resolved_at=now, outcome=outcome)
