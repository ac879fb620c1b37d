"""case_state_events' keys under COLLATE "C" (hub/sql/case_rows_c.sql, issue 14), on real
PostgreSQL: both key columns compare as bytes on a new database and on one of the previous
release upgraded in place (rows kept), a case still round-trips through them, the key still
refuses a second row of an event, and a case's rows are found through the key."""

from __future__ import annotations

import json

import asyncpg
import pytest

from hub.adapters.case_store import PostgresCaseStore
from hub.adapters.postgres import Pool
from tests.integration import test_case_state_rows as rows
from tests.integration.test_case_state_rows import empty_database, pool  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration

COLLATIONS = ("SELECT a.attname, c.collname FROM pg_attribute a"
              " JOIN pg_collation c ON c.oid = a.attcollation"
              " WHERE a.attrelid = 'case_state_events'::regclass"
              " AND a.attname IN ('case_id', 'event_id')")


async def bytewise(db: Pool) -> None:
    assert {r["attname"]: r["collname"] for r in await db.fetch(COLLATIONS)} == {
        "case_id": "C", "event_id": "C"}


async def test_a_case_round_trips_through_bytewise_keys(
        pool: Pool) -> None:  # noqa: F811 (the fixture)
    await bytewise(pool)
    case_id = rows.fresh_id()
    state = await rows.save_each(PostgresCaseStore(pool), rows.every_kind(case_id))
    assert await rows.read(pool, case_id) == state
    async with pool.acquire() as conn, conn.transaction():
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute("INSERT INTO case_state_events (case_id, event_id)"
                               " VALUES ($1, $2)", case_id, state.event_ids[0])
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in await conn.fetch(
            "EXPLAIN SELECT * FROM case_state_events WHERE case_id = $1", case_id))
    assert "case_state_events_pkey" in plan, plan


async def test_an_existing_database_keeps_its_rows(
        empty_database: str) -> None:  # noqa: F811 (the fixture)
    seed = [("INSERT INTO cases (case_id, agency, state) VALUES ('A', 'zs-aic',"
             " '{\"case_id\": \"A\"}')",),
            ("INSERT INTO case_state_events (case_id, event_id, field, step) VALUES"
             " ('A', 'e-b', NULL, NULL), ('A', 'e-a', 'handovers', '{\"event_id\": \"e-a\"}')",)]
    upgraded_pool = await rows.upgraded(empty_database, "case_rows_c.sql", seed)
    try:
        await bytewise(upgraded_pool)
        whole = json.loads(await upgraded_pool.fetchval(
            "SELECT linkage_case_state(case_id, state) FROM cases WHERE case_id = 'A'"))
        assert whole == {"case_id": "A", "event_ids": ["e-a", "e-b"],
                         "handovers": [{"event_id": "e-a"}]}
    finally:
        await upgraded_pool.close()
