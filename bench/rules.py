"""Rules runner benchmark: CPU µs per event as a function of how many events the case already has.

What is measured, honestly:

1. setup (not timed): `--cases` cases on a fresh database of the local PostgreSQL, each given
   N prior events through `RulesRunner.decide` (a `case.opened`, then assessments, evidence
   handovers and their receipts in turn), for N in `--sizes`;
2. timed: `--rounds` rounds, each one batch of one new `case.assessed` per case through
   `RulesRunner.decide` (as the rules agent calls it for a batch of `linkage.events`: decode,
   processed check, row locks, fold, save, related cases, assess, alert diff, outbox), with
   `time.process_time()` of this process around the calls, and the CPU of the PostgreSQL
   backend serving it from /proc (when the server runs on this machine), per event.

The figure to watch is how the µs per event grow from 1 to 50 prior events; the absolute
figure includes decoding the DSSE envelope but no signature check (the ingress does that).
`--profile` prints the top functions (cProfile, cumulative) of the largest size.

    python bench/rules.py [--sizes 1,5,20,50] [--cases 40] [--rounds 10] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg

from connectors.events import build_event
from hub.adapters.case_store import PostgresCaseStore
from hub.adapters.postgres import create_pool, migrate
from schemas.dsse import EVENT_PAYLOAD_TYPE
from schemas.signing import SigningKey
from streams.rules_runner import RulesRunner, rules_from_env

KEY = SigningKey.generate()
BASE = datetime.now(UTC) - timedelta(days=3)


def record(case_id: str, type_name: str, hours: float, data: dict[str, Any]) -> bytes:
    """A signed DSSE envelope over one CloudEvent, as `linkage.events` carries it."""
    _, raw = build_event("zs-aic", type_name, case_id, data, event_id=str(uuid.uuid4()),
                         time=BASE + timedelta(hours=hours))
    return KEY.sign_envelope(EVENT_PAYLOAD_TYPE, raw).to_json_bytes()


def at(hours: float) -> str:
    return (BASE + timedelta(hours=hours)).isoformat()


def prior_event(case_id: str, n: int) -> bytes:
    """The case's n-th event (0: opened; then assessments, handovers, receipts in turn)."""
    if n == 0:
        return record(case_id, "case.opened", 0, {
            "offence": "trademark_counterfeiting", "opened_at": at(0), "summary": "假冒注册商标",
            "parties": [{"kind": "organization", "id_type": "USCC",
                         "id_number": f"P{case_id}", "name": "某公司"}]})
    hours = n * 0.1
    if n % 3 == 1:
        return assessed(case_id, hours, n)
    handover = f"H{(n + 1) // 3}"
    if n % 3 == 2:
        return record(case_id, "evidence.handed_over", hours, {
            "handover_id": handover, "to_agency": "zs-psb", "handed_over_at": at(hours),
            "items": [{"item_id": f"I{i}", "description": "假冒商品", "quantity": 3}
                      for i in range(3)]})
    return record(case_id, "evidence.received", hours, {
        "handover_id": handover, "received_at": at(hours), "discrepancies": []})


def assessed(case_id: str, hours: float, n: int) -> bytes:
    return record(case_id, "case.assessed", hours, {
        "assessed_at": at(hours), "illegal_business_amount": f"{10 + n}000.00",
        "sales_amount": f"{5 + n}000.00"})


def backend_cpu(pid: int | None) -> float:
    """utime + stime of a local process in seconds (0 when it is not readable)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_size(dsn: str, size: int, cases: int, rounds: int,
                   profile: cProfile.Profile | None) -> tuple[float, float]:
    """(runner CPU µs, PostgreSQL backend CPU µs) per event at `size` prior events."""
    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            pid: int | None = await conn.fetchval("SELECT pg_backend_pid()")
        if not Path(f"/proc/{pid}").exists():
            pid = None
        runner = RulesRunner(PostgresCaseStore(pool), KEY, rules_from_env())
        ids = [f"S{size}-{i:04d}" for i in range(cases)]
        for n in range(size):
            await runner.decide([prior_event(c, n) for c in ids])
        batches = [[assessed(c, 100 + r, 1000 + r) for c in ids] for r in range(rounds)]
        cpu = pg = 0.0
        for batch in batches:
            pg_start, started = backend_cpu(pid), time.process_time()
            if profile is not None:
                profile.enable()
            await runner.decide(batch)
            if profile is not None:
                profile.disable()
            cpu += time.process_time() - started
            pg += backend_cpu(pid) - pg_start
        events = cases * rounds
        return cpu / events * 1e6, pg / events * 1e6
    finally:
        await pool.close()


async def run(dsn: str, sizes: list[int], cases: int, rounds: int, profile: bool) -> None:
    await migrate(dsn)
    print(f"{'prior events':>12}  {'runner CPU µs/event':>20}  {'PostgreSQL CPU µs/event':>24}")
    for size in sizes:
        prof = cProfile.Profile() if profile and size == max(sizes) else None
        runner_us, pg_us = await one_size(dsn, size, cases, rounds, prof)
        print(f"{size:>12}  {runner_us:>20,.0f}  {pg_us:>24,.0f}")
        if prof is not None:
            pstats.Stats(prof).sort_stats("cumulative").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,5,20,50")
    parser.add_argument("--cases", type=int, default=40, help="cases per size (one batch)")
    parser.add_argument("--rounds", type=int, default=10, help="timed batches per size")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    from tests.support import stop_embedded, tcp_database

    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {sys.version.split()[0]}, "
          f"{args.cases} cases x {args.rounds} batches per size")
    try:
        asyncio.run(run(tcp_database(), [int(s) for s in args.sizes.split(",")],
                        args.cases, args.rounds, args.profile))
    except asyncpg.PostgresError as exc:
        raise SystemExit(f"PostgreSQL: {exc}") from exc
    finally:
        stop_embedded()  # drops the benchmark's database


if __name__ == "__main__":
    main()
