"""The ledger's abstractions: what an entry is, and the reader / appender protocols."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from audit.merkle import (
    NodeId,
    consistency_node_ids,
    consistency_proof,
    inclusion_node_ids,
    inclusion_proof,
    right_edge,
    root_at,
)


@dataclass(frozen=True)
class NewEntry:
    """A record the hub accepted, before it has a ledger index."""

    event_id: str
    agency_id: str
    case_id: str
    event_type: str
    event_time: datetime
    received_at: datetime
    keyid: str
    record: bytes


@dataclass(frozen=True)
class LedgerEntry:
    """One ledger entry: the accepted record's bytes at their index, with its leaf hash."""

    ledger_index: int
    event_id: str
    agency_id: str
    case_id: str
    event_type: str
    event_time: datetime
    received_at: datetime
    keyid: str
    record: bytes
    leaf_hash: bytes

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (without the record bytes)."""
        import base64

        return {
            "ledger_index": self.ledger_index,
            "event_id": self.event_id,
            "agency": self.agency_id,
            "case_id": self.case_id,
            "type": self.event_type,
            "event_time": self.event_time.isoformat(),
            "received_at": self.received_at.isoformat(),
            "keyid": self.keyid,
            "leaf_hash": base64.b64encode(self.leaf_hash).decode("ascii"),
        }


@dataclass(frozen=True)
class TreeHead:
    size: int
    root_hash: bytes


class LedgerReader(Protocol):
    """Reads that serve listings and proofs; never writes."""

    async def tree_head(self) -> TreeHead: ...

    async def entries(
        self,
        *,
        case_id: str | None = None,
        agency_id: str | None = None,
        start: int = 0,
        limit: int | None = None,
    ) -> list[LedgerEntry]: ...

    async def entry_by_event_id(self, event_id: str) -> LedgerEntry | None: ...

    async def entry_at(self, index: int) -> LedgerEntry | None: ...

    async def nodes(self, ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
        """Stored perfect-subtree hashes by (level, index); missing ids are absent."""
        ...

    async def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]: ...

    async def consistency_proof(self, first: int, second: int) -> list[bytes]: ...

    async def root_at(self, tree_size: int) -> bytes: ...


class ProofsFromNodes:
    """The proof reads of LedgerReader, for a store that answers `nodes` in one batch.

    Each proof asks the store exactly once for the node ids the tree maths needs
    (audit/merkle.py), so a database answers each proof with one query.
    """

    async def nodes(self, ids: Sequence[NodeId]) -> dict[NodeId, bytes]:
        raise NotImplementedError

    async def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        fetched = await self.nodes(inclusion_node_ids(index, tree_size))
        return inclusion_proof(index, tree_size, lambda _: fetched)

    async def consistency_proof(self, first: int, second: int) -> list[bytes]:
        fetched = await self.nodes(consistency_node_ids(first, second))
        return consistency_proof(first, second, lambda _: fetched)

    async def root_at(self, tree_size: int) -> bytes:
        fetched = await self.nodes(right_edge(tree_size))
        return root_at(tree_size, lambda _: fetched)


class LedgerAppender(Protocol):
    """Sequences new entries; `conn` is the caller's open transaction."""

    async def append(self, conn: Any, entries: Sequence[NewEntry]) -> list[LedgerEntry]: ...
