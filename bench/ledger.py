"""Ledger benchmark: appends/s with tree maintenance, proof latency at 10^4..10^6 entries, full-verify rate.

    python bench/ledger.py                       # sizes 10^4, 10^5, 10^6
    python bench/ledger.py --sizes 1000,5000     # a quick smoke run

Uses LINKAGE_DATABASE_URL (an empty, migrated-or-not database) if set, else creates a
fresh database on the PostgreSQL at 127.0.0.1:5432 (LINKAGE_TEST_TCP_DSN) and drops it
afterwards. Every record is a real DSSE envelope signed by a registered agency key, so
the full verify re-checks signatures as `linkage-hub ledger verify` does.

The first size is appended through PostgresLedger.append (the ingress path, with node
and head maintenance in each transaction); larger sizes are bulk-loaded: their perfect
nodes come from CompactRange and rows are COPYed in one transaction under the head lock.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.checkpointer import Checkpointer
from audit.ledger import NewEntry
from audit.merkle import leaf_hash, verify_consistency, verify_inclusion
from audit.note_keys import Ed25519Signer
from audit.recheck import ParallelSignatureCheck, SignatureCheck, verify_ledger
from connectors.events import build_event
from hub.adapters.checkpoint_store import PostgresCheckpointStore
from hub.adapters.ledger_store import PostgresLedger
from hub.adapters.postgres import create_pool, migrate
from hub.adapters.registry_store import PostgresRegistry
from schemas.dsse import EVENT_PAYLOAD_TYPE
from schemas.signing import SigningKey, public_pem

AGENCY = "zs-aic"
ORIGIN = "bench.linkage-hub/ledger"
CHUNK = 50_000
DATA = {"to_agency": "zs-psb", "summary": "疑似假冒注册商标灯具，请协查 / suspected counterfeit marks"}
LEDGER_COLUMNS = ["ledger_index", "event_id", "agency_id", "case_id", "event_type",
                  "event_time", "received_at", "keyid", "record", "leaf_hash"]

Row = tuple[str, str, bytes]  # event id, case id, signed record


def make_records(seed: bytes, start: int, count: int) -> list[Row]:
    """Signed clue.notified envelopes for indexes [start, start+count) (runs in a subprocess)."""
    key = SigningKey(Ed25519PrivateKey.from_private_bytes(seed))
    rows = []
    for i in range(start, start + count):
        case_id = f"AIC-BENCH-{i // 4}"
        event_id, event = build_event(AGENCY, "clue.notified", case_id, DATA, validate=False)
        rows.append((event_id, case_id, key.sign_envelope(EVENT_PAYLOAD_TYPE, event).to_json_bytes()))
    return rows


async def generate(executor: ProcessPoolExecutor, seed: bytes, start: int, count: int,
                   workers: int) -> list[Row]:
    loop = asyncio.get_running_loop()
    step = -(-count // workers)
    parts = await asyncio.gather(*[
        loop.run_in_executor(executor, make_records, seed, s, min(step, start + count - s))
        for s in range(start, start + count, step)])
    return [row for part in parts for row in part]


def new_entries(rows: Sequence[Row], keyid: str, now: datetime) -> list[NewEntry]:
    return [NewEntry(e, AGENCY, c, "clue.notified", now, now, keyid, r) for e, c, r in rows]


async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await fn()
    return time.perf_counter() - started


async def append_rate(pool: asyncpg.Pool, ledger: PostgresLedger, entries: list[NewEntry],
                      batch: int) -> float:
    async def run() -> None:
        for i in range(0, len(entries), batch):
            async with pool.acquire() as conn, conn.transaction():
                await ledger.append(conn, entries[i:i + batch])

    return len(entries) / await timed(run)


async def bulk_load(pool: asyncpg.Pool, ledger: PostgresLedger, executor: ProcessPoolExecutor,
                    seed: bytes, keyid: str, target: int, workers: int) -> float:
    """Extend the ledger to ``target`` entries with COPY; returns entries/s (incl. signing)."""
    started = time.perf_counter()
    async with pool.acquire() as conn, conn.transaction():
        tree = await ledger.lock_head(conn)
        first = tree.size
        while tree.size < target:
            count = min(CHUNK, target - tree.size)
            rows = await generate(executor, seed, tree.size, count, workers)
            now = datetime.now(UTC)
            hashes = [leaf_hash(r) for _, _, r in rows]
            start = tree.size
            nodes = tree.extend(hashes)
            await conn.copy_records_to_table("ledger", columns=LEDGER_COLUMNS, records=[
                (start + k, uuid.UUID(e), AGENCY, c, "clue.notified", now, now, keyid, r, h)
                for k, ((e, c, r), h) in enumerate(zip(rows, hashes, strict=True))])
            await conn.copy_records_to_table("ledger_nodes", columns=["level", "idx", "hash"],
                                             records=nodes)
        await conn.execute(
            "UPDATE ledger_head SET size = $1, frontier = $2, root_hash = $3 WHERE singleton",
            tree.size, tree.to_list(), tree.root())
    return (target - first) / (time.perf_counter() - started)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def proof_times(ledger: PostgresLedger, size: int, samples: int) -> tuple[float, float]:
    """Median ms of an inclusion proof and of a consistency proof (query + build)."""
    rng = random.Random(size)
    root = await ledger.root_at(size)
    inclusion, consistency = [], []
    for _ in range(samples):
        index = rng.randrange(size)
        started = time.perf_counter()
        proof = await ledger.inclusion_proof(index, size)
        inclusion.append(time.perf_counter() - started)
        entry = await ledger.entry_at(index)
        assert entry is not None
        verify_inclusion(entry.leaf_hash, index, size, proof, root)
    for _ in range(samples):
        first = rng.randrange(1, size + 1)
        started = time.perf_counter()
        proof = await ledger.consistency_proof(first, size)
        consistency.append(time.perf_counter() - started)
    verify_consistency(first, size, await ledger.root_at(first), root, proof)
    return median_ms(inclusion), median_ms(consistency)


async def fresh_database() -> tuple[str, Callable[[], Awaitable[None]]]:
    dsn = os.environ.get("LINKAGE_DATABASE_URL")
    if dsn:
        async def keep() -> None:
            return None

        return dsn, keep
    admin = os.environ.get("LINKAGE_TEST_TCP_DSN", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")
    name = f"linkage_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()

    async def drop() -> None:
        c = await asyncpg.connect(admin)
        try:
            await c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await c.close()

    return admin.rsplit("/", 1)[0] + f"/{name}", drop


async def run(sizes: list[int], verify_max: int, samples: int, workers: int) -> None:
    dsn, cleanup = await fresh_database()
    executor = ProcessPoolExecutor(workers)
    try:
        await migrate(dsn)
        pool = await create_pool(dsn, max_size=4, restricted=False)
        try:
            await bench(pool, executor, sizes, verify_max, samples, workers)
        finally:
            await pool.close()
    finally:
        executor.shutdown()
        await cleanup()


async def bench(pool: asyncpg.Pool, executor: ProcessPoolExecutor, sizes: list[int],
                verify_max: int, samples: int, workers: int) -> None:
    ledger, store = PostgresLedger(pool), PostgresCheckpointStore(pool)
    if (await ledger.tree_head()).size:
        raise SystemExit("账本非空 / the ledger is not empty: use an empty database")
    registry = PostgresRegistry(pool)
    await registry.seed()
    seed = os.urandom(32)
    key = SigningKey(Ed25519PrivateKey.from_private_bytes(seed))
    keyid = await registry.add_key(AGENCY, public_pem(key.public_key))
    keys = (await registry.snapshot()).keys
    checkpointer = Checkpointer(ledger, store, Ed25519Signer.generate(ORIGIN))
    async with pool.acquire() as conn:
        version = conn.get_server_version()
    print(f"PostgreSQL {version.major}.{version.minor}, {os.cpu_count()} CPUs, "
          f"records ~{len(make_records(seed, 0, 1)[0][2])} bytes", flush=True)

    first = sizes[0]
    rows = await generate(executor, seed, 0, first, workers)
    single = min(1000, first // 2)
    now = datetime.now(UTC)
    rate1 = await append_rate(pool, ledger, new_entries(rows[:single], keyid, now), 1)
    rate100 = await append_rate(pool, ledger, new_entries(rows[single:], keyid, now), 100)
    print(f"appends/s via PostgresLedger.append (nodes + head in the same transaction): "
          f"{rate1:,.0f}/s at 1 entry per transaction, {rate100:,.0f}/s at 100 per transaction",
          flush=True)
    print(f"{'entries':>10}  {'bulk load/s':>12}  {'inclusion ms':>12}  "
          f"{'consistency ms':>14}  {'full verify/s':>13}", flush=True)
    for size in sizes:
        loaded = "append"
        if size > (await ledger.tree_head()).size:
            loaded = f"{await bulk_load(pool, ledger, executor, seed, keyid, size, workers):,.0f}"
        await checkpointer.issue()
        inclusion, consistency = await proof_times(ledger, size, samples)
        verified = "skipped"
        if size <= verify_max:
            elapsed = await timed(lambda: verify_ledger(
                ledger, store, SignatureCheck(keys), checkpointer.verifier, origin=ORIGIN))
            with ParallelSignatureCheck(keys) as pooled:  # as `ledger verify` runs it
                elapsed_pooled = await timed(lambda: verify_ledger(
                    ledger, store, SignatureCheck(keys), checkpointer.verifier, origin=ORIGIN,
                    check_many=pooled))
            verified = f"{size / elapsed:,.0f} (one core), {size / elapsed_pooled:,.0f} (pool)"
        print(f"{size:>10,}  {loaded:>12}  {inclusion:>12.2f}  {consistency:>14.2f}  "
              f"{verified:>13}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="comma-separated ledger sizes, ascending")
    parser.add_argument("--verify-max", type=int, default=100_000,
                        help="run the full verify only up to this size (it re-checks every "
                             "signature: ~5-10k entries/s)")
    parser.add_argument("--samples", type=int, default=200, help="proofs timed per size")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes signing records for the bulk loads")
    args = parser.parse_args()
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    if sizes[0] < 2:
        raise SystemExit("sizes must be >= 2")
    asyncio.run(run(sizes, args.verify_max, args.samples, args.workers))


if __name__ == "__main__":
    main()
