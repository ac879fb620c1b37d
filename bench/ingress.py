"""Ingress benchmark: signed events through connector → broker → hub workers → ledger.

One run measures every combination of engine (Tansu in memory, the three-broker Apache
Kafka cluster with SASL/SCRAM and ACLs, RF 3, min ISR 2) and number of hub worker processes
(one consumer group, topics with two partitions keyed by case id). For each: events/s end to
end with everything offered at once, then p50/p99 from the connector's send to the ledger
commit (the hub's `received_at`, stamped in the committing transaction) and to the receipt
under a paced load; beside them the raw Ed25519 verify rate of this machine and the ratio.
On Tansu it also prints the primary figure on a shared machine: CPU µs per accepted event of
each process (bench/cpu.py: ingress worker, rules worker, broker, PostgreSQL backends, this
benchmark's connector) over the throughput phase, beside the crypto floor (one agency-signature
verify + one receipt signature) measured in the same run.

    python bench/ingress.py                                  # all four, defaults below
    python bench/ingress.py --engines tansu --workers 1 -n 20000
    python bench/ingress.py --engines tansu --http 1000      # + HTTP ingress (bench/http_ingress.py)
    python bench/ingress.py --engines tansu --workers 1 --pg-statements  # + PostgreSQL CPU
        per event by statement of the ingress and rules workers (bench/pg_statements.py: the
        backends' /proc on-CPU time around each statement; it adds CPU to the workers)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg

from bench import http_ingress, pg_statements
from bench.cpu import CpuMeter, CryptoFloor, crypto_floor, descendants
from connectors.connector import Connector
from connectors.kafka_security import PLAINTEXT, KafkaSecurity
from hub.commands.up import prepare
from hub.embedded import EmbeddedBroker
from hub.settings import Settings
from schemas.signing import SigningKey
from tests.engines import cluster_hub_processes, share_hub_key, wipe
from tests.kafka_cluster import KafkaCluster, KafkaUnavailable, fetch_kafka
from tests.records import sample_data
from tests.support import HubProcess, make_database, stop_embedded

PARTITIONS = 2
HTTP_MODE = {"events": 0, "concurrency": 32}
"""Set by --http / --http-concurrency; 0 events = no HTTP run (Tansu deployments only)."""
BY_STATEMENT = {"on": False}
"""Set by --pg-statements: hook the hub processes (bench/pg_statements.py)."""


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


@dataclass
class Result:
    engine: str
    workers: int
    events: int
    throughput: float
    commit_p50: float
    commit_p99: float
    receipt_p50: float
    receipt_p99: float
    paced: int
    rate: float
    cpu: list[str]


@dataclass
class Deployment:
    """A started hub (1..n workers) and how the agency's connector reaches it."""

    workers: list[HubProcess]
    bootstrap: str
    security: KafkaSecurity
    stop_broker: object = None
    broker_pid: int | None = None


def tansu_hub(root: Path, database_url: str, workers: int) -> Deployment:
    broker = EmbeddedBroker(log_path=root / "tansu.log").start()
    processes = []
    for index in range(workers):
        process = HubProcess(home=root / f"home-{index}", database_url=database_url,
                             broker=broker, separate_rules=True)  # as `up` runs them
        process.home.mkdir(parents=True)
        processes.append(process)
    settings = Settings.from_env(dict(processes[0].env(), LINKAGE_KAFKA_PARTITIONS=str(PARTITIONS)))
    asyncio.run(prepare(settings))
    settings.hub_key()
    share_hub_key(processes)  # type: ignore[arg-type]
    assert broker.process is not None
    return Deployment(processes, broker.bootstrap, PLAINTEXT, broker.stop, broker.process.pid)


