"""InMemoryCaseStore: the rules runner's case store (streams.ports.CaseStore) in memory.

The reference implementation the contract suite (tests/contracts/test_case_store_contract.py)
holds PostgresCaseStore to. One transaction at a time (an asyncio lock stands in for the row
locks); a transaction works on a copy of the tables and replaces them only on success, so a
failing block leaves nothing behind, like a rolled-back PostgreSQL transaction. Case states and
alerts are immutable values, so copying the tables copies no state.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime

from audit.ledger import LedgerReader
from schemas.alert import Alert
from streams.ports import OutboxRow, ParkedEvent
from streams.rules import CaseState

__all__ = ["InMemoryCaseStore"]


@dataclass
class _Tables:
    cases: dict[str, CaseState] = field(default_factory=dict)
    next_due: dict[str, datetime | None] = field(default_factory=dict)
    parties: dict[str, frozenset[tuple[str, str]]] = field(default_factory=dict)
    processed: set[str] = field(default_factory=set)
    parked: dict[str, ParkedEvent] = field(default_factory=dict)
    alerts: dict[str, Alert] = field(default_factory=dict)
    first_raised: dict[str, int] = field(default_factory=dict)  # alert id -> transaction no.
    outbox: list[OutboxRow] = field(default_factory=list)
    published: set[int] = field(default_factory=set)
    transactions: int = 0
    cursor: int = 0

    def copy(self) -> _Tables:
        return _Tables(dict(self.cases), dict(self.next_due), dict(self.parties),
                       set(self.processed), dict(self.parked), dict(self.alerts),
                       dict(self.first_raised), list(self.outbox), set(self.published),
                       self.transactions + 1, self.cursor)


class _Session:
    """The CaseSession of one in-memory transaction, over its private copy of the tables."""

    def __init__(self, tables: _Tables, ledger: LedgerReader | None) -> None:
        self._t = tables
        self._ledger = ledger

    async def processed(self, event_ids: Collection[str]) -> set[str]:
        return {e for e in event_ids if e in self._t.processed}

    async def mark_processed(self, event_ids: Collection[str]) -> None:
        self._t.processed.update(event_ids)

    async def park(self, events: Sequence[ParkedEvent]) -> None:
        for event in events:
            before = self._t.parked.get(event.event_id)
            self._t.parked[event.event_id] = (
                event if before is None else replace(event, attempts=before.attempts + 1))

    async def lock_parked(self, now: datetime, limit: int) -> list[ParkedEvent]:
        due = sorted((p for p in self._t.parked.values() if p.retry_at <= now),
                     key=lambda p: (p.retry_at, p.event_id))
        return due[:limit]

    async def unpark(self, event_ids: Collection[str]) -> None:
        for event_id in event_ids:
            self._t.parked.pop(event_id, None)

    async def lock_cases(self, case_ids: Collection[str],
                         initial: Mapping[str, CaseState] | None = None) -> dict[str, CaseState]:
        for case_id in case_ids:
            if case_id not in self._t.cases:
                state = (initial or {}).get(case_id) or CaseState(case_id=case_id)
                self._t.cases[case_id] = state
                self._t.next_due[case_id] = None
                self._t.parties[case_id] = state.party_keys
        return {c: self._t.cases[c] for c in sorted(set(case_ids))}

    async def lock_due(self, now: datetime, limit: int) -> dict[str, CaseState]:
        due = sorted((d, c) for c, d in self._t.next_due.items() if d is not None and d <= now)
        return {c: self._t.cases[c] for _, c in due[:limit]}

    async def load_cases(self, case_ids: Collection[str]) -> dict[str, CaseState]:
        return {c: self._t.cases[c] for c in case_ids if c in self._t.cases}

    async def save_cases(self, states: Sequence[CaseState]) -> None:
        for state in states:
            if state.case_id in self._t.cases:
                self._t.cases[state.case_id] = state
                self._t.parties[state.case_id] = state.party_keys

    async def neighbours(self, case_ids: Collection[str]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for case_id in case_ids:
            keys = self._t.parties.get(case_id, frozenset())
            others = {o for o, k in self._t.parties.items() if o != case_id and k & keys}
            if others:
                found[case_id] = others
        return found

    async def set_next_due(self, due: Mapping[str, datetime | None]) -> None:
        for case_id, at in due.items():
            if case_id in self._t.cases:
                self._t.next_due[case_id] = at

    async def ledger_records(self, case_id: str) -> list[bytes]:
        if self._ledger is None:
            return []
        return [e.record for e in await self._ledger.entries(case_id=case_id)]

    async def lock_cursor(self) -> int | None:
        return self._t.cursor

    async def unprocessed_since(self, start: int, settled_before: datetime,
                                limit: int) -> tuple[list[bytes], int]:
        if self._ledger is None:
            return [], start
        entries = [e for e in await self._ledger.entries(start=start, limit=limit)]
        settled = []
        for entry in entries:  # received_at grows with the index: stop at the first fresh one
            if entry.received_at >= settled_before:
                break
            settled.append(entry)
        if not settled:
            return [], start
        return ([e.record for e in settled if e.event_id not in self._t.processed],
                settled[-1].ledger_index + 1)

    async def set_cursor(self, next_index: int) -> None:
        self._t.cursor = next_index

    async def alerts_of(self, case_ids: Collection[str]) -> dict[str, Alert]:
        wanted = set(case_ids)
        return {i: a for i, a in self._t.alerts.items() if a.case_id in wanted}

    async def record_alerts(self, alerts: Sequence[Alert], envelopes: Sequence[bytes],
                            payloads: Sequence[str] | None = None) -> None:
        for alert, envelope in zip(alerts, envelopes, strict=True):
            self._t.alerts[alert.alert_id] = alert
            self._t.first_raised.setdefault(alert.alert_id, self._t.transactions)
            seq = len(self._t.outbox) + 1
            self._t.outbox.append(OutboxRow(seq, alert.alert_id, alert.rule_id, alert.status,
                                            alert.case_id, envelope))

    async def lock_unpublished(self, limit: int) -> list[OutboxRow]:
        return [r for r in self._t.outbox if r.seq not in self._t.published][:limit]

    async def mark_published(self, seqs: Sequence[int]) -> None:
        self._t.published.update(seqs)


class InMemoryCaseStore:
    """The case store in dicts; `ledger` answers `ledger_records` (none: no records)."""

    def __init__(self, ledger: LedgerReader | None = None) -> None:
        self._tables = _Tables()
        self._ledger = ledger
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Session]:
        async with self._lock:
            working = self._tables.copy()
            yield _Session(working, self._ledger)
            self._tables = working  # reached only if the block did not raise

    async def open_count(self) -> int:
        return sum(1 for a in self._tables.alerts.values() if a.status == "open")

    async def unpublished_count(self) -> int:
        return sum(1 for r in self._tables.outbox if r.seq not in self._tables.published)

    async def parked_events(self) -> list[ParkedEvent]:
        return sorted(self._tables.parked.values(), key=lambda p: (p.retry_at, p.event_id))

    async def list_alerts(
        self, *, status: str | None = None, case_id: str | None = None
    ) -> list[Alert]:
        t = self._tables
        order = sorted(t.alerts, key=lambda i: (t.first_raised[i], i))  # PG: first_raised_at
        return [a for a in (t.alerts[i] for i in order)
                if (status is None or a.status == status)
                and (case_id is None or a.case_id == case_id)]
