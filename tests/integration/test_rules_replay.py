"""`linkage-hub rules replay` on PostgreSQL (no broker): the gaps a worker left are filled,
in one process or split by case over several, and a second replay is silent."""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from audit.ledger import NewEntry
from hub.adapters.case_store import PostgresCaseStore, StateCache
from hub.adapters.ledger_store import RECORDS_SQL, PostgresLedger
from hub.adapters.postgres import create_pool
from hub.commands import rules_cmds
from hub.settings import Settings
from schemas.signing import SigningKey
from streams.memory import InMemoryCaseStore
from streams.rules_runner import RulesRunner, decode_event, rules_from_env
from tests.records import event_dict, signed
from tests.support import migrated_database, release_database

pytestmark = pytest.mark.integration

KEY = SigningKey.generate()
DAYS_AGO = datetime.now(UTC) - timedelta(days=10)


def _event(type_name: str, case_id: str, hours: float, data: dict[str, Any]) -> bytes:
    at = DAYS_AGO + timedelta(hours=hours)
    event = event_dict("zs-aic", type_name, case_id, time=at.isoformat())
    own = {k: at.isoformat() for k in event["data"] if k.endswith("_at")}
    event["data"] = {**event["data"], **own, **data}
    return signed(KEY, "zs-aic", event).value


def _cases(n: int) -> list[bytes]:
    """Penalised cases over the threshold, and cases under it whose parties are shared in
    threes (split cases); records in event-time order, as a ledger holds them."""
    records: list[tuple[float, bytes]] = []
    for i in range(n):
        case_id = f"RR-{i:03d}"
        party = f"9144{i // 3:08d}" if i % 2 else f"P{i:08d}"
        opened = {"parties": [{"kind": "organization", "id_type": "USCC", "id_number": party,
                               "name": "某公司"}]}
        amount = "20000.00" if i % 2 else "86000.00"
        records += [(0.0, _event("case.opened", case_id, 0, opened)),
                    (1.0, _event("case.assessed", case_id, 1,
                                 {"illegal_business_amount": amount}))]
        if i % 2 == 0:
            records.append((2.0, _event("penalty.decided", case_id, 2, {})))
    return [value for _, value in sorted(records, key=lambda r: r[0])]


def _ledger_entries(values: list[bytes]) -> list[NewEntry]:
    entries = []
    for value in values:
        event = decode_event(value)
        entries.append(NewEntry(event.event_id, event.agency, event.case_id, event.type_name,
                                event.time, datetime.now(UTC), "0" * 64, value))
    return entries


@pytest.fixture
async def dsn() -> AsyncIterator[str]:
    found = await migrated_database()
    yield found
    await release_database(found)


async def _alerts(store: PostgresCaseStore | InMemoryCaseStore) -> set[tuple[str, str, str]]:
    return {(a.case_id, a.rule_id, a.status) for a in await store.list_alerts()}


