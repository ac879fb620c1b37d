"""PostgresLedger's Merkle nodes stored as runs (`insert_nodes`, NODE_RUNS_SQL): the table
holds exactly the nodes given, and refuses a hash of another length as row by row did."""

from __future__ import annotations

import asyncpg
import pytest

from audit.merkle import CompactRange, leaf_hash
from hub.adapters.ledger_store import insert_nodes
from tests.contracts.conftest import PoolFactory


async def stored(conn: asyncpg.Connection) -> list[tuple[int, int, bytes]]:
    rows = await conn.fetch("SELECT level, idx, hash FROM ledger_nodes ORDER BY level, idx")
    return [(r["level"], r["idx"], bytes(r["hash"])) for r in rows]


async def test_the_nodes_of_appends_are_stored_as_given(new_pool: PoolFactory) -> None:
    pool = await new_pool()
    tree, given = CompactRange(0, []), []
    async with pool.acquire() as conn:
        for start, count in ((0, 1), (1, 500), (501, 3), (504, 257)):
            nodes = tree.extend(leaf_hash(b"%d" % i) for i in range(start, start + count))
            async with conn.transaction():
                await insert_nodes(conn, nodes)
            given += nodes
        assert await stored(conn) == sorted(given)


async def test_scattered_nodes_are_stored_as_given(new_pool: PoolFactory) -> None:
    pool = await new_pool()
    nodes = [(3, 9, b"a" * 32), (0, 7, b"b" * 32), (0, 5, b"c" * 32), (0, 6, b"d" * 32),
             (3, 2, b"e" * 32), (12, 0, b"f" * 32)]
    async with pool.acquire() as conn:
        async with conn.transaction():
            await insert_nodes(conn, nodes)
        assert await stored(conn) == sorted(nodes)


@pytest.mark.parametrize("length", [31, 33])
async def test_a_hash_of_another_length_is_refused(new_pool: PoolFactory, length: int) -> None:
    pool = await new_pool()
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.CheckViolationError):
            async with conn.transaction():
                await insert_nodes(conn, [(0, 0, b"a" * 32), (0, 1, b"b" * length)])
        assert await stored(conn) == []
