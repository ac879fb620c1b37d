"""The checkpoint store port: stored signed checkpoints and witnesses' cosignatures.

A stored checkpoint is derived from the signed note itself (size and root are parsed from its
text), so it can never disagree with the note it carries. Implementations: InMemoryCheckpoint
Store (audit.memory) and PostgresCheckpointStore (hub.adapters.checkpoint_store; see
hub/sql/checkpoints.sql for why there is at most one checkpoint per tree size).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from audit.checkpoint import Checkpoint, parse_checkpoint
from audit.note import parse_note

__all__ = ["CheckpointStore", "Cosignature", "StoredCheckpoint"]


@dataclass(frozen=True)
class StoredCheckpoint:
    """A signed checkpoint as stored: its tree size, root hash and complete note text."""

    tree_size: int
    root_hash: bytes
    note: str
    created_at: datetime

    @property
    def checkpoint(self) -> Checkpoint:
        """The note's checkpoint text, parsed (signatures not checked)."""
        return parse_checkpoint(parse_note(self.note).text)


@dataclass(frozen=True)
class Cosignature:
    """One witness's cosignature line on the checkpoint of ``tree_size``."""

    tree_size: int
    witness: str
    key_id: str
    line: str
    created_at: datetime

    def summary(self) -> dict[str, Any]:
        return {"tree_size": self.tree_size, "witness": self.witness, "key_id": self.key_id,
                "line": self.line, "created_at": self.created_at.isoformat()}


class CheckpointStore(Protocol):
    """Where signed checkpoints and their cosignatures are kept (append-only)."""

    async def latest(self) -> StoredCheckpoint | None: ...

    async def at(self, tree_size: int) -> StoredCheckpoint | None: ...

    async def since(self, tree_size: int, limit: int | None = None) -> list[StoredCheckpoint]: ...

    async def add(self, note: str) -> tuple[StoredCheckpoint, bool]: ...

    async def cosignatures(self, tree_size: int) -> list[Cosignature]: ...

    async def cosignatures_through(self, tree_size: int) -> list[Cosignature]: ...

    async def add_cosignature(self, tree_size: int, witness: str, key_id: str, line: str) -> bool:
        ...
