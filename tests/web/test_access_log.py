"""The access log is append-only at the database level: UPDATE, DELETE and TRUNCATE are
refused for the hub's role and for the schema's owner alike (real PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import pytest

from hub.access import Principal, Role
from hub.adapters.accounts_store import PostgresAccounts
from hub.adapters.postgres import create_pool, migrate
from tests.support import TCP_ADMIN_DSN, tcp_database

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def dsn() -> Iterator[str]:
    url = tcp_database()
    asyncio.run(migrate(url))
    yield url
    asyncio.run(_drop(url.rsplit("/", 1)[1]))


async def _drop(name: str) -> None:
    conn = await asyncpg.connect(TCP_ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.mark.parametrize("restricted", [True, False], ids=["hub role", "owner"])
async def test_the_access_log_refuses_update_and_delete(dsn: str, restricted: bool) -> None:
    pool = await create_pool(dsn, restricted=restricted)
    try:
        accounts = PostgresAccounts(pool)
        await accounts.log(Principal("sup", Role.SUPERVISOR, "zs-procuratorate"), "case.read",
                           target="CASE-1", client="127.0.0.1")
        [entry] = await accounts.access_log(username="sup", limit=1)
        assert (entry.action, entry.target, entry.role) == ("case.read", "CASE-1", "supervisor")
        async with pool.acquire() as conn:
            for statement in ("UPDATE access_log SET target = 'OTHER'",
                              "DELETE FROM access_log",
                              "TRUNCATE access_log"):
                with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
                    await conn.execute(statement)
        [again] = await accounts.access_log(username="sup", limit=1)
        assert again == entry
    finally:
        await pool.close()
