"""InMemoryLedger: the ledger in process memory, the reference implementation of its ports.

It answers the :class:`audit.ledger.LedgerReader` protocol exactly as the PostgreSQL ledger
does (one contract suite, ``tests/contracts/test_ledger_contract.py``, runs against both) and
appends with ``append(entries)``. It stores what the database stores: the entries and the
perfect-subtree nodes that :class:`audit.merkle.CompactRange` emits, so proofs are built by
the same node-fetch callback. Use it in tests and benchmarks; it is not durable.

Appends are atomic with respect to other coroutines (nothing awaits between reading the head
and storing the nodes), so indexes are gap-free without a lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from audit.ledger import LedgerEntry, NewEntry, TreeHead
from audit.merkle import (
    CompactRange,
    NodeId,
    consistency_node_ids,
    consistency_proof,
    inclusion_node_ids,
    inclusion_proof,
    leaf_hash,
    right_edge,
    root_at,
)

__all__ = ["InMemoryLedger", "new_entry"]

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def new_entry(record: bytes, *, case_id: str = "CASE-1", agency_id: str = "test-agency",
              event_type: str = "case.opened", keyid: str = "test-key",
              at: datetime = _EPOCH) -> NewEntry:
    """A NewEntry for raw record bytes (tests that care only about the bytes); the event id
    is derived from the bytes, so the same record always gets the same id."""
    return NewEntry(
        event_id=str(uuid.uuid5(uuid.NAMESPACE_OID, record.hex())),
        agency_id=agency_id, case_id=case_id, event_type=event_type,
        event_time=at, received_at=at, keyid=keyid, record=record,
    )


class InMemoryLedger:
    """Entries, perfect-subtree nodes and the head, in dicts and lists."""

    def __init__(self, entries: Iterable[NewEntry] = ()) -> None:
        self._entries: list[LedgerEntry] = []
        self._by_event: dict[str, LedgerEntry] = {}
        self._nodes: dict[NodeId, bytes] = {}
        self._frontier = CompactRange()
        self._append(list(entries))

    @classmethod
    def of_records(cls, records: Iterable[bytes]) -> InMemoryLedger:
        """A ledger holding these record bytes at indexes 0, 1, ... (see :func:`new_entry`)."""
        return cls(new_entry(r) for r in records)

    # -- writes -------------------------------------------------------------------------

    async def append(self, entries: Sequence[NewEntry]) -> list[LedgerEntry]:
        """Append entries at the next indexes with their Merkle nodes; returns them."""
        return self._append(entries)

    def _append(self, entries: Sequence[NewEntry]) -> list[LedgerEntry]:
        start = self._frontier.size
        if len({e.event_id for e in entries}) != len(entries) or any(
                e.event_id in self._by_event for e in entries):
            raise ValueError("事件编号重复 / duplicate event id in the ledger")
        hashes = [leaf_hash(e.record) for e in entries]
        for level, index, h in self._frontier.extend(hashes):
            self._nodes[(level, index)] = h
        appended = [
            LedgerEntry(start + n, e.event_id, e.agency_id, e.case_id, e.event_type,
                        e.event_time, e.received_at, e.keyid, e.record, h)
            for n, (e, h) in enumerate(zip(entries, hashes, strict=True))
        ]
        self._entries += appended
        self._by_event.update((e.event_id, e) for e in appended)
        return appended

    # -- reads (audit.ledger.LedgerReader) ----------------------------------------------

    async def tree_head(self) -> TreeHead:
        return TreeHead(self._frontier.size, self._frontier.root())

    async def entries(
        self,
        *,
        case_id: str | None = None,
        agency_id: str | None = None,
        start: int = 0,
        limit: int | None = None,
    ) -> list[LedgerEntry]:
        found = [e for e in self._entries[max(start, 0):]
                 if (case_id is None or e.case_id == case_id)
                 and (agency_id is None or e.agency_id == agency_id)]
        return found if limit is None else found[:limit]

    async def entry_by_event_id(self, event_id: str) -> LedgerEntry | None:
        return self._by_event.get(event_id)

    async def entry_at(self, index: int) -> LedgerEntry | None:
        return self._entries[index] if 0 <= index < len(self._entries) else None

    async def nodes(self, ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
        """Stored perfect-subtree hashes by (level, index); missing ids are absent."""
        return self.get_nodes(ids)

    def get_nodes(self, ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
        """The same answer as :meth:`nodes`, synchronously: an :data:`audit.merkle.GetNodes`."""
        return {i: self._nodes[i] for i in ids if i in self._nodes}

    async def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        fetched = self.get_nodes(inclusion_node_ids(index, tree_size))
        return inclusion_proof(index, tree_size, lambda _: fetched)

    async def consistency_proof(self, first: int, second: int) -> list[bytes]:
        fetched = self.get_nodes(consistency_node_ids(first, second))
        return consistency_proof(first, second, lambda _: fetched)

    async def root_at(self, tree_size: int) -> bytes:
        fetched = self.get_nodes(right_edge(tree_size))
        return root_at(tree_size, lambda _: fetched)

    # -- test helpers -------------------------------------------------------------------

    @property
    def node_store(self) -> Mapping[NodeId, bytes]:
        """The stored nodes, for tests that tamper with or inspect them (read-only view)."""
        return self._nodes

    def overwrite_node(self, node: NodeId, value: bytes) -> None:
        """Corrupt one stored node (tests of what a tampered store makes the hub refuse)."""
        self._nodes[node] = value
