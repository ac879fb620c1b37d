"""The ingress unit's inserts by COPY against by `INSERT ... unnest`, on one connection.

Appends `--batches` batches of 500 ledger entries with their nodes and accepted outcomes
through PostgresIngressStore on a fresh database, alternating the two ways batch by batch
(hub/adapters/ledger_store.py COPY_MIN_ROWS), and prints the server's CPU per event of each
statement (bench/pg_statements.py). The design note in ledger_store.insert_rows quotes it.

    python bench/append_statements.py [--batches 60]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit.ledger import NewEntry
from bench.pg_statements import StatementCpu, table
from hub.adapters import ledger_store
from hub.adapters.ingress_store import PostgresIngressStore
from hub.adapters.postgres import create_pool, migrate
from schemas.receipt import ReceiptStatus
from streams.ports import StoredOutcome
from tests.support import stop_embedded, tcp_database

BATCH = 500


async def run(dsn: str, batches: int) -> None:
    await migrate(dsn)
    pool = await create_pool(dsn, max_size=1)
    store, now, offset = PostgresIngressStore(pool), datetime.now(UTC), 0
    try:
        with StatementCpu() as statements:
            for b in range(batches):
                ledger_store.COPY_MIN_ROWS = 32 if b % 2 else 10**9  # COPY on odd batches
                entries = [NewEntry(str(uuid.uuid4()), "zs-aic", f"B-{i % 1000}",
                                    "case.assessed", now, now, "k" * 64,
                                    os.urandom(300).hex().encode()) for i in range(BATCH)]
                async with store.unit() as unit:
                    outcomes = []
                    for e in await unit.append(entries):
                        offset += 1
                        key = ("linkage.ingress.zs-aic", offset % 2, offset,
                               hashlib.sha256(e.record).digest())
                        outcomes.append(StoredOutcome(key, ReceiptStatus.ACCEPTED, e.event_id,
                                                      now, None, None, e.ledger_index,
                                                      e.leaf_hash, None))
                    await unit.store_outcomes(outcomes)
        half = batches // 2 * BATCH
        print(f"{batches} batches of {BATCH}, half by each way; per event of its half (a"
              " statement both halves run, such as the nodes' INSERT, shows twice its cost):")
        print("\n".join(table({"": statements.snapshot()}, half, "event", top=10)))
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=60)
    args = parser.parse_args()
    try:
        asyncio.run(run(tcp_database(), args.batches))
    finally:
        stop_embedded()


if __name__ == "__main__":
    main()