@pytest.mark.parametrize("jobs", [1, 2])
async def test_replay_fills_what_the_worker_missed_and_is_silent_the_second_time(
        dsn: str, tmp_path: Path, jobs: int, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    records = _cases(24)
    rules = rules_from_env({})
    reference = InMemoryCaseStore()
    await RulesRunner(reference, KEY, rules).decide(records)
    expected = await _alerts(reference)
    assert {rule for _, rule, _ in expected} >= {"PENALTY_INSTEAD_OF_TRANSFER", "SPLIT_CASES"}

    pool = await create_pool(dsn, max_size=2)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await PostgresLedger(pool).append(conn, _ledger_entries(records))
        # The worker saw every event but the penalties (lost from linkage.events, say).
        store = PostgresCaseStore(pool)
        missed = [r for r in records if decode_event(r).type_name != "penalty.decided"]
        await RulesRunner(store, KEY, rules).decide(missed)
        assert await _alerts(store) != expected

        settings = Settings.from_env({"LINKAGE_HOME": str(tmp_path),
                                      "LINKAGE_DATABASE_URL": dsn})
        settings.ensure_hub_key()
        # Several ledger pages and chunks in process (pool processes import their own).
        monkeypatch.setattr(rules_cmds, "LEDGER_CHUNK", 7)
        monkeypatch.setattr(rules_cmds, "CASE_CHUNK", 5)
        args = argparse.Namespace(rules=None, override=None, jobs=jobs)
        await rules_cmds.rules_replay(settings, args)
        first = capsys.readouterr().out
        assert f"replayed {len(records)} events (0 skipped), evaluated 24 cases" in first
        assert " 0 alerts raised" not in first
        assert await _alerts(store) == expected

        versions = await pool.fetchval("SELECT sum(version) FROM cases")
        await rules_cmds.rules_replay(settings, args)
        assert "0 alerts raised, 0 resolved" in capsys.readouterr().out
        assert await _alerts(store) == expected
        assert await pool.fetchval("SELECT sum(version) FROM cases") == versions  # no rewrite
    finally:
        await pool.close()


@pytest.mark.parametrize("seen", ["every case", "some cases"])
async def test_replay_creates_the_cases_the_worker_never_saw_and_leaves_the_others(
        dsn: str, tmp_path: Path, seen: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The worker stored every case (the replay changes nothing: no row version, no alert,
    no envelope), or only some: the others are created by the replay, each written once
    (version 0) with its party index (split cases across the two kinds are found)."""
    records = _cases(24)
    rules = rules_from_env({})
    reference = InMemoryCaseStore()
    await RulesRunner(reference, KEY, rules).decide(records)
    expected = await _alerts(reference)

    def known(value: bytes) -> bool:  # cases 3 and 5, 9 and 11 ... share a party
        return seen == "every case" or int(decode_event(value).case_id[3:]) % 4 < 2

    pool = await create_pool(dsn, max_size=2)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await PostgresLedger(pool).append(conn, _ledger_entries(records))
        store = PostgresCaseStore(pool)
        await RulesRunner(store, KEY, rules).decide([r for r in records if known(r)])
        before = await pool.fetch("SELECT case_id, version FROM cases ORDER BY case_id")
        outbox = await pool.fetchval("SELECT count(*) FROM alert_outbox")
        settings = Settings.from_env({"LINKAGE_HOME": str(tmp_path),
                                      "LINKAGE_DATABASE_URL": dsn})
        settings.ensure_hub_key()
        await rules_cmds.rules_replay(settings, argparse.Namespace(rules=None, override=None,
                                                                   jobs=1))
        out = capsys.readouterr().out
        assert await _alerts(store) == expected
        after = {r["case_id"]: r["version"] for r in await pool.fetch(
            "SELECT case_id, version FROM cases")}
        assert len(after) == 24 and {r["case_id"]: r["version"] for r in before}.items() \
            <= after.items()
        assert all(after[c] == 0 for c in after.keys() - {r["case_id"] for r in before})
        async with reference.transaction() as ref, \
                PostgresCaseStore(pool, StateCache(0)).transaction() as tx:
            ids = set(after)
            assert await tx.load_cases(ids) == await ref.load_cases(ids)
            assert await tx.neighbours(ids) == await ref.neighbours(ids)
        if seen == "every case":
            assert "0 alerts raised, 0 resolved" in out
            assert await pool.fetchval("SELECT count(*) FROM alert_outbox") == outbox
        else:
            assert " 0 alerts raised" not in out
    finally:
        await pool.close()


def _filler(first: int, count: int, size: int) -> list[NewEntry]:
    """`count` ledger entries of `size`-byte records over seven cases (not events: the
    ledger read does not parse them)."""
    return [NewEntry(str(uuid.uuid4()), "zs-aic", f"F-{i % 7}", "case.opened", DAYS_AGO,
                     DAYS_AGO, "0" * 64, b"%08d" % i + b"x" * (size - 8))
            for i in range(first, first + count)]


async def test_the_ledger_read_is_in_ledger_order_where_the_heap_is_not(dsn: str) -> None:
    """PostgresLedger.records reads without ORDER BY and sorts what it gets: entries appended
    into the space an aborted append left (freed by VACUUM) lie before earlier entries in
    the table, and still come back in ledger order, each partition's exactly once, also
    when PostgreSQL reads the table in its own order (a sequential scan, forced here)."""
    pool = await create_pool(dsn, max_size=2)
    owner = await create_pool(dsn, restricted=False)
    in_heap_order = await asyncpg.create_pool(dsn, min_size=1, max_size=1, server_settings={
        "enable_indexscan": "off", "enable_bitmapscan": "off"})
    ledger = PostgresLedger(pool)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await ledger.append(conn, _filler(0, 20, 400))
        with pytest.raises(RuntimeError):
            async with pool.acquire() as conn, conn.transaction():
                await ledger.append(conn, _filler(20, 40, 1500))
                raise RuntimeError("aborted append")
        async with pool.acquire() as conn, conn.transaction():
            await ledger.append(conn, _filler(20, 20, 400))
        await owner.execute("VACUUM ledger")
        async with owner.acquire() as conn, conn.transaction():  # a fresh target block
            await PostgresLedger(owner).append(conn, _filler(40, 20, 400))
        heap = [r[0] for r in await owner.fetch("SELECT ledger_index FROM ledger ORDER BY ctid")]
        assert heap != sorted(heap)  # the premise: the table's order is not the ledger's
        every = await ledger.records(0, 60)
        assert [i for i, _ in every] == list(range(60))
        assert all(r.startswith(b"%08d" % i) for i, r in every)
        assert await PostgresLedger(in_heap_order).records(0, 60) == every
        parts = [await PostgresLedger(in_heap_order).records(10, 50, part, 3)
                 for part in range(3)]
        for found in parts:
            assert [i for i, _ in found] == sorted(i for i, _ in found)
        assert sorted(e for found in parts for e in found) == every[10:50]
    finally:
        await in_heap_order.close()
        await owner.close()
        await pool.close()


async def test_a_ledger_page_reads_only_its_range_before_the_ledger_is_analysed(
        dsn: str) -> None:
    """Right after a bulk load (no statistics), reading a page of a partition visits the
    page's entries only and sorts nothing: the read it replaced (ORDER BY ... LIMIT from the
    page to the end) read and sorted the whole rest of the ledger for every page."""
    pool = await create_pool(dsn, max_size=2)
    try:
        async with pool.acquire() as conn, conn.transaction():
            await PostgresLedger(pool).append(conn, _filler(0, 3000, 300))
        async with pool.acquire() as conn:
            plan = json.loads(await conn.fetchval(
                "EXPLAIN (ANALYZE, FORMAT JSON) " + RECORDS_SQL, 1000, 1100, 0, 2))
        nodes, visited = [plan[0]["Plan"]], 0
        while nodes:
            node = nodes.pop()
            assert "Sort" not in node["Node Type"], plan
            if node["Node Type"] in ("Seq Scan", "Bitmap Heap Scan", "Index Scan",
                                     "Index Only Scan", "Parallel Seq Scan"):
                visited += node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
            nodes += node.get("Plans", [])
        assert 0 < visited <= 100, plan
    finally:
        await pool.close()
