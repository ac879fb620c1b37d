"""CPU of one pooled transaction's acquire + BEGIN + COMMIT + release, in this process and in
its PostgreSQL backend, with the hub's pool (no reset query, hub/adapters/postgres.py
`_keep_session`) and with asyncpg's default reset, alternating (issue 14, session 7).

    python bench/pool_release.py [--rounds 4] [--n 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.adapters.postgres import connection_options, create_pool
from tests.support import migrated_database, release_database, stop_embedded

HZ = os.sysconf("SC_CLK_TCK")


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


async def cycles(pool: asyncpg.Pool, n: int) -> tuple[float, float]:
    """(this process's, the backend's) CPU µs per cycle."""
    async with pool.acquire() as conn:
        pid = await conn.fetchval("SELECT pg_backend_pid()")
    own, backend = time.process_time(), backend_cpu(pid)
    for _ in range(n):
        async with pool.acquire() as conn, conn.transaction():
            await conn.fetchval("SELECT 1")
    return ((time.process_time() - own) / n * 1e6, (backend_cpu(pid) - backend) / n * 1e6)


async def run(rounds: int, n: int) -> None:
    dsn = await migrated_database()
    try:
        hub = await create_pool(dsn, min_size=1, max_size=1)
        default = await asyncpg.create_pool(dsn, min_size=1, max_size=1,
                                            **connection_options(dsn))
        for pool in (hub, default):
            await cycles(pool, 200)  # warm: statements prepared
        for r in range(rounds):
            for name, pool in (("asyncpg reset", default), ("hub (none)", hub)):
                mine, pg = await cycles(pool, n)
                print(f"round {r + 1} {name:14}: client {mine:5.1f} µs, PostgreSQL {pg:5.1f} µs"
                      " CPU per transaction", flush=True)
        await hub.close()
        await default.close()
    finally:
        await release_database(dsn)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--n", type=int, default=3000)
    args = parser.parse_args()
    try:
        asyncio.run(run(args.rounds, args.n))
    finally:
        stop_embedded()


if __name__ == "__main__":
    main()
