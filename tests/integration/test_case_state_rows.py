"""A case's events and steps as rows of case_state_events (issue 14), on real PostgreSQL:
states saved event by event (appended rows and a patch of the bounded value), whole (the
trigger splits them) or created whole (`rules replay`) read back equal, from this process's
cache or reassembled by another; the bounded value stays the same size however many steps
the case has; a database of the previous release, cases (or jsonb alerts) in it, upgrades
in place; concurrent writers lose no event; the fast paths that pack columns into one text
(creating cases, recording alerts) write what the careful ones write."""

from __future__ import annotations

import asyncio
import functools
import json
import random
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, cast

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.access import Scope
from hub.adapters import case_store
from hub.adapters.case_store import PostgresCaseSession, PostgresCaseStore, StateCache
from hub.adapters.postgres import (
    MIGRATIONS,
    Pool,
    StoreError,
    create_pool,
    migrate,
    translated_errors,
)
from hub.adapters.stats_store import PostgresStatistics
from hub.adapters.workbench_store import PostgresWorkbench
from hub.reports.steps import case_steps
from schemas.alert import Alert
from streams.rules import CaseEvent, CaseState, apply, fold
from streams.rules_runner import startup_rules
from tests.case_events import NO_STEP_TYPES, STEP_TYPES, case_event
from tests.support import TCP_ADMIN_DSN, migrated_database, new_database_name, release_database

pytestmark = pytest.mark.integration

@functools.cache
def every_kind(case_id: str) -> list[CaseEvent]:
    """One event of each type (a step in every list of the state), in time order; the same
    events on every call (their data has instants taken from the clock)."""
    return [case_event(case_id, n, t, n) for n, t in enumerate([*STEP_TYPES, *NO_STEP_TYPES])]


def assessments(case_id: str, count: int, first: int = 1) -> list[CaseEvent]:
    return [case_event(case_id, n, "case.assessed", n) for n in range(first, first + count)]


async def save_each(store: PostgresCaseStore, events: Sequence[CaseEvent]) -> CaseState:
    """As the rules runner does: one transaction per event, lock, fold, save."""
    state: CaseState | None = None
    for item in events:
        async with store.transaction() as tx:
            state = apply((await tx.lock_cases({item.case_id}))[item.case_id], item)
            await tx.save_cases([state])
    assert state is not None
    return state


async def read(pool: Pool, case_id: str) -> CaseState:
    """The state another process reads: reassembled from the rows (an empty cache)."""
    async with PostgresCaseStore(pool, StateCache(0)).transaction() as tx:
        return (await tx.load_cases({case_id}))[case_id]