def kafka_hub(cluster: KafkaCluster, root: Path, database_url: str, workers: int) -> Deployment:
    asyncio.run(wipe(cluster))
    processes = cluster_hub_processes(cluster, root, database_url, partitions=PARTITIONS,
                                      count=workers)
    processes[0].cli("kafka", "acls", "apply")
    settings = Settings.from_env(processes[0].env())
    asyncio.run(prepare(settings))
    settings.hub_key()
    share_hub_key(processes)
    return Deployment(list(processes), cluster.bootstrap, PLAINTEXT)


async def measure(engine: str, deployment: Deployment, root: Path, n: int, paced: int,
                  rate: float) -> Result:
    first = deployment.workers[0]
    key = SigningKey.generate()
    key.write_pair(root / "keys", "zs-aic")
    first.cli("agency", "add-key", "zs-aic", str(root / "keys" / "zs-aic.pub.pem"))
    security = deployment.security
    if engine == "kafka":
        issued = first.cli("kafka", "credentials", "issue", "zs-aic", "--out", str(root / "creds"))
        security = KafkaSecurity.from_properties(issued.stdout.splitlines()[0])
    dumps = root / "pg-statements"
    if BY_STATEMENT["on"]:  # the workers inherit this process's environment (HubProcess.env)
        dumps.mkdir()
        os.environ[pg_statements.ENV] = str(dumps)
        os.environ["PYTHONPATH"] = os.pathsep.join(
            [str(pg_statements.HOOK_DIR), *filter(None, [os.environ.get("PYTHONPATH")])])
    try:
        for process in deployment.workers:
            process.start()
    finally:
        os.environ.pop(pg_statements.ENV, None)
    outbox = root / "o.sqlite"
    connector = Connector("zs-aic", key, bootstrap=deployment.bootstrap, outbox_path=outbox,
                          hub_public_key=first.hub_key().public_key, security=security)
    await connector.start()
    try:
        warm = connector.enqueue("case.opened", "WARM", sample_data("case.opened"))
        await connector.wait_for_receipt(warm, timeout=180)
        meter = await cpu_meter(deployment)
        data = sample_data("case.assessed")
        statements_before = await fresh_dumps(dumps)
        # Throughput: everything offered at once, between two measurements of the crypto floor.
        floor_before = crypto_floor()
        meter.start()
        started = time.time()
        for i in range(0, n, 500):
            connector.enqueue_many([("case.assessed", f"B-{j % 1000}", data, None, None)
                                    for j in range(i, min(n, i + 500))])
            await asyncio.sleep(0)
        await connector.wait_for_all(timeout=1800)
        throughput = n / (time.time() - started)
        # The rules process may still be folding when the last receipt arrives: its CPU per
        # event counts only once it has caught up with the ledger.
        await rules_caught_up(first.database_url)
        meter.add("PostgreSQL backends", await database_backends(first.database_url))
        meter.stop()
        floors = (floor_before, crypto_floor())
        statements = by_statement(deployment, statements_before, await fresh_dumps(dumps), n)
        # Latency: a paced load, 50 small batches per second.
        sent_at: dict[str, float] = {}
        chunk = max(1, int(rate / 50))
        started = time.time()
        for i in range(0, paced, chunk):
            ids = connector.enqueue_many([("case.assessed", f"L-{j % 1000}", data, None, None)
                                          for j in range(i, min(paced, i + chunk))])
            now = time.time()
            sent_at.update({e: now for e in ids})
            await asyncio.sleep(max(0.0, started + (i + chunk) / rate - time.time()))
        await connector.wait_for_all(timeout=900)
        if HTTP_MODE["events"] and engine == "tansu":  # the same hub, after the Kafka phases
            http_ingress.report(await http_ingress.http_bench(
                first.env(), root, key, HTTP_MODE["events"], HTTP_MODE["concurrency"]))
    finally:
        await connector.stop()
    db = sqlite3.connect(outbox)
    receipt_at = {e: datetime.fromisoformat(t).timestamp()
                  for e, t in db.execute("SELECT event_id, receipt_at FROM outbox")}
    db.close()
    conn = await asyncpg.connect(first.database_url)
    rows = await conn.fetch("SELECT event_id::text, received_at FROM ledger "
                            "WHERE event_id = ANY($1::uuid[])", list(sent_at))
    await conn.close()
    commit = [(r["received_at"].timestamp() - sent_at[r["event_id"]]) * 1000 for r in rows]
    to_receipt = [(receipt_at[e] - sent_at[e]) * 1000 for e in sent_at]
    return Result(engine, len(deployment.workers), n, throughput, pct(commit, 50),
                  pct(commit, 99), pct(to_receipt, 50), pct(to_receipt, 99), paced, rate,
                  [*cpu_lines(meter, n, *floors), *statements] if deployment.broker_pid else [])


