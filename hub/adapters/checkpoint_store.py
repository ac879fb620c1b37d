"""PostgreSQL implementation of the checkpoint store port (audit.checkpoint_store)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from audit.checkpoint import parse_checkpoint
from audit.checkpoint_store import Cosignature, StoredCheckpoint
from audit.note import parse_note


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
