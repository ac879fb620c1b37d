"""A released pooled connection is not reset by a query, and what a hub transaction leaves on
it is nothing (hub/adapters/postgres.py `_keep_session`; tests/unit/test_pool_reset.py scans
the code base for session-level statements)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from hub.adapters.ingress_store import PostgresIngressStore
from hub.adapters.postgres import HUB_ROLE, Pool, create_pool
from tests.support import migrated_database, release_database

pytestmark = pytest.mark.integration

SESSION = """
SELECT current_user AS role,
       current_setting('work_mem') AS work_mem,
       (SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid()
            AND locktype = 'advisory') AS advisory_locks,
       (SELECT count(*) FROM pg_cursors WHERE name <> '') AS cursors,
       (SELECT count(*) FROM pg_listening_channels()) AS listening
"""


@pytest.fixture(scope="module")
async def dsn() -> AsyncIterator[str]:
    dsn = await migrated_database()
    try:
        yield dsn
    finally:
        await release_database(dsn)


@pytest.fixture
async def pool(dsn: str) -> AsyncIterator[Pool]:
    """One connection, so every acquire gets the connection the previous one released."""
    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        yield pool
    finally:
        await pool.close()


async def _session(pool: Pool) -> dict[str, object]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(SESSION)
    assert row is not None
    return dict(row)


async def test_release_sends_no_reset_query(pool: Pool, dsn: str) -> None:
    async with pool.acquire() as conn:
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        async with conn.transaction():
            await conn.execute("SELECT 1 AS last_statement_of_the_hub")
    owner = await asyncpg.connect(dsn)
    try:
        last = await owner.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", pid)
    finally:
        await owner.close()
    # asyncpg's default reset would have been the last statement: "SELECT
    # pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;".
    assert "pg_advisory_unlock_all" not in last and "RESET ALL" not in last
    assert last.strip().rstrip(";").upper() == "COMMIT"


async def test_a_hub_transaction_leaves_nothing_on_the_connection(pool: Pool) -> None:
    before = await _session(pool)
    assert before["role"] == HUB_ROLE
    async with pool.acquire() as conn, conn.transaction():
        # Each kind of transaction-scoped state the hub uses, and a cursor.
        await conn.execute("SET LOCAL work_mem = '7MB'")
        await conn.execute("SELECT pg_advisory_xact_lock(7305162)")
        await conn.execute("DECLARE c CURSOR FOR SELECT 1")
        assert await conn.fetchval("SELECT count(*) FROM pg_cursors WHERE name = 'c'") == 1
    async with PostgresIngressStore(pool).unit() as unit:  # the ledger's append lock
        assert await unit.stored_outcomes([("t", 0, 1, b"h")]) == {}
    assert await _session(pool) == before


async def test_a_transaction_left_open_is_rolled_back_on_release(pool: Pool) -> None:
    before = await _session(pool)
    async with pool.acquire() as conn:
        await conn.execute("BEGIN")
        await conn.execute("SET LOCAL work_mem = '7MB'")
        await conn.execute("SELECT pg_advisory_xact_lock(1)")
    assert await _session(pool) == before
    async with pool.acquire() as conn:
        assert not conn.is_in_transaction()
