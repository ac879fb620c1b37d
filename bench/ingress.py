"""Ingress benchmark: N signed events through connector → broker → ingress → ledger.

Prints events/s end to end, p50/p99 latency from the connector's send to the ledger
commit (the hub's `received_at`, stamped in the committing transaction) and to the
receipt back at the connector, the raw Ed25519 verify rate of this machine, and the
primary figure on a shared machine: CPU µs per event of each process (bench/cpu.py)
beside the crypto floor (one agency-signature verify + one receipt signature) measured
in the same run.

    python bench/ingress.py [-n 20000]            # throughput: everything offered at once
    python bench/ingress.py -n 5000 --rate 300    # latency under a paced load
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg

from bench.cpu import CpuMeter, crypto_floor, descendants
from connectors.connector import Connector
from hub.adapters.postgres import create_pool
from hub.adapters.registry_store import PostgresRegistry
from hub.commands.up import prepare
from hub.embedded import EmbeddedBroker
from hub.settings import Settings
from schemas.signing import SigningKey, public_pem
from tests.records import sample_data
from tests.support import HubProcess, make_database, stop_embedded


def verify_rate(seconds: float = 2.0) -> float:
    key = SigningKey.generate()
    message = b"x" * 600
    sig = key.sign(message)
    public = key.public_key
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(500):
            public.verify(sig, message)
        count += 500
    return count / (time.perf_counter() - started)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def run(n: int, backend: str, root: Path, database_url: str, rate: float) -> None:
    broker = EmbeddedBroker(log_path=root / "tansu.log").start()
    hub = HubProcess(home=root / "home", database_url=database_url, broker=broker,
                     separate_rules=True)  # as `up` runs them
    hub.home.mkdir(parents=True)
    settings = Settings.from_env(hub.env())
    await prepare(settings)
    key = SigningKey.generate()
    pool = await create_pool(hub.database_url, restricted=False)
    await PostgresRegistry(pool).add_key("zs-aic", public_pem(key.public_key))
    await pool.close()
    hub.start()
    connector = Connector("zs-aic", key, bootstrap=broker.bootstrap, outbox_path=root / "o.sqlite",
                          hub_public_key=settings.hub_key().public_key)
    await connector.start()
    try:
        warm = connector.enqueue("case.opened", "WARM", sample_data("case.opened"))
        await connector.wait_for_receipt(warm, timeout=120)
        meter = CpuMeter()
        assert hub.process is not None and broker.process is not None
        meter.add("hub ingress worker", descendants(hub.process.pid))
        if hub.rules_process is not None:
            meter.add("hub rules worker", descendants(hub.rules_process.pid))
        meter.add("broker (Tansu)", descendants(broker.process.pid))
        meter.add("PostgreSQL backends", await database_backends(hub.database_url))
        meter.add("connector (this bench)", [os.getpid()])
        meter.start()
        data = sample_data("case.assessed")
        sent_at: dict[str, float] = {}
        started = time.time()
        chunk = 500
        if rate:
            chunk = max(1, int(rate / 50))  # 50 small batches per second
        for i in range(0, n, chunk):
            ids = connector.enqueue_many([("case.assessed", f"B-{j % 1000}", data, None, None)
                                          for j in range(i, min(n, i + chunk))])
            now = time.time()
            sent_at.update({e: now for e in ids})
            if rate:
                await asyncio.sleep(max(0.0, started + (i + chunk) / rate - time.time()))
            else:
                await asyncio.sleep(0)
        await connector.wait_for_all(timeout=900)
        elapsed = time.time() - started
        meter.add("PostgreSQL backends", await database_backends(hub.database_url))
        meter.stop()
        import sqlite3

        db = sqlite3.connect(root / "o.sqlite")
        receipt_at = {e: datetime.fromisoformat(t).timestamp()
                      for e, t in db.execute("SELECT event_id, receipt_at FROM outbox")}
        db.close()
        conn = await asyncpg.connect(hub.database_url)
        rows = await conn.fetch("SELECT event_id::text, received_at FROM ledger WHERE event_id = ANY($1::uuid[])",
                                list(sent_at))
        await conn.close()
        commit = [(r["received_at"].timestamp() - sent_at[r["event_id"]]) * 1000 for r in rows]
        to_receipt = [(receipt_at[e] - sent_at[e]) * 1000 for e in sent_at]
        print(f"backend                  : {backend} PostgreSQL, Tansu broker, ingress and rules "
              f"workers (as `up`), 2 cores")
        print(f"events                   : {n} (accepted {len(rows)})")
        print(f"throughput               : {n / elapsed:,.0f} events/s end to end")
        print(f"send → ledger commit     : p50 {pct(commit, 50):,.0f} ms, p99 {pct(commit, 99):,.0f} ms")
        if rate:
            print(f"  (offered load paced at {rate:,.0f} events/s)")
        else:
            print("  (all events enqueued at once: latency includes queueing behind the backlog)")
        print(f"send → receipt           : p50 {pct(to_receipt, 50):,.0f} ms, p99 {pct(to_receipt, 99):,.0f} ms")
        verify_us, sign_us = crypto_floor()
        print(f"crypto floor             : {verify_us + sign_us:,.0f} µs CPU/event (verify "
              f"{verify_us:,.0f} + receipt signature {sign_us:,.0f}), measured now")
        print("CPU per accepted event   :")
        for line in meter.report(len(rows), verify_us + sign_us,
                                 ["hub ingress worker", "hub rules worker",
                                  "PostgreSQL backends"]):
            print(line)
    finally:
        await connector.stop()
        hub.stop()
        broker.stop()


async def database_backends(database_url: str) -> list[int]:
    """The PostgreSQL server processes serving the benchmark's database (not this query's)."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                                " AND pid <> pg_backend_pid()")
    finally:
        await conn.close()
    return [int(r["pid"]) for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=20000)
    parser.add_argument("--backend", choices=["tcp", "pgserver"], default="tcp")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="pace the offered load (events/s); 0 = send everything at once")
    args = parser.parse_args()
    print(f"date                     : {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"Ed25519 verify (raw)     : {verify_rate():,.0f} verifies/s on one core")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            asyncio.run(run(args.n, args.backend, Path(tmp),
                            make_database(args.backend, Path(tmp)), args.rate))
        finally:
            stop_embedded()  # stops an embedded server, drops the benchmark's TCP database


if __name__ == "__main__":
    main()
