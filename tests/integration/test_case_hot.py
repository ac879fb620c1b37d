"""Case saves as heap-only (HOT) updates (hub/sql/case_hot.sql, issue 14), on real PostgreSQL:
a save that keeps the offence adds no index entry, the offence column follows the state it
is generated from, the workbench filters by it, and a database of the previous release
upgrades in place with every case kept."""

from __future__ import annotations

import uuid

import pytest

from hub.access import Scope
from hub.adapters.case_store import PostgresCaseStore
from hub.adapters.postgres import Pool, create_pool
from hub.adapters.workbench_store import AlertFilter, PostgresWorkbench
from streams.rules import apply
from tests.integration.test_case_state_rows import (
    assessments,
    empty_database,  # noqa: F401 (a fixture)
    every_kind,
    fresh_id,
    pool,  # noqa: F401 (a fixture)
    read,
    save_each,
    upgraded,
)

pytestmark = pytest.mark.integration

HOT = ("SELECT pg_stat_get_xact_tuples_updated('cases'::regclass) AS updated,"
       " pg_stat_get_xact_tuples_hot_updated('cases'::regclass) AS hot")
"""This transaction's updates of `cases`, all and heap-only."""


async def test_a_save_that_keeps_the_offence_adds_no_index_entry(
        pool: Pool) -> None:  # noqa: F811 (the fixture)
    """Saves that change the state but not the offence are heap-only updates: no new entry
    in the indexes of `cases` (with the offence indexed as an expression of `state`, none
    was). The case reads back as saved."""
    case_id = fresh_id()
    store = PostgresCaseStore(pool)
    opened = await save_each(store, every_kind(case_id)[:1])
    assert opened.offence is not None
    state = opened
    for event in assessments(case_id, 3):
        async with store.transaction() as tx:
            before = await tx._conn.fetchrow(HOT)
            state = apply((await tx.lock_cases({case_id}))[case_id], event)
            await tx.save_cases([state])
            after = await tx._conn.fetchrow(HOT)
        assert after["updated"] - before["updated"] == 1
        assert after["hot"] - before["hot"] == 1
    assert state != opened and await read(pool, case_id) == state
    assert await pool.fetchval("SELECT offence FROM cases WHERE case_id = $1",
                               case_id) == opened.offence


async def test_the_offence_column_follows_the_state_and_filters_the_board(
        pool: Pool) -> None:  # noqa: F811 (the fixture)
    """`offence` is the stored state's offence whoever writes `state` (a save, an operator's
    UPDATE): the board's offence filter finds the case by it, and not by another."""
    case_id = fresh_id()
    opened = await save_each(PostgresCaseStore(pool), every_kind(case_id)[:1])
    assert opened.offence is not None
    await pool.execute("UPDATE cases SET state = state || '{\"offence\": \"other\"}'"
                       " WHERE case_id = $1", case_id)
    assert await pool.fetchval("SELECT offence FROM cases WHERE case_id = $1", case_id) == "other"
    await pool.execute("UPDATE cases SET state = state - 'offence' WHERE case_id = $1", case_id)
    assert await pool.fetchval("SELECT offence FROM cases WHERE case_id = $1", case_id) is None
    await pool.execute("UPDATE cases SET state = state || jsonb_build_object('offence', $2::text)"
                       " WHERE case_id = $1", case_id, opened.offence)
    await pool.execute("INSERT INTO alerts (alert_id, rule_id, case_id, agency, status, payload)"
                       " VALUES ($1, 'R', $2, 'zs-aic', 'open', '{}')", uuid.uuid4(), case_id)
    await pool.execute("UPDATE cases SET next_due_at = now() + interval '1 day'"
                       " WHERE case_id = $1", case_id)
    board = PostgresWorkbench(pool)
    everything = Scope(everything=True, agency_id=None)

    async def counted(offence: str) -> dict[str, int]:  # offset past the page: counts only
        f = AlertFilter(offence=offence, case_id=case_id)
        return (await board.board(everything, f, offset=10)).per_rule

    assert await counted(opened.offence) == {"R": 1}
    assert await counted("other") == {}
    assert (case_id, opened.offence) in {(d.case_id, d.offence)
                                         for d in await board.deadlines(everything, limit=10**6)}


async def test_a_database_of_the_previous_release_keeps_its_cases(
        empty_database: str) -> None:  # noqa: F811 (the fixture)
    """case_hot.sql on a database with cases: every row kept as it was (state, version,
    agency, deadline, update time), the offence column filled from each state, the
    expression index replaced, pages filled to 70 %; migrating again changes nothing."""
    seed = [("INSERT INTO cases (case_id, agency, state, version, next_due_at) VALUES"
             " ('A', 'zs-aic', '{\"case_id\": \"A\", \"offence\": \"cosmetics\"}', 4, now()),"
             " ('B', NULL, '{\"case_id\": \"B\"}', 0, NULL)",)]
    columns = "case_id, agency, state, version, next_due_at, updated_at"
    upgraded_pool = await upgraded(empty_database, "case_hot.sql", seed)
    try:
        owner = await create_pool(empty_database, restricted=False)
        try:
            rows = await owner.fetch(f"SELECT {columns}, offence FROM cases ORDER BY case_id")
            assert [(r["case_id"], r["agency"], r["version"], r["offence"]) for r in rows] == [
                ("A", "zs-aic", 4, "cosmetics"), ("B", None, 0, None)]
            assert rows[0]["next_due_at"] is not None and rows[1]["next_due_at"] is None
            indexes = {r["indexname"] for r in await owner.fetch(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'cases'")}
            assert "cases_offence_col_idx" in indexes and "cases_offence_idx" not in indexes
            assert await owner.fetchval("SELECT reloptions FROM pg_class"
                                        " WHERE relname = 'cases'") == ["fillfactor=70"]
            assert await owner.fetch(f"SELECT {columns}, offence FROM cases"
                                     " ORDER BY case_id") == rows  # after the second migrate
        finally:
            await owner.close()
    finally:
        await upgraded_pool.close()
