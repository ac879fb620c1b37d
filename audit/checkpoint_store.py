"""PostgresCheckpointStore: the ledger's signed checkpoints and witnesses' cosignatures (asyncpg).

Rows are derived from the signed note itself (size and root are parsed from its text), so
a stored row can never disagree with the note it carries. See audit/checkpoints.sql for
why there is at most one checkpoint per tree size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import asyncpg

from audit.checkpoint import Checkpoint, parse_checkpoint
from audit.note import parse_note

__all__ = ["CheckpointStore", "Cosignature", "PostgresCheckpointStore", "StoredCheckpoint"]


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


def _checkpoint(row: Mapping[str, Any]) -> StoredCheckpoint:
    return StoredCheckpoint(row["tree_size"], bytes(row["root_hash"]), row["note"],
                            row["created_at"])


def _cosignature(row: Mapping[str, Any]) -> Cosignature:
    return Cosignature(row["tree_size"], row["witness"], row["key_id"], row["line"],
                       row["created_at"])


class PostgresCheckpointStore:
    """The ``checkpoints`` and ``cosignatures`` tables through an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def latest(self) -> StoredCheckpoint | None:
        """The checkpoint of the largest tree size, if any."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM checkpoints ORDER BY tree_size DESC LIMIT 1")
        return _checkpoint(row) if row else None

    async def at(self, tree_size: int) -> StoredCheckpoint | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM checkpoints WHERE tree_size = $1", tree_size)
        return _checkpoint(row) if row else None

    async def since(self, tree_size: int, limit: int | None = None) -> list[StoredCheckpoint]:
        """Checkpoints of size ``>= tree_size``, smallest first."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT * FROM checkpoints WHERE tree_size >= $1 ORDER BY tree_size LIMIT $2",
                tree_size, limit,
            )
        return [_checkpoint(r) for r in rows]

    async def add(self, note: str) -> tuple[StoredCheckpoint, bool]:
        """Store a signed checkpoint note; returns the row for its size and whether it is new.

        If a checkpoint of that size already exists it is kept and returned unchanged: the
        caller must compare roots (a different root there is a fork).
        """
        checkpoint = parse_checkpoint(parse_note(note).text)
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "INSERT INTO checkpoints (tree_size, root_hash, note) VALUES ($1, $2, $3)"
                " ON CONFLICT (tree_size) DO NOTHING RETURNING *",
                checkpoint.size, checkpoint.root_hash, note,
            )
            if row is not None:
                return _checkpoint(row), True
            row = await conn.fetchrow(
                "SELECT * FROM checkpoints WHERE tree_size = $1", checkpoint.size
            )
        assert row is not None, "a conflicting checkpoint row cannot disappear (append-only)"
        return _checkpoint(row), False

    async def cosignatures(self, tree_size: int) -> list[Cosignature]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT * FROM cosignatures WHERE tree_size = $1 ORDER BY witness", tree_size
            )
        return [_cosignature(r) for r in rows]

    async def cosignatures_through(self, tree_size: int) -> list[Cosignature]:
        """Every cosignature on checkpoints of size ``<= tree_size``, by size then witness."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT * FROM cosignatures WHERE tree_size <= $1 ORDER BY tree_size, witness",
                tree_size,
            )
        return [_cosignature(r) for r in rows]

    async def add_cosignature(self, tree_size: int, witness: str, key_id: str, line: str) -> bool:
        """Store one witness's cosignature line; False if it already cosigned that size."""
        async with self._pool.acquire() as conn:
            status = await conn.execute(
                "INSERT INTO cosignatures (tree_size, witness, key_id, line)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                tree_size, witness, key_id, line,
            )
        return bool(status.endswith(" 1"))