async def fresh_dumps(directory: Path) -> dict[int, dict[str, list[int]]]:
    """The hooked workers' statement counters, once they have written them again (each does
    every 0.5 s); {} without --pg-statements."""
    if not BY_STATEMENT["on"]:
        return {}
    deadline = time.time() + 10
    started = time.time()
    while time.time() < deadline:
        files = list(directory.glob("*.json"))
        if files and all(f.stat().st_mtime > started + 0.1 for f in files):
            break
        await asyncio.sleep(0.1)
    return pg_statements.read_dumps(directory)


def by_statement(deployment: Deployment, before: dict[int, dict[str, list[int]]],
                 after: dict[int, dict[str, list[int]]], events: int) -> list[str]:
    """PostgreSQL CPU per event by statement of each worker over the throughput phase."""
    if not BY_STATEMENT["on"]:
        return []
    roles: dict[str, dict[str, list[int]]] = {}
    for process in deployment.workers:
        for role, popen in (("ingress", process.process), ("rules", process.rules_process)):
            if popen is not None and popen.pid in after:
                roles[f"{role}{'' if len(deployment.workers) == 1 else popen.pid}"] = \
                    pg_statements.difference(after[popen.pid], before.get(popen.pid, {}))
    note = ("  (backends' /proc on-CPU time around each statement: commit and the pool's reset "
            "included; the hook's /proc reads add CPU to the workers' figures above)")
    return [*pg_statements.table(roles, events, "event", top=25), note]


async def cpu_meter(deployment: Deployment) -> CpuMeter:
    """The processes whose CPU the throughput phase reads (bench/cpu.py)."""
    meter = CpuMeter()
    for process in deployment.workers:
        if isinstance(process, HubProcess):
            assert process.process is not None
            meter.add("hub ingress worker", descendants(process.process.pid))
            if process.rules_process is not None:
                meter.add("hub rules worker", descendants(process.rules_process.pid))
    if deployment.broker_pid:
        meter.add("broker (Tansu)", descendants(deployment.broker_pid))
    meter.add("PostgreSQL backends", await database_backends(deployment.workers[0].database_url))
    meter.add("connector (this bench)", [os.getpid()])
    return meter


def cpu_lines(meter: CpuMeter, events: int, before: CryptoFloor, after: CryptoFloor) -> list[str]:
    floor = CryptoFloor.bracketing(before, after)
    return [f"crypto floor             : {floor.total:,.0f} µs CPU/event (verify "
            f"{floor.verify:,.0f} + receipt signature {floor.sign:,.0f}, libsodium), the mean "
            f"of {before.total:,.0f} just before the throughput phase and {after.total:,.0f} "
            "just after",
            f"  with OpenSSL           : {floor.openssl_total:,.0f} µs CPU/event (verify "
            f"{floor.openssl_verify:,.0f} + receipt signature {floor.openssl_sign:,.0f})",
            "CPU per accepted event (throughput phase):",
            *meter.report(events, floor.total,
                          ["hub ingress worker", "hub rules worker", "PostgreSQL backends"],
                          floor.openssl_total)]


async def rules_caught_up(database_url: str, timeout: float = 600) -> None:
    """Wait until the rules have folded every ledgered event (processed_events)."""
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            behind = await conn.fetchval("SELECT (SELECT count(*) FROM ledger) - "
                                         "(SELECT count(*) FROM processed_events)")
            if behind <= 0:
                return
            await asyncio.sleep(0.2)
        print(f"(the rules were still {behind} events behind after {timeout:.0f} s)")
    finally:
        await conn.close()


