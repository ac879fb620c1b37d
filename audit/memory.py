"""The ledger's ports in process memory: InMemoryLedger and InMemoryCheckpointStore.

It answers the :class:`audit.ledger.LedgerReader` protocol exactly as the PostgreSQL ledger
does (one contract suite, ``tests/contracts/test_ledger_contract.py``, runs against both) and
appends with ``append(entries)``. It stores what the database stores: the entries and the
perfect-subtree nodes that :class:`audit.merkle.CompactRange` emits, so proofs are built by
the same node-fetch callback. Use it in tests and benchmarks; it is not durable.

Appends are atomic with respect to other coroutines (nothing awaits between reading the head
and storing the nodes), so indexes are gap-free without a lock.

:class:`InMemoryCheckpointStore` answers :class:`audit.checkpoint_store.CheckpointStore` (its
contract suite: ``tests/contracts/test_checkpoint_store_contract.py``): one checkpoint per
tree size, the first one stored wins, one cosignature per size and witness.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime

from audit.checkpoint import parse_checkpoint
from audit.checkpoint_store import Cosignature, StoredCheckpoint
from audit.ledger import LedgerEntry, NewEntry, ProofsFromNodes, TreeHead
from audit.merkle import CompactRange, NodeId, leaf_hash
from audit.note import parse_note

__all__ = ["InMemoryCheckpointStore", "InMemoryLedger", "new_entry"]

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


class InMemoryLedger(ProofsFromNodes):
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

    # -- test helpers -------------------------------------------------------------------

    @property
    def node_store(self) -> Mapping[NodeId, bytes]:
        """The stored nodes, for tests that tamper with or inspect them (read-only view)."""
        return self._nodes

    def overwrite_node(self, node: NodeId, value: bytes) -> None:
        """Corrupt one stored node (tests of what a tampered store makes the hub refuse)."""
        self._nodes[node] = value


def _utc_now() -> datetime:
    return datetime.now(UTC)


class InMemoryCheckpointStore:
    """Signed checkpoints by tree size and cosignatures by (size, witness), in dicts."""

    def __init__(self, clock: Callable[[], datetime] = _utc_now) -> None:
        self._clock = clock
        self._checkpoints: dict[int, StoredCheckpoint] = {}
        self._cosignatures: dict[tuple[int, str], Cosignature] = {}

    async def latest(self) -> StoredCheckpoint | None:
        """The checkpoint of the largest tree size, if any."""
        return self._checkpoints[max(self._checkpoints)] if self._checkpoints else None

    async def at(self, tree_size: int) -> StoredCheckpoint | None:
        return self._checkpoints.get(tree_size)

    async def since(self, tree_size: int, limit: int | None = None) -> list[StoredCheckpoint]:
        """Checkpoints of size ``>= tree_size``, smallest first."""
        found = [self._checkpoints[s] for s in sorted(self._checkpoints) if s >= tree_size]
        return found if limit is None else found[:limit]

    async def add(self, note: str) -> tuple[StoredCheckpoint, bool]:
        """Store a signed checkpoint note; returns the row for its size and whether it is new
        (an existing checkpoint of that size is kept: the caller compares roots)."""
        checkpoint = parse_checkpoint(parse_note(note).text)
        existing = self._checkpoints.get(checkpoint.size)
        if existing is not None:
            return existing, False
        stored = StoredCheckpoint(checkpoint.size, checkpoint.root_hash, note, self._clock())
        self._checkpoints[checkpoint.size] = stored
        return stored, True

    async def cosignatures(self, tree_size: int) -> list[Cosignature]:
        return sorted((c for (s, _), c in self._cosignatures.items() if s == tree_size),
                      key=lambda c: c.witness)

    async def cosignatures_through(self, tree_size: int) -> list[Cosignature]:
        """Every cosignature on checkpoints of size ``<= tree_size``, by size then witness."""
        return [self._cosignatures[k] for k in sorted(self._cosignatures) if k[0] <= tree_size]

    async def add_cosignature(self, tree_size: int, witness: str, key_id: str, line: str) -> bool:
        """Store one witness's cosignature line; False if it already cosigned that size."""
        if tree_size not in self._checkpoints:
            raise KeyError(f"没有大小为 {tree_size} 的检查点 / no checkpoint of size {tree_size}")
        if (tree_size, witness) in self._cosignatures:
            return False
        self._cosignatures[(tree_size, witness)] = Cosignature(
            tree_size, witness, key_id, line, self._clock())
        return True
