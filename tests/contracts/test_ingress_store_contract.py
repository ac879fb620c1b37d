"""The ingress store port's contract (streams.ports.IngressStore), run against the in-memory
store and PostgresIngressStore: units commit or roll back whole, appends are gap-free, what
PostgreSQL cannot hold is refused (StoreRefused, never a driver type), parked records keep
their attempts and resolution."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.ledger import NewEntry
from audit.merkle import leaf_hash
from hub.adapters.ingress_store import PostgresIngressStore
from hub.adapters.postgres import create_pool, migrate
from hub.adapters.registry_store import PostgresRegistry
from schemas.receipt import ReceiptStatus
from schemas.signing import SigningKey, public_pem
from streams.errors import StoreRefused
from streams.ingress_memory import InMemoryIngressStore
from streams.ports import IngressRecord, IngressStore, StoredOutcome
from tests.contracts.conftest import BACKENDS, PoolFactory
from tests.support import migrated_database, release_database

T0 = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, new_pool: PoolFactory) -> IngressStore:
    """create_ingress_store(): an empty store of each implementation."""
    if request.param == "memory":
        return InMemoryIngressStore()
    return PostgresIngressStore(await new_pool())


def record(offset: int, value: bytes = b"v") -> IngressRecord:
    return IngressRecord("linkage.ingress.zs-aic", 0, offset, b"CASE", value + bytes([offset]))


def entry(n: int) -> NewEntry:
    return NewEntry(str(uuid.uuid4()), "zs-aic", f"CASE-{n}", "case.opened", T0, T0, "k" * 64,
                    f"record {n}".encode())


def rejected(r: IngressRecord, detail: str = "d") -> StoredOutcome:
    return StoredOutcome(r.record_key, ReceiptStatus.REJECTED, None, T0, "UNKNOWN_KEY", detail,
                         None, None, r.value)


async def test_a_unit_commits_appends_and_outcomes_together(store: IngressStore) -> None:
    entries = [entry(i) for i in range(3)]
    async with store.unit() as unit:
        appended = await unit.append(entries)
        await unit.store_outcomes([rejected(record(1))])
    assert [e.ledger_index for e in appended] == [0, 1, 2]
    assert [e.leaf_hash for e in appended] == [leaf_hash(e.record) for e in entries]
    async with store.unit() as unit:
        assert [e.ledger_index for e in await unit.append([entry(3)])] == [3]
        found = await unit.ledger_entries([entries[1].event_id, str(uuid.uuid4())])
        assert list(found) == [entries[1].event_id] and found[entries[1].event_id].ledger_index == 1
        stored = await unit.stored_outcomes([record(1).record_key, record(2).record_key])
        assert list(stored.values()) == [rejected(record(1))]


async def test_a_unit_that_fails_leaves_nothing_behind(store: IngressStore) -> None:
    with pytest.raises(ZeroDivisionError):
        async with store.unit() as unit:
            await unit.append([entry(0)])
            await unit.store_outcomes([rejected(record(1))])
            raise ZeroDivisionError
    async with store.unit() as unit:
        assert await unit.stored_outcomes([record(1).record_key]) == {}
        assert [e.ledger_index for e in await unit.append([entry(1)])] == [0]


@pytest.mark.parametrize("detail", ["nul \x00 in it", "lone \ud800 surrogate"])
async def test_what_postgresql_cannot_hold_is_refused_not_crashed(store: IngressStore,
                                                                  detail: str) -> None:
    with pytest.raises(StoreRefused) as refused:
        async with store.unit() as unit:
            await unit.store_outcomes([rejected(record(1), detail)])
    assert refused.value.reason == "store_refused"
    async with store.unit() as unit:  # and the store goes on working
        await unit.store_outcomes([rejected(record(1))])


@pytest.mark.parametrize("size", [1, 31, 32, 120])
async def test_batches_of_every_size_store_the_same_rows(store: IngressStore, size: int) -> None:
    """Small batches are inserted by statement, large ones by COPY (PostgreSQL): the rows read
    back the same, and a value PostgreSQL cannot hold refuses the batch either way."""
    entries = [entry(i) for i in range(size)]
    outcomes = [rejected(record(i), f"detail {i}") for i in range(size)]
    async with store.unit() as unit:
        appended = await unit.append(entries)
        await unit.store_outcomes(outcomes)
    assert [e.ledger_index for e in appended] == list(range(size))
    async with store.unit() as unit:
        found = await unit.ledger_entries([e.event_id for e in entries])
        assert sorted(found.values(), key=lambda e: e.ledger_index) == appended
        assert await unit.stored_outcomes([o.key for o in outcomes]) == {o.key: o for o in outcomes}
    bad = [rejected(record(size + i), "ok") for i in range(size - 1)]
    bad.append(rejected(record(2 * size), "lone \ud800 surrogate"))
    with pytest.raises(StoreRefused):
        async with store.unit() as unit:
            await unit.append([entry(size + i) for i in range(size)])
            await unit.store_outcomes(bad)
    async with store.unit() as unit:  # nothing of the refused unit stayed; the store works on
        assert [e.ledger_index for e in await unit.append([entry(-1)])] == [size]
        assert await unit.stored_outcomes([o.key for o in bad]) == {}


async def test_stored_outcomes_are_found_by_partition_offset_and_bytes(
        store: IngressStore) -> None:
    """A redelivered batch straddling what is stored (PostgreSQL first reads the highest
    stored offset of each partition): only the same position with the same bytes is found."""
    def at(partition: int, offset: int, value: bytes = b"v") -> IngressRecord:
        return IngressRecord(f"linkage.ingress.zs-{partition % 2}", partition, offset, b"K",
                             value + bytes([offset]))

    stored = [rejected(at(p, o)) for p in (0, 1, 2) for o in range(2, 6)]
    async with store.unit() as unit:
        assert await unit.stored_outcomes([at(0, 3).record_key]) == {}
        await unit.store_outcomes(stored)
    asked = [at(p, o).record_key for p in (0, 1, 2, 3) for o in range(0, 9)]
    asked += [at(0, 4, b"other").record_key, at(1, 5, b"w").record_key]
    async with store.unit() as unit:
        found = await unit.stored_outcomes(asked)
        assert found == {o.key: o for o in stored}
        assert await unit.stored_outcomes([at(2, 6).record_key, at(3, 2).record_key]) == {}


positions = st.tuples(st.integers(0, 3), st.integers(0, 12), st.sampled_from([b"a", b"b"]))


@pytest.fixture
async def dsn(_drop_test_databases: None) -> AsyncIterator[str]:
    """One migrated database for every example of a property (each uses its own topic)."""
    dsn = await migrated_database()
    yield dsn
    await release_database(dsn)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stored=st.sets(positions, max_size=25), asked=st.lists(positions, max_size=30))
def test_stored_outcomes_finds_exactly_the_stored_keys(dsn: str,
                                                       stored: set[tuple[int, int, bytes]],
                                                       asked: list[tuple[int, int, bytes]]) -> None:
    """Property (PostgreSQL): whatever is stored and asked, the partition high-water filter
    finds exactly the asked keys that are stored, as looking every key up would."""
    topic = f"linkage.ingress.p-{uuid.uuid4().hex[:8]}"

    def key(p: tuple[int, int, bytes]) -> IngressRecord:
        return IngressRecord(topic, p[0], p[1], None, p[2])

    async def run() -> None:
        pool = await create_pool(dsn, max_size=1)
        try:
            store = PostgresIngressStore(pool)
            outcomes = {key(p).record_key: rejected(key(p)) for p in stored}
            async with store.unit() as unit:
                await unit.store_outcomes(list(outcomes.values()))
            async with store.unit() as unit:
                found = await unit.stored_outcomes([key(p).record_key for p in asked])
            assert found == {k: outcomes[k] for k in (key(p).record_key for p in asked)
                             if k in outcomes}
        finally:
            await pool.close()

    asyncio.run(run())


async def test_an_outcome_is_stored_once(store: IngressStore) -> None:
    async with store.unit() as unit:
        await unit.store_outcomes([rejected(record(1))])
    with pytest.raises(StoreRefused):
        async with store.unit() as unit:
            await unit.store_outcomes([rejected(record(1))])


async def test_parked_records_count_attempts_and_keep_their_resolution(
        store: IngressStore) -> None:
    first = await store.park(record(7), "store_refused", "evidence one", T0)
    again = await store.park(record(7), "hub_bug", "evidence two", T0)
    other = await store.park(record(8), "hub_bug", "x", T0)
    assert again.parked_id == first.parked_id != other.parked_id
    assert (again.attempts, again.reason, again.evidence) == (2, "hub_bug", "evidence two")
    assert again.record == record(7)
    assert [p.parked_id for p in await store.parked()] == [first.parked_id, other.parked_id]
    await store.resolve_parked(first.parked_id, "accepted", T0)
    assert [p.parked_id for p in await store.parked()] == [other.parked_id]
    assert [p.parked_id for p in await store.parked([first.parked_id])] == []
    [resolved] = await store.parked([first.parked_id], include_resolved=True)
    assert (resolved.outcome, resolved.resolved_at) == ("accepted", T0)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_unit_reads_key_revocations_as_committed(backend: str,
                                                          new_pool: PoolFactory) -> None:
    key, other = SigningKey.generate(), SigningKey.generate()
    if backend == "memory":
        memory = InMemoryIngressStore()
        memory.revoked[key.keyid] = T0
        store: IngressStore = memory
    else:
        pool = await new_pool(restricted=False)  # the registry's writes need the owner's role
        registry = PostgresRegistry(pool)
        await registry.seed()
        for k in (key, other):
            await registry.add_key("zs-aic", public_pem(k.public_key))
        await registry.revoke_key(key.keyid, T0)
        store = PostgresIngressStore(pool)
    async with store.unit() as unit:
        assert await unit.revocations([key.keyid, other.keyid, "f" * 64]) == {key.keyid: T0}
        assert await unit.revocations([]) == {}


async def test_an_existing_database_loses_the_unread_status_index(
        _drop_test_databases: None) -> None:
    """ingress_v2.sql (session 6) drops ingress_outcomes_status_idx from a database an earlier
    release created, keeps its outcomes, and migrating again changes nothing."""
    dsn = await migrated_database()
    owner = await create_pool(dsn, restricted=False)
    index = "SELECT count(*) FROM pg_indexes WHERE indexname = 'ingress_outcomes_status_idx'"
    try:
        assert await owner.fetchval(index) == 0
        # The database as the previous release left it: the index, no ingress_v2 applied.
        await owner.execute("CREATE INDEX ingress_outcomes_status_idx"
                            " ON ingress_outcomes (status, received_at)")
        await owner.execute("DELETE FROM schema_migrations WHERE name = 'hub.sql/ingress_v2.sql'")
        store = PostgresIngressStore(owner)
        async with store.unit() as unit:
            await unit.store_outcomes([rejected(record(1))])
        await migrate(dsn)
        await migrate(dsn)
        assert await owner.fetchval(index) == 0
        async with store.unit() as unit:
            found = await unit.stored_outcomes([record(1).record_key])
        assert list(found.values()) == [rejected(record(1))]
    finally:
        await owner.close()
        await release_database(dsn)
