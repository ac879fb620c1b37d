"""Over TCP to the loopback server (as production-like tests run it), the hub's pool speaks
plain PostgreSQL unless the DSN asks for TLS, which it then gets (hub/adapters/postgres.py)."""

from __future__ import annotations

import pytest

from hub.adapters.postgres import connection_options, create_pool
from tests.support import TCP_ADMIN_DSN

OWN_TLS = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


async def _uses_tls(dsn: str) -> bool:
    pool = await create_pool(dsn, max_size=1, restricted=False)
    try:
        async with pool.acquire() as conn:
            return bool(await conn.fetchval(OWN_TLS))
    finally:
        await pool.close()


async def test_a_loopback_dsn_connects_without_tls() -> None:
    if connection_options(TCP_ADMIN_DSN) != {"ssl": False}:
        pytest.skip("LINKAGE_TEST_TCP_DSN names a remote server or chooses its sslmode")
    assert await _uses_tls(TCP_ADMIN_DSN) is False


async def test_a_dsn_that_asks_for_tls_gets_it() -> None:
    pool = await create_pool(TCP_ADMIN_DSN, max_size=1, restricted=False)
    try:
        async with pool.acquire() as conn:
            offered = await conn.fetchval("SHOW ssl") == "on"
    finally:
        await pool.close()
    if not offered:
        pytest.skip("this PostgreSQL server offers no TLS")
    assert await _uses_tls(TCP_ADMIN_DSN + "?sslmode=require") is True