async def database_backends(database_url: str) -> list[int]:
    """The PostgreSQL server processes serving the benchmark's database (not this query's)."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = "
                                "current_database() AND pid <> pg_backend_pid()")
    finally:
        await conn.close()
    return [int(r["pid"]) for r in rows]


def run_one(engine: str, workers: int, cluster: KafkaCluster | None, backend: str, n: int,
            paced: int, rate: float) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        database_url = make_database(backend, root)
        deployment = (kafka_hub(cluster, root, database_url, workers) if cluster
                      else tansu_hub(root, database_url, workers))
        try:
            return asyncio.run(measure(engine, deployment, root, n, paced, rate))
        finally:
            for process in deployment.workers:
                process.stop()
            if callable(deployment.stop_broker):
                deployment.stop_broker()
            if cluster:
                asyncio.run(wipe(cluster))


def report(results: Sequence[Result], verify: float) -> None:
    print(f"\nEd25519 verify (raw)  : {verify:,.0f} verifies/s on one core")
    print(f"{'engine':<8} {'workers':>7} {'events/s':>9} {'÷verify':>8} "
          f"{'commit p50':>11} {'p99':>7} {'receipt p50':>12} {'p99':>7}")
    for r in results:
        print(f"{r.engine:<8} {r.workers:>7} {r.throughput:>9,.0f} {r.throughput / verify:>8.3f} "
              f"{r.commit_p50:>9,.0f}ms {r.commit_p99:>5,.0f}ms {r.receipt_p50:>10,.0f}ms "
              f"{r.receipt_p99:>5,.0f}ms")
    for r in results:
        if r.cpu:
            print(f"\n{r.engine}, {r.workers} worker(s):")
            print("\n".join(r.cpu))
    if results:
        r = results[0]
        print(f"(throughput: {r.events} events offered at once; latency: {r.paced} events paced "
              f"at {r.rate:,.0f}/s; {PARTITIONS} partitions keyed by case id)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=6000, help="events for the throughput phase")
    parser.add_argument("--paced", type=int, default=3000, help="events for the latency phase")
    parser.add_argument("--rate", type=float, default=300.0, help="paced load, events/s")
    parser.add_argument("--engines", default="tansu,kafka")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--backend", choices=["tcp", "pgserver"], default="tcp")
    parser.add_argument("--http", type=int, default=0, metavar="N",
                        help="then POST N events over HTTP ingress (contract section 8)")
    parser.add_argument("--http-concurrency", type=int, default=32)
    parser.add_argument("--pg-statements", action="store_true",
                        help="Tansu: PostgreSQL CPU per event by statement of the hub workers")
    args = parser.parse_args()
    HTTP_MODE.update(events=args.http, concurrency=args.http_concurrency)
    BY_STATEMENT["on"] = args.pg_statements
    print(f"date                  : {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    verify = verify_rate()
    engines = args.engines.split(",")
    counts = [int(w) for w in args.workers.split(",")]
    results: list[Result] = []
    cluster: KafkaCluster | None = None
    try:
        if "kafka" in engines:
            try:
                fetch_kafka()
                cluster = KafkaCluster().start()
            except KafkaUnavailable as exc:
                print(f"Apache Kafka skipped: {exc}")
                engines.remove("kafka")
        for engine in engines:
            for workers in counts:
                result = run_one(engine, workers, cluster if engine == "kafka" else None,
                                 args.backend, args.n, args.paced, args.rate)
                results.append(result)
                print(f"{engine}, {workers} worker(s): {result.throughput:,.0f} events/s",
                      flush=True)
    finally:
        if cluster:
            cluster.stop()
        stop_embedded()  # stops an embedded server, drops the benchmark's TCP databases
    report(results, verify)


if __name__ == "__main__":
    main()
