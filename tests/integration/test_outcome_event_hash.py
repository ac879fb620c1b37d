"""The receipts' look-up by event id on its hash index (hub/sql/outcome_event_hash.sql,
issue 14), on real PostgreSQL: the index is a hash index on a new database and on one of the
previous release upgraded in place, and the receipt of an event id is found through it, the
acceptance before a later rejection of other bytes naming the same id."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from hub.adapters.http_ingress import PostgresReceipts
from hub.adapters.postgres import Pool, create_pool
from tests.integration.test_case_state_rows import (
    empty_database,  # noqa: F401 (a fixture)
    upgraded,
)
from tests.support import migrated_database, release_database

pytestmark = pytest.mark.integration

TOPIC = "linkage.ingress.zs-aic"
METHOD = ("SELECT a.amname FROM pg_class i JOIN pg_am a ON a.oid = i.relam"
          " WHERE i.relname = 'ingress_outcomes_event_idx'")

OUTCOME = ("INSERT INTO ingress_outcomes (topic, kpartition, koffset, record_hash, event_id,"
           " status, reason, ledger_index, leaf_hash, received_at)"
           " VALUES ($1, 0, $2, $3, $4, $5, $6, $7, $8, $9)")


def outcomes(event_id: uuid.UUID, first: int) -> list[tuple[object, ...]]:
    """An acceptance of `event_id` at offset `first`, then a rejection of other bytes naming
    it, received later; and an acceptance of another id."""
    now = datetime.now(UTC)
    return [
        (OUTCOME, TOPIC, first, hashlib.sha256(b"a").digest(), event_id, "accepted", None, 7,
         bytes(32), now),
        (OUTCOME, TOPIC, first + 1, hashlib.sha256(b"b").digest(), event_id, "rejected",
         "BAD_SIGNATURE", None, None, now + timedelta(seconds=1)),
        (OUTCOME, TOPIC, first + 2, hashlib.sha256(b"c").digest(), uuid.uuid4(), "accepted",
         None, 8, bytes(32), now),
    ]


@pytest.fixture
async def owner_pool() -> AsyncIterator[Pool]:
    dsn = await migrated_database()
    pool = await create_pool(dsn, max_size=2, restricted=False)
    try:
        yield pool
    finally:
        await pool.close()
        await release_database(dsn)


async def found_through_the_index(pool: Pool, event_id: uuid.UUID) -> None:
    """The receipt of `event_id` is its acceptance; an unknown id has none; the look-up's plan
    reads the hash index (sequential scans off, as on a table too large to scan)."""
    receipts = PostgresReceipts(pool)
    outcome = await receipts.for_event(str(event_id))
    assert outcome is not None
    assert (outcome.status.value, outcome.ledger_index) == ("accepted", 7)
    assert await receipts.for_event(str(uuid.uuid4())) is None
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in await conn.fetch(
            "EXPLAIN SELECT * FROM ingress_outcomes WHERE event_id = $1", event_id))
    assert "ingress_outcomes_event_idx" in plan, plan


async def test_a_new_database_finds_receipts_through_a_hash_index(owner_pool: Pool) -> None:
    assert await owner_pool.fetchval(METHOD) == "hash"
    await owner_pool.execute("INSERT INTO agencies (agency_id, role, name) VALUES ('zs-aic', 'police', 'x')"
                             " ON CONFLICT DO NOTHING")
    event_id = uuid.uuid4()
    for statement, *args in outcomes(event_id, 100):
        await owner_pool.execute(statement, *args)
    await found_through_the_index(owner_pool, event_id)


async def test_an_existing_database_moves_its_index_to_hash(
        empty_database: str) -> None:  # noqa: F811 (the fixture)
    """A database of the release before (a b-tree, outcomes stored) is upgraded in place:
    the same index name, now a hash index, holding the outcomes stored before."""
    event_id = uuid.uuid4()
    pool = await upgraded(empty_database, "outcome_event_hash.sql", [
        ("INSERT INTO agencies (agency_id, role, name) VALUES ('zs-aic', 'police', 'x')"
         " ON CONFLICT DO NOTHING",), *outcomes(event_id, 100)])
    try:
        assert await pool.fetchval(METHOD) == "hash"
        await found_through_the_index(pool, event_id)
    finally:
        await pool.close()
