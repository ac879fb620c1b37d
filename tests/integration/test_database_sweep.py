"""The test support's sweep of databases left by killed test runs (tests/support.py), on the
machine's PostgreSQL server: a dead creator's databases go, a live one's and foreign names stay."""

from __future__ import annotations

import subprocess
import sys
import uuid

import asyncpg
import pytest

from tests.support import TCP_ADMIN_DSN, new_database_name, sweep_orphaned_databases

pytestmark = pytest.mark.integration


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


async def test_a_dead_runs_databases_are_dropped_and_the_rest_kept() -> None:
    gone = f"linkage_test_{dead_pid()}_{uuid.uuid4().hex[:10]}"
    gone_template = f"linkage_tmpl_{dead_pid()}_{uuid.uuid4().hex[:10]}"
    ours = new_database_name()
    unowned = f"linkage_test_{uuid.uuid4().hex[:10]}"  # a name from before pids were in it
    names = [gone, gone_template, ours, unowned]
    admin = await asyncpg.connect(TCP_ADMIN_DSN)
    try:
        for name in names:
            await admin.execute(f'CREATE DATABASE "{name}"')
        swept = await sweep_orphaned_databases()
        left = {r["datname"] for r in await admin.fetch(
            "SELECT datname FROM pg_database WHERE datname = ANY($1::text[])", names)}
        assert set(swept) >= {gone, gone_template} and not set(swept) & {ours, unowned}
        assert left == {ours, unowned}
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_a_server_on_another_machine_is_not_swept() -> None:
    # its pids are not this machine's; no connection is even tried (the host does not resolve)
    assert await sweep_orphaned_databases("postgresql://u:p@db.invalid:5432/postgres") == []