async def layout(pool: Pool, case_id: str) -> tuple[set[str], dict[str | None, int], int]:
    """(keys of cases.state, rows per step list, pg_column_size of cases.state)."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT ARRAY(SELECT jsonb_object_keys(state)) AS keys, pg_column_size(state) AS size"
            " FROM cases WHERE case_id = $1", case_id)
        counts = await conn.fetch("SELECT field, count(*) AS n FROM case_state_events"
                                  " WHERE case_id = $1 GROUP BY field", case_id)
    return set(row["keys"]), {r["field"]: r["n"] for r in counts}, row["size"]


@pytest.fixture(scope="module")
async def pool() -> AsyncIterator[Pool]:
    dsn = await migrated_database()
    pool = await create_pool(dsn, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()
        await release_database(dsn)


def fresh_id() -> str:
    return f"C-{uuid.uuid4().hex[:10]}"


async def test_a_case_with_many_steps_round_trips_and_its_row_stays_the_same_size(
        pool: Pool) -> None:
    """Every kind of step and 200 assessments (some arriving late), saved one event per
    transaction: read back equal by this process and by another; the bounded value holds no
    list but the parties and is as large after 200 assessments as after 20."""
    case_id = fresh_id()
    store = PostgresCaseStore(pool)
    state = await save_each(store, every_kind(case_id) + assessments(case_id, 20, 100))
    keys, rows, size_at_20 = await layout(pool, case_id)
    assert keys == case_store._BOUNDED
    assert set(rows) == case_store._ROW_FIELDS | {None}  # a row per step list, and bare events
    late = [case_event(case_id, n, "case.assessed", n % 7) for n in range(200, 380)]
    state = await save_each(store, late)
    assert len(state.assessments) == 201 and len(state.event_ids) == 223
    assert await read(pool, case_id) == state
    async with store.transaction() as tx:  # from this process's cache
        assert (await tx.lock_cases({case_id}))[case_id] is state
    _, rows, size_at_200 = await layout(pool, case_id)
    assert rows["assessments"] == 201 and sum(rows.values()) == 223
    assert size_at_200 == size_at_20
    assert state == fold(reversed([*every_kind(case_id), *assessments(case_id, 20, 100), *late]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(st.tuples(st.sampled_from([*STEP_TYPES, *NO_STEP_TYPES]),
                                 st.integers(0, 300)), min_size=1, max_size=24),
       batches=st.randoms(use_true_random=False), unread=st.booleans())
async def test_any_events_saved_in_any_batches_read_back_as_folded(
        pool: Pool, kinds: list[tuple[str, int]], batches: random.Random, unread: bool) -> None:
    """Events of any types and times, in transactions of one to three events, each saved
    after each event (so a transaction may save a case twice); with `unread`, the first
    transaction saves without having read the case (a whole write the trigger splits). Read
    back equal by another process, unlocked and locked."""
    case_id = fresh_id()
    events = [case_event(case_id, n, t, hours) for n, (t, hours) in enumerate(kinds)]
    if unread:  # the row exists (an earlier transaction locked the case), this store never read it
        async with PostgresCaseStore(pool).transaction() as tx:
            await tx.lock_cases({case_id})
    store = PostgresCaseStore(pool)
    state: CaseState | None = None
    done = 0
    while done < len(events):
        take = batches.randint(1, 3)
        async with store.transaction() as tx:
            if not (unread and done == 0):
                state = (await tx.lock_cases({case_id}))[case_id]
            for item in events[done:done + take]:
                state = apply(state, item)
                await tx.save_cases([state])
        done += take
    assert await read(pool, case_id) == state == fold(reversed(events))
    # Locked by a process that never read it (read after the lock, case_store._states).
    assert await read_locked(PostgresCaseStore(pool, StateCache(0)), case_id) == state


async def test_a_case_read_after_its_cached_state_was_evicted_is_reassembled(
        pool: Pool) -> None:
    """The row's version is known but its state is gone from the cache meanwhile: the state
    is read and reassembled after all."""

    class Forgetful(StateCache):
        def get(self, case_id: str, version: int) -> CaseState | None:
            return None

    case_id = fresh_id()
    state = await save_each(PostgresCaseStore(pool), every_kind(case_id))
    forgetful = PostgresCaseStore(pool, Forgetful())
    async with forgetful.transaction() as tx:
        assert (await tx.lock_cases({case_id}))[case_id] == state
    assert forgetful.cache.version_of(case_id) is not None
    async with forgetful.transaction() as tx:
        assert (await tx.load_cases({case_id}))[case_id] == state


async def test_statistics_and_the_workbench_read_the_whole_state(pool: Pool) -> None:
    """The other readers of cases.state: the statistics refresh derives the case's steps from
    the reassembled state, the workbench shows it. Events that change only the rows (not
    the bounded value) still queue the case for the statistics."""
    case_id = fresh_id()
    store, rules = PostgresCaseStore(pool), startup_rules()
    await save_each(store, every_kind(case_id)[:2])  # opened, assessed
    await PostgresStatistics(pool, rules).refresh()
    state = await save_each(store, every_kind(case_id)[2:])
    await PostgresStatistics(pool, rules).refresh()
    async with pool.acquire() as conn:
        steps = await conn.fetch("SELECT step, at FROM case_steps WHERE case_id = $1", case_id)
    expected = case_steps(state, rules)
    assert expected and sorted((r["step"], r["at"]) for r in steps) == sorted(
        (s.step, s.at) for s in expected)
    record = await PostgresWorkbench(pool).case(Scope(everything=True, agency_id=None), case_id)
    assert record is not None and record.state == state


async def test_a_save_over_a_moved_row_is_written_whole(pool: Pool) -> None:
    """A session that read a case without a lock saves it after another process saved it:
    the last save wins whole, and the rows are exactly its events (none of the other's)."""
    case_id = fresh_id()
    first = await save_each(PostgresCaseStore(pool), assessments(case_id, 3))
    mine = PostgresCaseStore(pool)
    async with mine.transaction() as tx:
        read_first = (await tx.load_cases({case_id}))[case_id]
        theirs = await save_each(PostgresCaseStore(pool), assessments(case_id, 1, 50))
        assert len(theirs.event_ids) == 4
        # another connection committed meanwhile; this one saves the state it read, plus one
        await tx.save_cases([apply(read_first, assessments(case_id, 1, 60)[0])])
    stored = await read(pool, case_id)
    assert stored == apply(first, assessments(case_id, 1, 60)[0])
    _, rows, _ = await layout(pool, case_id)
    assert sum(rows.values()) == 4


async def test_a_state_whose_steps_are_not_among_its_events_is_refused(pool: Pool) -> None:
    case_id = fresh_id()
    good = await save_each(PostgresCaseStore(pool), assessments(case_id, 2))
    bad = good.model_copy(update={"event_ids": good.event_ids[:1]})
    with pytest.raises(StoreError, match="belong to none of its events"):
        async with PostgresCaseStore(pool).transaction() as tx:
            await tx.save_cases([bad])
    assert await read(pool, case_id) == good


async def test_concurrent_writers_lose_no_event(pool: Pool) -> None:
    """Three processes (stores with their own caches and connections) fold events of the
    same two cases at once, one transaction per event: every event ends up in its case, once,
    and each process then holds what the rows hold (a state read under a lock granted after
    another writer committed includes that writer's rows)."""
    cases = [fresh_id(), fresh_id()]
    events = [e for c in cases for e in every_kind(c) + assessments(c, 40, 40)]
    random.Random(5).shuffle(events)
    stores = [PostgresCaseStore(pool) for _ in range(3)]

    async def writer(store: PostgresCaseStore, mine: list[CaseEvent]) -> None:
        for item in mine:
            async with store.transaction() as tx:
                state = (await tx.lock_cases({item.case_id}))[item.case_id]
                await tx.save_cases([apply(state, item)])

    await asyncio.gather(*(writer(s, events[n::3]) for n, s in enumerate(stores)))
    for case_id in cases:
        expected = fold(e for e in events if e.case_id == case_id)
        assert await read(pool, case_id) == expected
        for store in stores:
            async with store.transaction() as tx:
                assert (await tx.lock_cases({case_id}))[case_id] == expected
        _, rows, _ = await layout(pool, case_id)
        assert expected is not None and sum(rows.values()) == len(expected.event_ids)


async def test_a_lock_granted_when_another_writer_commits_reads_its_rows(pool: Pool) -> None:
    """This process waits for a case's row lock while another process saves an event and
    commits: the state it then gets (its cached version is stale) includes that event's row,
    although its locking statement began before the other's commit."""
    case_id = fresh_id()
    mine, theirs = PostgresCaseStore(pool), PostgresCaseStore(pool)
    first = await save_each(mine, assessments(case_id, 3))
    async with theirs.transaction() as tx:
        state = (await tx.lock_cases({case_id}))[case_id]
        waiting = asyncio.create_task(read_locked(mine, case_id))
        deadline = asyncio.get_running_loop().time() + 10
        while not await pool.fetchval(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND pid IN ("
                " SELECT pid FROM pg_stat_activity WHERE datname = current_database())"):
            assert asyncio.get_running_loop().time() < deadline, "never waited for the lock"
            await asyncio.sleep(0.01)
        second = apply(state, assessments(case_id, 1, 10)[0])
        await tx.save_cases([second])
    assert second != first and await waiting == second


async def read_locked(store: PostgresCaseStore, case_id: str) -> CaseState:
    async with store.transaction() as tx:
        return (await tx.lock_cases({case_id}))[case_id]


@pytest.fixture
async def empty_database() -> AsyncIterator[str]:
    name = new_database_name()
    admin = await asyncpg.connect(TCP_ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield TCP_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def upgraded(dsn: str, until: str, seed: Sequence[tuple[Any, ...]]) -> Pool:
    """`dsn` migrated as the release before migration file `until` left it, `seed`'s
    statements (SQL and arguments) run there as the owner, then migrated (`linkage-hub
    init`) twice, the second changing nothing; a pool of the hub's role on it."""
    await migrate(dsn, MIGRATIONS[:[m[1] for m in MIGRATIONS].index(until)])
    owner = await create_pool(dsn, restricted=False)
    try:
        for statement, *args in seed:
            await owner.execute(statement, *args)
    finally:
        await owner.close()
    await migrate(dsn)
    await migrate(dsn)
    return await create_pool(dsn)


async def test_a_database_of_the_previous_release_upgrades_in_place(empty_database: str) -> None:
    """Cases stored whole in cases.state (as every release before this one stored them) move
    to the rows on `migrate` (what `linkage-hub init` runs): each reads back equal, at the
    version it had, without queueing the statistics; events then save as rows; migrating
    again changes nothing."""
    many, bare = fresh_id(), fresh_id()
    states = [fold(every_kind(many) + assessments(many, 30, 100)),
              fold([case_event(bare, 0, "clue.notified", 0)])]
    seed: list[tuple[Any, ...]] = []
    for version, state in enumerate(states, start=3):
        assert state is not None
        seed.append(("INSERT INTO cases (case_id, agency, state, version) VALUES ($1, $2, $3, $4)",
                     state.case_id, state.agency, state.model_dump_json(), version))
    seed += [("INSERT INTO cases (case_id, state) VALUES ('EMPTY', '{\"case_id\": \"EMPTY\"}')",),
             ("DELETE FROM stats_dirty",)]
    pool = await upgraded(empty_database, "case_state_events.sql", seed)
    try:
        for version, state in enumerate(states, start=3):
            assert state is not None
            assert await read(pool, state.case_id) == state
            keys, rows, _ = await layout(pool, state.case_id)
            assert keys == case_store._BOUNDED and sum(rows.values()) == len(state.event_ids)
            assert await pool.fetchval("SELECT version FROM cases WHERE case_id = $1",
                                       state.case_id) == version
        assert await read(pool, "EMPTY") == CaseState(case_id="EMPTY")
        for state in [*states, CaseState(case_id="EMPTY")]:  # read locked, as replay does
            assert state is not None
            assert await read_locked(PostgresCaseStore(pool, StateCache(0)),
                                     state.case_id) == state
        assert await pool.fetchval("SELECT count(*) FROM stats_dirty") == 0
        later = await save_each(PostgresCaseStore(pool), assessments(many, 2, 500))
        assert later == fold(every_kind(many) + assessments(many, 30, 100)
                             + assessments(many, 2, 500))
        assert await read(pool, many) == later
        _, rows, _ = await layout(pool, many)
        assert sum(rows.values()) == len(later.event_ids)
    finally:
        await pool.close()


async def test_a_next_deadline_unchanged_is_not_written_again(pool: Pool) -> None:
    """set_next_due writes a row only when the deadline moves: most events move none, and an
    UPDATE makes a new row version (PostgreSQL's xmin) even when no value changes."""
    case_id = fresh_id()
    await save_each(PostgresCaseStore(pool), assessments(case_id, 1))

    async def row() -> tuple[str, object]:
        async with pool.acquire() as conn:
            found = await conn.fetchrow(
                "SELECT xmin::text AS xmin, next_due_at FROM cases WHERE case_id = $1", case_id)
        return found["xmin"], found["next_due_at"]

    async def set_due(due: datetime | None) -> None:
        async with PostgresCaseStore(pool).transaction() as tx:
            await tx.lock_cases({case_id})
            await tx.set_next_due({case_id: due})

    version, due = await row()
    assert due is None
    await set_due(None)
    assert await row() == (version, None)  # the same row version: nothing written
    at = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    await set_due(at)
    moved, due = await row()
    assert moved != version and due == at
    await set_due(at)
    assert await row() == (moved, at)
    await set_due(None)
    assert (await row())[1] is None


class Recording:
    """A connection that records the statements sent through it."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.sent: list[str] = []

    async def execute(self, query: str, *args: Any) -> Any:
        self.sent.append(query)
        return await self.conn.execute(query, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


async def test_a_locked_case_whose_deadline_does_not_move_costs_no_statement(
        pool: Pool) -> None:
    """A session knows the next deadline of the rows it locked: setting the same one again
    sends nothing; a new one is written, and the session then knows that one."""
    case_id = fresh_id()
    at = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    for due, sends in ((None, 0), (at, 1), (at, 0), (None, 1), (None, 0)):
        async with PostgresCaseStore(pool).transaction() as tx:
            await tx.lock_cases({case_id})
            recording = Recording(tx._conn)
            tx._conn = recording
            await tx.set_next_due({case_id: due})
            await tx.set_next_due({case_id: due})  # known now, whatever the first did
            assert len(recording.sent) == sends
        async with pool.acquire() as conn:
            assert await conn.fetchval(
                "SELECT next_due_at FROM cases WHERE case_id = $1", case_id) == due


@pytest.mark.parametrize("whole", [False, True])
async def test_a_case_another_writer_creates_meanwhile_is_locked_and_read_as_saved(
        pool: Pool, whole: bool) -> None:
    """lock_cases locks the cases that exist, then creates the others: one that another
    writer created (and saved events to) in between is locked and read as that writer saved
    it, not taken for a new empty case; nor, when it was to be created `whole` with an
    initial state (`rules replay`), is anything of that state written (rows, parties)."""
    case_id = fresh_id()
    folded = fold(every_kind(case_id))
    assert folded is not None
    initial = {case_id: folded} if whole else None
    async with PostgresCaseStore(pool).transaction() as tx:
        real = tx._lock
        calls: list[list[str]] = []

        async def lock(ids: Sequence[str]) -> list[Any]:
            rows = await real(ids)
            calls.append([r["case_id"] for r in rows])
            if len(calls) == 1:  # after this session looked, before it inserts
                await save_each(PostgresCaseStore(pool), assessments(case_id, 2))
            return rows

        tx._lock = lock  # type: ignore[method-assign]
        state = (await tx.lock_cases({case_id}, initial))[case_id]
        assert calls == [[], [case_id]]
        assert state == fold(assessments(case_id, 2))
        await tx.save_cases([apply(state, assessments(case_id, 1, 10)[0])])
    assert len((await read(pool, case_id)).event_ids) == 3
    _, rows, _ = await layout(pool, case_id)
    assert rows == {"assessments": 3}
    async with pool.acquire() as conn:
        assert await conn.fetchval(
            "SELECT count(*) FROM case_parties WHERE case_id = $1", case_id) == 0


async def test_locking_existing_and_new_cases_together(pool: Pool) -> None:
    old, new = fresh_id(), fresh_id()
    saved = await save_each(PostgresCaseStore(pool), assessments(old, 2))
    async with PostgresCaseStore(pool).transaction() as tx:
        states = await tx.lock_cases({new, old})
        assert states == {old: saved, new: CaseState(case_id=new)}
        await tx.set_next_due({new: None, old: None})  # both known: nothing to send


async def test_a_case_created_with_its_state_is_written_once(pool: Pool) -> None:
    """lock_cases(initial=...) (`rules replay`): a case new to the store is inserted with
    its bounded value, one row per event and its party index in one statement: at version
    0 (never rewritten), laid out as a save would lay it out, queued for the statistics."""
    case_id = fresh_id()
    state = fold(every_kind(case_id))
    assert state is not None
    async with PostgresCaseStore(pool).transaction() as tx:
        assert (await tx.lock_cases({case_id}, initial={case_id: state}))[case_id] is state
    assert await read(pool, case_id) == state
    keys, rows, _ = await layout(pool, case_id)
    assert keys == case_store._BOUNDED and sum(rows.values()) == len(state.event_ids)
    assert rows.get(None) == len(NO_STEP_TYPES)
    async with pool.acquire() as conn:
        assert await conn.fetchval(
            "SELECT version FROM cases WHERE case_id = $1", case_id) == 0
        assert await conn.fetchval(
            "SELECT agency FROM cases WHERE case_id = $1", case_id) == state.agency
        assert {tuple(r) for r in await conn.fetch(
            "SELECT id_type, id_number FROM case_parties WHERE case_id = $1", case_id)
        } == set(state.party_keys) != set()
        assert await conn.fetchval(
            "SELECT count(*) FROM stats_dirty WHERE case_id = $1", case_id) == 1


async def test_a_case_created_with_a_state_whose_steps_are_not_among_its_events_is_refused(
        pool: Pool) -> None:
    case_id = fresh_id()
    good = fold(assessments(case_id, 2))
    assert good is not None
    bad = good.model_copy(update={"event_ids": good.event_ids[:1]})
    with pytest.raises(StoreError, match="belong to none of its events"):
        async with PostgresCaseStore(pool).transaction() as tx:
            await tx.lock_cases({case_id}, initial={case_id: bad})
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM cases WHERE case_id = $1", case_id) == 0


async def test_creating_cases_queues_each_for_the_statistics_without_a_party_key(
        empty_database: str) -> None:
    """hub/sql/case_writes.sql on a database of the release before it: its party rows stay;
    case_parties has no foreign key to cases any more (its rows' cases exist by
    construction, and the hub may not delete a case); cases created together, by one
    statement (a replay's chunk), are queued for the statistics once each, by one
    statement-level trigger; a save queues its case again, as before; migrating again
    changes nothing."""
    pool = await upgraded(empty_database, "case_writes.sql", [
        ("INSERT INTO cases (case_id, state) VALUES ('OLD', '{\"case_id\": \"OLD\"}')",),
        ("INSERT INTO case_parties VALUES ('USCC', '91440000000000000X', 'OLD')",),
        ("DELETE FROM stats_dirty",)])
    try:
        assert await pool.fetchval("SELECT count(*) FROM case_parties") == 1
        assert await pool.fetchval("SELECT count(*) FROM pg_constraint"
                                   " WHERE conrelid = 'case_parties'::regclass"
                                   " AND contype = 'f'") == 0
        assert {tuple(r) for r in await pool.fetch(
            "SELECT tgname, tgtype & 1 = 1 FROM pg_trigger WHERE tgrelid = 'cases'::regclass"
            " AND tgname LIKE 'cases_stats_dirty%'")} == {
                ("cases_stats_dirty", True), ("cases_stats_dirty_inserted", False)}
        ids = [fresh_id() for _ in range(3)]
        states = {}
        for case_id in ids:
            state = fold(every_kind(case_id))
            assert state is not None
            states[case_id] = state
        async with PostgresCaseStore(pool).transaction() as tx:
            assert await tx.lock_cases(ids, initial=states) == states
        assert sorted(r[0] for r in await pool.fetch("SELECT case_id FROM stats_dirty")) == \
            sorted(ids)
        await pool.execute("DELETE FROM stats_dirty")
        later = await save_each(PostgresCaseStore(pool), assessments(ids[0], 1, 500))
        assert [r[0] for r in await pool.fetch("SELECT case_id FROM stats_dirty")] == [ids[0]]
        assert await read(pool, ids[0]) == later
        with pytest.raises(StoreError, match="permission denied"):
            async with translated_errors():
                await pool.execute("DELETE FROM cases WHERE case_id = 'OLD'")
    finally:
        await pool.close()


async def test_a_save_queues_its_cases_for_the_statistics_in_its_own_statement(
        empty_database: str) -> None:
    """hub/sql/case_saves.sql on a database of the release before it: the row trigger no
    longer fires for an update that increments `version` (the case store's saves queue
    their cases themselves), and still does for one that does not (an operator's UPDATE);
    a patch save, a whole save and several cases in one statement are each queued once, a
    save rolled back queues nothing; migrating again changes nothing."""
    pool = await upgraded(empty_database, "case_saves.sql", [
        ("INSERT INTO cases (case_id, state) VALUES ('OLD', '{\"case_id\": \"OLD\"}')",),
        ("DELETE FROM stats_dirty",)])

    async def queued() -> list[str]:
        rows = await pool.fetch("SELECT case_id FROM stats_dirty ORDER BY case_id")
        await pool.execute("DELETE FROM stats_dirty")
        return [r[0] for r in rows]

    try:
        trigger = await pool.fetchval(
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'cases'::regclass"
            " AND tgname = 'cases_stats_dirty'")
        assert trigger.endswith(
            "WHEN ((new.version = old.version)) EXECUTE FUNCTION linkage_stats_mark_dirty()")
        one, two = sorted(fresh_id() for _ in range(2))
        store = PostgresCaseStore(pool)
        first = await save_each(store, assessments(one, 2))  # created, then patched
        assert await queued() == [one]
        patched = await save_each(store, assessments(one, 1, 10))
        assert await queued() == [one]
        other = await save_each(store, assessments(two, 1))
        await queued()
        both = [apply(patched, assessments(one, 1, 20)[0]),
                apply(other, assessments(two, 1, 20)[0])]
        async with store.transaction() as tx:
            await tx.lock_cases({one, two})
            await tx.save_cases(both)
        assert await queued() == [one, two]
        async with PostgresCaseStore(pool, StateCache(0)).transaction() as tx:
            await tx.save_cases([first])  # never read in this session: saved whole
        assert await queued() == [one]
        assert await read(pool, one) == first
        with pytest.raises(RuntimeError):
            async with store.transaction() as tx:
                await tx.lock_cases({two})
                await tx.save_cases([apply(both[1], assessments(two, 1, 30)[0])])
                raise RuntimeError("rolled back")
        assert await queued() == []
        owner = await create_pool(empty_database, restricted=False)
        try:
            await owner.execute("UPDATE cases SET state = state WHERE case_id = 'OLD'")
        finally:
            await owner.close()
        assert await queued() == ["OLD"]
    finally:
        await pool.close()


async def test_a_database_with_jsonb_alert_payloads_upgrades_in_place(
        empty_database: str) -> None:
    """hub/sql/alert_storage.sql: alerts.payload of an earlier release (jsonb) becomes json
    on `migrate` (then text, json_as_text.sql), its alerts kept; from then on a payload is
    stored as the text written (the JSON the envelope signs) and an outbox envelope
    uncompressed; the outbox's foreign key is gone and the hub still may not delete an alert;
    migrating again changes nothing."""
    pool = await upgraded(empty_database, "alert_storage.sql", [(
        "INSERT INTO alerts (alert_id, rule_id, case_id, agency, status, payload)"
        " VALUES ($1, 'R', 'C-1', 'zs-aic', 'open', '{\"b\": 1,  \"a\": [2]}')",
        uuid.uuid4())])
    try:
        assert await pool.fetchval(
            "SELECT atttypid::regtype::text FROM pg_attribute"
            " WHERE attrelid = 'alerts'::regclass AND attname = 'payload'") == "text"
        assert await pool.fetchval("SELECT payload FROM alerts") == '{"a": [2], "b": 1}'
        assert tuple(await pool.fetchrow(
            "SELECT a.attstorage::text, c.reloptions FROM pg_attribute a JOIN pg_class c"
            " ON c.oid = a.attrelid WHERE a.attrelid = 'alert_outbox'::regclass"
            " AND a.attname = 'envelope'")) == ("e", ["toast_tuple_target=8160"])
        text = '{"z":1, "a":"\\u4e2d"}'
        async with PostgresCaseStore(pool).transaction() as tx:
            await tx._conn.execute(
                "INSERT INTO alerts (alert_id, rule_id, case_id, agency, status, payload)"
                " SELECT $1, 'R', 'C-2', 'zs-aic', 'open', p FROM unnest($2::json[]) AS p",
                uuid.uuid4(), [text])
        assert await pool.fetchval("SELECT payload FROM alerts WHERE case_id = 'C-2'") == text
        # The outbox's alerts exist by construction (alert_storage.sql), not by a foreign key:
        assert await pool.fetchval("SELECT count(*) FROM pg_constraint"
                                   " WHERE conrelid = 'alert_outbox'::regclass"
                                   " AND contype = 'f'") == 0
        with pytest.raises(StoreError, match="permission denied"):
            async with translated_errors():
                await pool.execute("DELETE FROM alerts")
    finally:
        await pool.close()


async def test_a_database_with_jsonb_steps_and_json_payloads_upgrades_in_place(
        empty_database: str) -> None:
    """hub/sql/json_as_text.sql on a database of the release before it: its cases (steps
    as jsonb rows) read back equal and save on as text rows; an alert's payload keeps its
    text byte for byte; the steps, the payloads and linkage_case_state are text; migrating
    again changes nothing."""
    case_id = fresh_id()
    state = fold(every_kind(case_id))
    assert state is not None
    written = '{"z":1,  "a":"\\u4e2d 中"}'
    pool = await upgraded(empty_database, "json_as_text.sql", [
        ("INSERT INTO cases (case_id, agency, state) VALUES ($1, $2, $3)",
         state.case_id, state.agency, state.model_dump_json()),
        ("INSERT INTO alerts (alert_id, rule_id, case_id, agency, status, payload)"
         " VALUES ($1, 'R', $2, 'zs-aic', 'open', $3)", uuid.uuid4(), case_id, written)])
    try:
        assert await read(pool, case_id) == state
        assert await pool.fetchval("SELECT payload FROM alerts") == written
        assert {tuple(r) for r in await pool.fetch(
            "SELECT attrelid::regclass::text, atttypid::regtype::text FROM pg_attribute"
            " WHERE (attrelid, attname) IN (('alerts'::regclass, 'payload'),"
            " ('case_state_events'::regclass, 'step'))")} == {
                ("alerts", "text"), ("case_state_events", "text")}
        assert await pool.fetchval(
            "SELECT prorettype::regtype::text FROM pg_proc WHERE proname = 'linkage_case_state'"
        ) == "text"
        later = await save_each(PostgresCaseStore(pool), assessments(case_id, 2, 500))
        assert await read(pool, case_id) == later
        assert len(later.assessments) == len(state.assessments) + 2
    finally:
        await pool.close()


_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**15, 10**15) | st.text(_CHARS, max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.text(_CHARS, max_size=4), inner, max_size=3), max_leaves=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(bounded=st.dictionaries(st.text(_CHARS, max_size=5).map("b:".__add__), _JSON,
                               max_size=4),
       events=st.dictionaries(st.text(_CHARS, min_size=1, max_size=8), st.none() | st.tuples(
           st.sampled_from(["assessments", "f \"\\ 中", "\t"]), _JSON), max_size=6),
       case_suffix=st.text(_CHARS, max_size=6))
async def test_the_whole_state_text_is_the_bounded_value_the_event_ids_and_the_steps(
        pool: Pool, bounded: dict[str, Any], events: dict[str, tuple[str, Any] | None],
        case_suffix: str) -> None:
    """linkage_case_state (hub/sql/json_as_text.sql) concatenates texts into one JSON object:
    for any bounded value (an empty one too), any ids, list names and step values (quotes,
    backslashes, control and non-ASCII characters), it parses to the bounded value with
    `event_ids` (sorted by code point) and each list's steps in their events' order."""
    case_id = fresh_id() + case_suffix
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("INSERT INTO cases (case_id, state) VALUES ($1, $2::jsonb)",
                           case_id, json.dumps(bounded))
        await conn.executemany(
            "INSERT INTO case_state_events (case_id, event_id, field, step)"
            " VALUES ($1, $2, $3, $4)",
            [(case_id, event_id, None, None) if step is None else
             (case_id, event_id, step[0], json.dumps(step[1], ensure_ascii=False))
             for event_id, step in events.items()])
        text = await conn.fetchval(
            f"SELECT {case_store.STATE_SQL} FROM cases c WHERE c.case_id = $1", case_id)
    expected: dict[str, Any] = {**bounded, "event_ids": sorted(events)}
    for event_id in sorted(events):
        step = events[event_id]
        if step is not None:
            expected.setdefault(step[0], []).append(step[1])
    assert json.loads(text) == expected


@settings(max_examples=200, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(columns=st.lists(st.lists(st.none() | st.text(st.sampled_from("a中\x1f\x1e,{}\\\"")
                                                     | _CHARS, max_size=4), max_size=5),
                        min_size=1, max_size=3))
async def test_packed_columns_split_back_into_the_very_values_or_are_declined(
        pool: Pool, columns: list[list[str | None]]) -> None:
    """case_store._packed (the fast path of creating cases and recording alerts): whatever
    it accepts, `string_to_array` as case_store._unnest writes it gives back exactly (order,
    NULLs, empty strings, non-ASCII); what it cannot send so (a separator or the NULL marker
    inside, a column of one empty string) it declines, and those go as arrays."""
    packed = case_store._packed(columns)
    ambiguous = any("\x1f" in (v or "") or v == "\x1e" for c in columns for v in c) or any(
        c == [""] for c in columns)
    assert (packed is None) == ambiguous
    if packed is not None:
        sql = f"SELECT * FROM {case_store._unnest(1, ('text',) * len(columns), (True,) * len(columns))}"
        rows = await pool.fetch(sql, *packed)
        longest = max(map(len, columns))
        assert [list(r) for r in rows] == [
            [c[i] if i < len(c) else None for c in columns] for i in range(longest)]


class RolledBack(Exception):
    """Raised to roll a tried transaction back."""


async def recorded(pool: Pool, alerts: list[Alert], envelopes: list[bytes], fresh: bool,
                   careful: bool, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The alert and outbox rows `record_alerts` writes (outbox in its order), rolled back."""
    with monkeypatch.context() as patch:
        if careful:
            patch.setattr(case_store, "_packed", lambda columns: None)
        found: list[Any] = []
        try:
            async with pool.acquire() as conn, conn.transaction():
                tx = PostgresCaseSession(conn)
                if fresh:  # the cases hold no alert: the plain INSERT
                    assert await tx.alerts_of({a.case_id for a in alerts}) == {}
                await tx.record_alerts(alerts, envelopes)
                found += [tuple(r) for r in await conn.fetch(
                    "SELECT alert_id, rule_id, case_id, agency, status, payload FROM alerts"
                    " ORDER BY alert_id")]
                found += [tuple(r) for r in await conn.fetch(
                    "SELECT alert_id, status, case_id, envelope FROM alert_outbox"
                    " ORDER BY seq")]
                raise RolledBack
        except RolledBack:
            pass
    return found


_TEXT = st.text(st.sampled_from("a中\x1f\x1e,{}\\\"") | _CHARS, max_size=4)
_RAISED = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


@settings(max_examples=150, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(_TEXT, _TEXT, _TEXT, st.sampled_from(["open", "resolved"]),
                               st.binary(max_size=8)), min_size=1, max_size=5),
       fresh=st.booleans())
async def test_record_alerts_packed_writes_what_arrays_write(
        pool: Pool, monkeypatch: pytest.MonkeyPatch,
        rows: list[tuple[str, str, str, Literal["open", "resolved"], bytes]],
        fresh: bool) -> None:
    """Any rule ids, case ids and agencies (separators, the NULL marker, empty, non-ASCII)
    and either statement (a fresh INSERT or the upsert): the rows and envelopes are the
    careful path's, in the same order."""
    alerts = [Alert(alert_id=str(uuid.uuid4()), rule_id=rule, status=status, case_id=case,
                    agency=agency, raised_at=_RAISED, due_at=None, legal_basis="SC Art 5",
                    facts={"n": 1}, message_zh="逾期。", message_en="Late.")
              for rule, case, agency, status, _ in rows]
    envelopes = [r[4] for r in rows]
    fast = await recorded(pool, alerts, envelopes, fresh, False, monkeypatch)
    careful = await recorded(pool, alerts, envelopes, fresh, True, monkeypatch)
    assert fast == careful
    assert len(fast) == 2 * len(alerts)
    assert [r[3] for r in fast[len(alerts):]] == envelopes


async def test_a_case_whose_ids_hold_the_separator_is_created_the_careful_way(
        pool: Pool) -> None:
    """A value `_packed` declines (here a party's id holding its separator) does not stop a
    replay: the case is created with its parameters as arrays, and reads back equal."""
    case_id = fresh_id()
    state = fold(every_kind(case_id))
    assert state is not None
    party = state.parties[0].model_copy(update={"id_number": "91\x1f440000"})
    state = state.model_copy(update={"parties": (party, *state.parties[1:])})
    assert case_store._packed([[k[1] for k in state.party_keys]]) is None
    async with PostgresCaseStore(pool).transaction() as tx:
        assert (await tx.lock_cases({case_id}, initial={case_id: state}))[case_id] is state
    assert await read(pool, case_id) == state
    assert ("USCC", "91\x1f440000") in {tuple(r) for r in await pool.fetch(
        "SELECT id_type, id_number FROM case_parties WHERE case_id = $1", case_id)}


def _paired(prefix: str, party: str, width: int) -> dict[str, CaseState]:
    """3,000 opened cases `<prefix><n>` (n of `width` digits) whose parties are shared in
    pairs (n and n ^ 1)."""
    states = {}
    for i in range(3000):
        case_id = f"{prefix}{i:0{width}d}"
        opened = case_event(case_id, 0, "case.opened", 0)
        opened.data["parties"][0]["id_number"] = f"{party}{i // 2:08d}"
        states[case_id] = apply(CaseState(case_id=case_id), opened)
    return states


async def test_neighbours_are_looked_up_by_key_before_the_party_index_is_analysed(
        empty_database: str) -> None:
    """case_store.NEIGHBOURS_SQL probes the party index's primary key for each party of the
    cases asked about, also while case_parties' statistics are stale (many cases just
    written, not yet analysed): the join it replaced sorted the whole table instead."""
    await migrate(empty_database)
    pool = await create_pool(empty_database)
    try:
        states = _paired("N-", "P", 5)
        async with PostgresCaseStore(pool).transaction() as tx:
            await tx.lock_cases(states, initial=states)
            asked = sorted(states)[1000:1500]
            found = await tx.neighbours(asked)
        assert found == {c: {f"N-{int(c[2:]) ^ 1:05d}"} for c in asked}
        async with PostgresCaseStore(pool).transaction() as tx:  # asked of the index
            assert await tx.neighbours(asked) == found
        async with pool.acquire() as conn:
            plan = "\n".join(r[0] for r in await conn.fetch(
                "EXPLAIN " + case_store.NEIGHBOURS_SQL[False], asked))
        assert "Index Scan using case_parties_pkey" in plan or \
            "Index Only Scan using case_parties_pkey" in plan, plan
        assert "Sort Key: b.id_type" not in plan, plan
    finally:
        await pool.close()


async def test_neighbours_generic_plan_probes_the_party_index_by_case(
        empty_database: str) -> None:
    """From its sixth call on a connection PostgreSQL may run case_store.NEIGHBOURS_SQL by a
    generic plan, made whatever case_parties held then (a replay into an empty database
    makes it while the table is small). That plan looks each asked case up in the party
    index too: before session 11 it scanned the whole table, comparing every row's case id
    with each id of the parameter (~100 µs of PostgreSQL CPU per case of a 10,000-case
    replay). Both forms of the parameter (packed, array); the answer is the same as ever."""
    await migrate(empty_database)
    pool = await create_pool(empty_database, restricted=False)
    try:
        states = _paired("G-", "Q", 4)  # a table of ~30 pages: the plan made then scanned it
        async with PostgresCaseStore(pool).transaction() as tx:
            await tx.lock_cases(states, initial=states)
        asked = sorted(states)[1000:1500]
        async with pool.acquire() as conn:
            await conn.execute("SET plan_cache_mode = force_generic_plan")
            for packed, sql_type, literal in ((True, "text", "\x1f".join(asked)),
                                              (False, "text[]", "{" + ",".join(asked) + "}")):
                await conn.execute(f"PREPARE nb{int(packed)}({sql_type}) AS "
                                   + case_store.NEIGHBOURS_SQL[packed])
                plan = "\n".join(r[0] for r in await conn.fetch(
                    f"EXPLAIN EXECUTE nb{int(packed)}($${literal}$$)"))
                assert "Seq Scan on case_parties" not in plan, plan
                assert "case_parties_case_idx" in plan, plan
                rows = await conn.fetch(f"EXECUTE nb{int(packed)}($${literal}$$)")
                assert {(r["case_id"], r["other"]) for r in rows} == {
                    (c, f"G-{int(c[2:]) ^ 1:04d}") for c in asked}
            await conn.execute("RESET plan_cache_mode")
        async with PostgresCaseStore(pool).transaction() as tx:
            for _ in range(7):  # past the calls a connection plans anew
                assert await tx.neighbours(asked) == {c: {f"G-{int(c[2:]) ^ 1:04d}"}
                                                      for c in asked}
    finally:
        await pool.close()


async def test_lock_and_alerts_of_probe_the_case_index_in_every_plan(
        empty_database: str) -> None:
    """`_lock`'s and `alerts_of`'s statements look each asked case up in the index on case_id
    (case_store._case_filter) by the custom plans of a connection's first calls as by the
    generic plan of later ones, on tables never analysed (a replay into an empty store):
    with `case_id = ANY($1)` (until session 12) the custom plan for 500 ids read the whole
    table (28 ms a call at 30,000 alerts). The answers are those of the plain filter."""
    await migrate(empty_database)
    pool = await create_pool(empty_database, restricted=False)
    try:
        await pool.execute("ALTER TABLE cases SET (autovacuum_enabled = off);"
                           " ALTER TABLE alerts SET (autovacuum_enabled = off)")
        states = _paired("K-", "K", 4)
        raised = [Alert(alert_id=str(uuid.uuid4()), rule_id=rule, status="open", case_id=c,
                        agency="zs-aic", raised_at=datetime(2026, 1, 1, tzinfo=UTC),
                        due_at=None, legal_basis="SC Art 5", facts={}, message_zh="逾期。",
                        message_en="Late.")
                  for c in sorted(states)[::2] for rule in ("HANDOVER_LATE", "SPLIT_CASES")]
        async with PostgresCaseStore(pool).transaction() as tx:
            await tx.lock_cases(states, initial=states)
            await tx.record_alerts(raised, [b"e"] * len(raised))
        asked = sorted(states)[1000:1500]
        async with PostgresCaseStore(pool).transaction() as tx:
            recording = _Recording(tx._conn)
            tx._conn = cast(asyncpg.Connection, recording)
            assert set(await tx.lock_cases(asked)) == set(asked)
            assert set(await tx.alerts_of([*asked, "K-none"])) == {
                a.alert_id for a in raised if a.case_id in asked}
            sent = recording.sent
        statements = [(next(sql for sql in sent if "FOR UPDATE" in sql), "cases", "cases_pkey"),
                      (next(sql for sql in sent if "FROM alerts" in sql), "alerts",
                       "alerts_case_idx")]
        literal = "$$" + "\x1f".join(asked) + "$$"
        async with pool.acquire() as conn:
            for mode in ("force_custom_plan", "force_generic_plan"):
                await conn.execute(f"SET plan_cache_mode = {mode}")
                for sql, table, index in statements:
                    await conn.execute(f"PREPARE asked(text) AS {sql}")
                    plan = "\n".join(r[0] for r in await conn.fetch(
                        f"EXPLAIN EXECUTE asked({literal})"))
                    await conn.execute("DEALLOCATE asked")
                    assert f"Seq Scan on {table}" not in plan, (mode, plan)
                    assert index in plan, (mode, plan)
            await conn.execute("RESET plan_cache_mode")
    finally:
        await pool.close()


class _Recording:
    """A connection that notes the SQL of every statement it runs."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.sent: list[str] = []

    def __getattr__(self, name: str) -> Any:
        run = getattr(self.conn, name)

        async def recorded(sql: str, *args: Any) -> Any:
            self.sent.append(sql)
            return await run(sql, *args)
        return recorded if name in ("fetch", "execute", "fetchval", "fetchrow") else run


_Parties = st.lists(st.lists(st.integers(0, 5), min_size=1, max_size=2), max_size=4)


@settings(max_examples=30, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(stored=_Parties, created=_Parties.filter(bool), later=_Parties,
       locked=st.integers(0, 2), moved=st.booleans())
async def test_the_neighbours_of_cases_just_created_are_what_the_party_index_says(
        pool: Pool, stored: list[list[int]], created: list[list[int]], later: list[list[int]],
        locked: int, moved: bool) -> None:
    """`neighbours` of cases `lock_cases(..., initial=...)` just created answers from what
    the creating statement found (case_store._note_neighbours) without a statement of its
    own, and its answer is NEIGHBOURS_SQL's in the same transaction: cases stored before,
    cases created beside them, a second creation in the same transaction, a case only
    locked (asked of the index), a case whose parties a save then moved."""
    prefix = fresh_id()

    def made(name: str, numbers: list[int]) -> CaseState:
        opened = case_event(f"{prefix}{name}", 0, "case.opened", 0)
        template = opened.data["parties"][0]
        opened.data["parties"] = [{**template, "id_number": f"{prefix}P{n}"} for n in numbers]
        return apply(CaseState(case_id=opened.case_id), opened)

    def of(name: str, parties: list[list[int]]) -> dict[str, CaseState]:
        return {(s := made(f"{name}{i}", numbers)).case_id: s
                for i, numbers in enumerate(parties)}

    async def indexed(conn: Any, ids: Sequence[str]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for r in await conn.fetch(case_store.NEIGHBOURS_SQL[False], list(ids)):
            found.setdefault(r["case_id"], set()).add(r["other"])
        return found

    store = PostgresCaseStore(pool)
    before = of("s", stored)
    if before:
        async with store.transaction() as tx:
            await tx.lock_cases(before, initial=before)
    async with store.transaction() as tx:
        recording = _Recording(tx._conn)
        tx._conn = cast(asyncpg.Connection, recording)
        chunk = {**of("c", created), **{c: before[c] for c in list(before)[:locked]}}
        await tx.lock_cases(chunk, initial=chunk)
        recording.sent.clear()
        found = await tx.neighbours(chunk)
        asked = [sql for sql in recording.sent if sql in case_store.NEIGHBOURS_SQL.values()]
        assert len(asked) == (1 if any(c in before for c in chunk) else 0)
        assert found == await indexed(recording.conn, list(chunk))
        second = of("l", later)
        if second:  # cases created next may share parties with the first ones
            await tx.lock_cases(second, initial=second)
            everyone = [*chunk, *second]
            assert await tx.neighbours(everyone) == await indexed(recording.conn, everyone)
        if moved:
            first = next(iter(of("c", created)))
            taken = made("m", [n + 1 for n in created[0]])
            await tx.save_cases([chunk[first].model_copy(update={"parties": taken.parties})])
            everyone = [*chunk, *second]
            assert await tx.neighbours(everyone) == await indexed(recording.conn, everyone)


async def test_a_save_whose_ids_hold_the_separator_is_sent_the_careful_way(pool: Pool) -> None:
    """The patch statement of `save_cases` sends its ids packed (`SAVE_PACKED`); a case
    whose id `_packed` declines (here it holds the separator) is saved with its parameters
    as arrays, next to a case saved in the same statement, and both read back as folded."""
    odd, usual = f"{fresh_id()}\x1f1", fresh_id()
    assert case_store._packed([[odd]]) is None
    store = PostgresCaseStore(pool)
    states = {c: apply(CaseState(case_id=c), case_event(c, 0, "case.opened", 0))
              for c in (odd, usual)}
    async with store.transaction() as tx:
        await tx.lock_cases(states, initial=states)
    for n in (1, 2):
        async with store.transaction() as tx:
            locked = await tx.lock_cases(states)
            states = {c: apply(s, case_event(c, n, "case.assessed", n))
                      for c, s in locked.items()}
            await tx.save_cases(list(states.values()))
    for case_id, state in states.items():
        assert len(state.event_ids) == 3
        assert await read(pool, case_id) == state
        assert await read_locked(PostgresCaseStore(pool, StateCache(0)), case_id) == state
