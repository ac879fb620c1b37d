"""PostgreSQL instructions per event of the hub's hot statements, counted by callgrind.

Wall-clock and /proc CPU figures of PostgreSQL move 20-40 % with the machine's load; this
counts one backend's instructions (noise-free) for a fixed workload, with and without a
schema change, so a few per cent show. Two workloads, each on a fresh database of a private
PostgreSQL run under callgrind (every backend it forks writes its counts on exit):

* `ingress`: the ingress unit's statements as hub/adapters/ingress_store.py runs them
  (lock head, COPY ledger, COPY ingress_outcomes, INSERT ledger_nodes, UPDATE head) on
  batches of 500 accepted entries of 2,000 cases and 6 agencies; per event.
* `save`: the rules' lock + save + mark (hub/adapters/case_store.py) of 400 cases a
  transaction, one assessment each; per saved case.
* `alerts`: the rules' alerts + outbox write (`record_alerts`) of a replay's transaction
  (bench/replay.py's cases, CASES a round, their ~1.5 real alerts a case signed by the
  runner's signer), after reading their alerts (none) and the previous round's, which
  have some (`alerts_of`); per case.

Each figure is the difference between two backends, one running `--rounds` measured rounds
after `--prepare` rounds and one running the `--prepare` rounds only (both after `--warm`
rounds on another connection): connection start-up and the first five executions of each
prepared statement (planned anew each time, then the generic plan is kept) cancel out.

Setup, once (PostgreSQL refuses to run as root; any free port):

    mkdir -p /tmp/cg && chown postgres /tmp/cg
    su postgres -c "/usr/lib/postgresql/15/bin/initdb -D /tmp/cg/data -U postgres --auth=trust"
    printf "port = 5491\\nunix_socket_directories = '/tmp/cg'\\nautovacuum = off\\n%s\\n" \\
        "checkpoint_timeout = 1d" >> /tmp/cg/data/postgresql.conf
    su postgres -c "valgrind --tool=callgrind --callgrind-out-file=/tmp/cg/cg.%p \\
        /usr/lib/postgresql/15/bin/postgres -D /tmp/cg/data &"

    python bench/pg_callgrind.py ingress [--variant change.sql] [--dsn ...] [--out /tmp/cg]

Run one measurement at a time: a second busy backend makes spin-lock loops count (two
concurrent runs read 196-198 k where one alone reads 187.4 k), and a checkpoint between
runs makes the next pages' first changes write full-page images (hence checkpoint_timeout).
Counted so, a figure repeats to the 0.1 k.

`--variant`: SQL run as the owner after the migrations (a schema change to try, or one to
undo for the "before" figure). Used for hub/sql/outcome_event_hash.sql and case_rows_c.sql.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit.ledger import NewEntry
from hub.adapters.case_store import PostgresCaseStore, StateCache
from hub.adapters.ingress_store import PostgresIngressStore
from hub.adapters.postgres import Pool, create_pool, migrate
from schemas.receipt import ReceiptStatus
from streams.ports import StoredOutcome
from streams.rules import apply
from tests.case_events import case_event

ENTRIES = 500
CASES = 400
Round = Callable[[Pool, int], Awaitable[None]]


def ingress_round() -> Round:
    record = os.urandom(356).hex().encode()  # ~ the benchmark's 712-byte envelopes

    async def run(pool: Pool, n: int) -> None:
        now, store = datetime.now(UTC), PostgresIngressStore(pool)
        entries = [NewEntry(str(uuid.uuid4()), f"ag{i % 6}", f"C-{(n * ENTRIES + i) % 2000}",
                            "case.assessed", now, now, "k" * 16, record)
                   for i in range(ENTRIES)]
        async with store.unit() as unit:
            outcomes = []
            for i, e in enumerate(await unit.append(entries)):
                offset = n * ENTRIES + i
                key = ("linkage.ingress.ag0", offset % 2, offset,
                       hashlib.sha256(e.record + str(offset).encode()).digest())
                outcomes.append(StoredOutcome(key, ReceiptStatus.ACCEPTED, e.event_id, now,
                                              None, None, e.ledger_index, e.leaf_hash, None))
            await unit.store_outcomes(outcomes)
    return run


def save_round() -> Round:
    cache = StateCache()  # kept across connections, as the rules worker keeps it

    async def run(pool: Pool, n: int) -> None:
        events = [case_event(f"C-{c}", n, "case.assessed" if n else "case.opened", n)
                  for c in range(CASES)]
        async with PostgresCaseStore(pool, cache).transaction() as tx:
            states = await tx.lock_cases({e.case_id for e in events})
            await tx.save_cases([apply(states[e.case_id], e) for e in events])
            await tx.mark_processed([e.event_id for e in events])
    return run


def alerts_round() -> Round:
    from bench.replay import generate
    from schemas.dsse import ALERT_PAYLOAD_TYPE
    from schemas.envelope_signer import EnvelopeSigner
    from schemas.model_json import json_bytes
    from schemas.signing import SigningKey
    from streams.rules import assess, load_rules
    from streams.rules_runner import CaseFold

    fold, rules, now = CaseFold(), load_rules(), datetime.now(UTC)
    for record in generate(CASES):
        fold.add(record.value)
    decided = [(case_id, assess(state, rules, now, []).decisions)
               for case_id, state in sorted(fold.states.items())]
    sign = EnvelopeSigner(SigningKey.generate(), ALERT_PAYLOAD_TYPE)

    async def run(pool: Pool, n: int) -> None:
        # The same cases' alerts under fresh ids (uuid5, scattered as the rules' are) and case
        # ids each round: every row is new, as in a replay of a fresh database.
        found = [(case_id, a) for case_id, alerts in decided for a in alerts]
        alerts = [a.model_copy(update={"alert_id": str(uuid.uuid5(uuid.NAMESPACE_OID, f"{n}/{i}")),
                                       "case_id": f"{case_id}-{n}"})
                  for i, (case_id, a) in enumerate(found)]
        payloads = [json_bytes(a) for a in alerts]
        async with PostgresCaseStore(pool).transaction() as tx:
            # This round's cases (none yet), as the runner reads them before recording, and
            # the previous round's: their alerts are read, as a live batch reads them.
            await tx.alerts_of([f"{case_id}-{n}" for case_id, _ in decided])
            await tx.alerts_of([f"{case_id}-{n - 1}" for case_id, _ in decided])
            await tx.record_alerts(alerts, [sign(p) for p in payloads],
                                   [p.decode() for p in payloads])
    return run


WORKLOADS: dict[str, tuple[Callable[[], Round], int]] = {
    "ingress": (ingress_round, ENTRIES), "save": (save_round, CASES),
    "alerts": (alerts_round, CASES)}


async def backend_total(args: argparse.Namespace, rounds: int) -> int:
    """Instructions of one backend that ran `rounds` rounds after the warm-up."""
    make, _ = WORKLOADS[args.workload]
    admin = await asyncpg.connect(args.dsn, ssl=False)
    name = f"cg_{os.getpid()}_{time.monotonic_ns()}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = args.dsn.rsplit("/", 1)[0] + f"/{name}"
    await migrate(dsn)
    if args.variant:
        owner = await asyncpg.connect(dsn, ssl=False)
        await owner.execute(Path(args.variant).read_text(encoding="utf-8"))
        await owner.close()
    step = make()
    for pool_rounds in (range(args.warm), range(args.warm, args.warm + rounds)):
        pool = await create_pool(dsn, min_size=1, max_size=1, restricted=False)
        pid = await pool.fetchval("SELECT pg_backend_pid()")
        for n in pool_rounds:
            await step(pool, n)
        await pool.close()
    dump = Path(args.out) / f"cg.{pid}"
    deadline = time.monotonic() + 60
    while not (dump.exists() and "totals:" in dump.read_text(errors="replace")):
        if time.monotonic() > deadline:
            raise SystemExit(f"no callgrind output {dump}: is the server run under callgrind?")
        await asyncio.sleep(0.2)
    return next(int(line.split()[1]) for line in dump.read_text().splitlines()
                if line.startswith(("totals:", "summary:")))


async def main(args: argparse.Namespace) -> None:
    base = await backend_total(args, args.prepare)
    both = await backend_total(args, args.prepare + args.rounds)
    unit = WORKLOADS[args.workload][1]
    print(f"{args.workload} {args.variant or '(schema as migrated)'}: "
          f"{(both - base) / (args.rounds * unit) / 1000:.1f} k instructions per "
          f"{ {'ingress': 'event', 'save': 'saved case'}.get(args.workload, 'case')} over {args.rounds} rounds")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--variant", help="SQL file run as the owner after migrating")
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5491/postgres")
    parser.add_argument("--out", default="/tmp/cg", help="the server's callgrind output dir")
    parser.add_argument("--warm", type=int, default=10)
    parser.add_argument("--prepare", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=6)
    asyncio.run(main(parser.parse_args()))
