"""A fixed rules-worker workload for instruction counts: batches through `RulesRunner.decide`.

The shape of bench/ingress.py's throughput phase, as the rules worker sees it: `--cases` cases
(no opening, as the bench's `B-*` cases), each given `--prior` `case.assessed` events of the
bench's sample data first (setup), then `--measure` batches of one new assessment per case
(what a 500-record batch of one partition holds: about one event per case). Every record is
signed before anything is decided, so two runs that differ only in `--measure` differ only
in deciding those batches: run under callgrind with `--measure 0` and `--measure K`, and the
difference of the instruction counts divided by K x cases is the decide path's cost an event,
without noise (the machine's speed moves 20-40 % within the hour).

    valgrind --tool=callgrind --callgrind-out-file=/tmp/x.out \
        python bench/rules_decide.py --store memory --cases 500 --prior 5 --measure 4

`--store pg` runs the same through PostgresCaseStore on a fresh database of the local
PostgreSQL (tests/support.py): its Python side (save_cases, asyncpg's encoding) included, the
server's CPU not (another process). Deterministic: fixed event ids and times, fixed key seed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from connectors.events import build_event
from hub.adapters.faust_app import GC_THRESHOLDS
from schemas.dsse import EVENT_PAYLOAD_TYPE
from schemas.signing import SigningKey
from streams.memory import InMemoryCaseStore
from streams.ports import CaseStore
from streams.rules_runner import RulesRunner, rules_from_env

KEY = SigningKey(Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
BASE = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
DATA: dict[str, Any] = {"assessed_at": (BASE - timedelta(hours=1)).isoformat(),
                        "illegal_business_amount": "86000.00", "marks_count": 2}
"""bench/ingress.py's `sample_data("case.assessed")`, with a fixed time."""
MEASURED_AT_MOST = 8


def records(cases: int, rounds: int) -> list[list[bytes]]:
    """`rounds` batches of one signed assessment per case, each later than the one before."""
    batches = []
    for r in range(rounds):
        batch = []
        for c in range(cases):
            _, raw = build_event("zs-aic", "case.assessed", f"B-{c}", DATA,
                                 event_id=str(uuid.UUID(int=r * 1_000_003 + c + 1)),
                                 time=BASE + timedelta(seconds=r, microseconds=c))
            batch.append(KEY.sign_envelope(EVENT_PAYLOAD_TYPE, raw).to_json_bytes())
        batches.append(batch)
    return batches


async def run(store: CaseStore, cases: int, prior: int, measure: int) -> float:
    # The same records signed whatever `measure` is: runs differ only in deciding them.
    batches = records(cases, prior + MEASURED_AT_MOST)
    if measure > MEASURED_AT_MOST:
        raise SystemExit(f"--measure: at most {MEASURED_AT_MOST}")
    # As the worker runs (hub/adapters/faust_app.py: the start-up heap frozen, rarer
    # collections).
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    runner = RulesRunner(store, KEY, rules_from_env())
    for batch in batches[:prior]:
        await runner.decide(batch)
    started = time.process_time()
    for batch in batches[prior:prior + measure]:
        await runner.decide(batch)
    return (time.process_time() - started) / max(1, cases * measure) * 1e6


async def main_async(args: argparse.Namespace, dsn: str | None) -> float:
    if dsn is None:
        return await run(InMemoryCaseStore(), args.cases, args.prior, args.measure)
    from hub.adapters.case_store import PostgresCaseStore
    from hub.adapters.postgres import create_pool, migrate
    await migrate(dsn)
    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        return await run(PostgresCaseStore(pool), args.cases, args.prior, args.measure)
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", choices=("memory", "pg"), default="memory")
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--prior", type=int, default=5, help="batches decided before measuring")
    parser.add_argument("--measure", type=int, default=4, help="batches measured")
    args = parser.parse_args()
    dsn = None
    if args.store == "pg":
        from tests.support import tcp_database
        dsn = tcp_database()
    try:
        us = asyncio.run(main_async(args, dsn))
    finally:
        if args.store == "pg":
            from tests.support import stop_embedded
            stop_embedded()
    print(f"decide: {us:,.1f} µs CPU an event ({args.store}, {args.cases} cases,"
          f" {args.prior} prior, {args.measure} measured batches)")


if __name__ == "__main__":
    main()
