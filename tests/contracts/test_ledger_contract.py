"""The ledger port's contract (audit.ledger.LedgerReader + appending), run against the
in-memory ledger and PostgresLedger: same indexes, hashes, filters and proofs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from audit.ledger import LedgerEntry, NewEntry
from audit.memory import InMemoryLedger
from audit.merkle import (
    EMPTY_ROOT,
    leaf_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from hub.adapters.ledger_store import PostgresLedger
from tests.contracts.conftest import BACKENDS, PoolFactory

T0 = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


class AppendingPostgresLedger:
    """PostgresLedger with `append(entries)` the way the hub appends: in one transaction."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._ledger = PostgresLedger(pool)

    async def append(self, entries: Sequence[NewEntry]) -> list[LedgerEntry]:
        async with self._pool.acquire() as conn, conn.transaction():
            return await self._ledger.append(conn, entries)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ledger, name)


@pytest.fixture(params=BACKENDS)
async def ledger(request: pytest.FixtureRequest, new_pool: PoolFactory) -> Any:
    """create_ledger(): an empty ledger of each implementation."""
    if request.param == "memory":
        return InMemoryLedger()
    return AppendingPostgresLedger(await new_pool())


def entry(n: int, *, case_id: str | None = None, agency_id: str = "zs-aic") -> NewEntry:
    return NewEntry(
        event_id=f"00000000-0000-4000-8000-{n:012d}", agency_id=agency_id,
        case_id=case_id or f"CASE-{n % 3}", event_type="case.opened",
        event_time=T0 + timedelta(minutes=n), received_at=T0 + timedelta(minutes=n, seconds=1),
        keyid=f"key-{agency_id}", record=f'{{"n": {n}}}'.encode(),
    )


async def test_an_empty_ledger_has_the_empty_root(ledger: Any) -> None:
    head = await ledger.tree_head()
    assert (head.size, head.root_hash) == (0, EMPTY_ROOT)
    assert await ledger.entries() == []
    assert await ledger.entry_at(0) is None
    assert await ledger.entry_by_event_id(entry(0).event_id) is None
    assert await ledger.root_at(0) == EMPTY_ROOT
    assert await ledger.nodes([(0, 0)]) == {}


async def test_appends_take_the_next_indexes_and_keep_every_field(ledger: Any) -> None:
    first = await ledger.append([entry(0), entry(1)])
    second = await ledger.append([entry(2)])
    assert await ledger.append([]) == []
    assert [e.ledger_index for e in first + second] == [0, 1, 2]
    stored = await ledger.entries()
    assert stored == first + second
    assert stored[2].record == b'{"n": 2}' and stored[2].leaf_hash == leaf_hash(b'{"n": 2}')
    assert stored[1].event_time == T0 + timedelta(minutes=1)
    assert stored[1].received_at.utcoffset() is not None
    assert (stored[1].agency_id, stored[1].case_id, stored[1].keyid) == (
        "zs-aic", "CASE-1", "key-zs-aic")
    head = await ledger.tree_head()
    assert (head.size, head.root_hash) == (3, root_of([e.leaf_hash for e in stored]))


async def test_lookups_by_index_and_event_id(ledger: Any) -> None:
    appended = await ledger.append([entry(n) for n in range(5)])
    assert await ledger.entry_at(3) == appended[3]
    assert await ledger.entry_at(5) is None
    assert await ledger.entry_by_event_id(entry(4).event_id) == appended[4]
    assert await ledger.entry_by_event_id(entry(9).event_id) is None


async def test_listing_filters_by_case_agency_start_and_limit(ledger: Any) -> None:
    await ledger.append([entry(n, agency_id="zs-psb" if n % 2 else "zs-aic") for n in range(9)])
    indexes = [e.ledger_index for e in await ledger.entries(case_id="CASE-1")]
    assert indexes == [1, 4, 7]
    assert [e.ledger_index for e in await ledger.entries(agency_id="zs-psb")] == [1, 3, 5, 7]
    assert [e.ledger_index for e in await ledger.entries(case_id="CASE-1", agency_id="zs-psb")
            ] == [1, 7]
    assert [e.ledger_index for e in await ledger.entries(start=6)] == [6, 7, 8]
    assert [e.ledger_index for e in await ledger.entries(start=2, limit=2)] == [2, 3]
    assert await ledger.entries(case_id="CASE-9") == []


async def test_roots_and_proofs_verify_at_every_size(ledger: Any) -> None:
    appended = await ledger.append([entry(n) for n in range(11)])
    hashes = [e.leaf_hash for e in appended]
    roots = [root_of(hashes[:size]) for size in range(12)]
    for size in range(1, 12):
        assert await ledger.root_at(size) == roots[size]
        for index in range(size):
            proof = await ledger.inclusion_proof(index, size)
            verify_inclusion(hashes[index], index, size, proof, roots[size])
        for first in range(size + 1):
            proof = await ledger.consistency_proof(first, size)
            verify_consistency(first, size, roots[first], roots[size], proof)


@pytest.mark.parametrize("sizes", [[70], [5, 40, 3, 33]])
async def test_large_and_small_appends_store_the_same_tree(ledger: Any, sizes: list[int]) -> None:
    """Batches under and over COPY_MIN_ROWS (PostgreSQL appends those by COPY): every node and
    root equals the in-memory ledger's."""
    reference, n = InMemoryLedger(), 0
    for size in sizes:
        batch = [entry(i) for i in range(n, n + size)]
        assert await ledger.append(batch) == await reference.append(batch)
        n += size
    ids = [(level, idx) for level in range(8) for idx in range(n + 1)]
    assert await ledger.nodes(ids) == await reference.nodes(ids)
    assert await ledger.root_at(n) == await reference.root_at(n)
    assert await ledger.entries() == await reference.entries()


async def test_nodes_answers_only_the_stored_perfect_subtrees(ledger: Any) -> None:
    appended = await ledger.append([entry(n) for n in range(3)])
    found = await ledger.nodes([(0, 0), (0, 2), (1, 0), (1, 1), (2, 0)])
    assert set(found) == {(0, 0), (0, 2), (1, 0)}  # (1, 1) and (2, 0) are not perfect yet
    assert found[(0, 2)] == appended[2].leaf_hash
    assert await ledger.nodes([]) == {}


async def test_impossible_proof_requests_are_refused(ledger: Any) -> None:
    await ledger.append([entry(n) for n in range(4)])
    with pytest.raises(ValueError):
        await ledger.inclusion_proof(4, 4)
    with pytest.raises(ValueError):
        await ledger.consistency_proof(3, 2)

