"""Fixtures for the contract suites: a fresh migrated PostgreSQL database per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import asyncpg
import pytest

from hub.adapters.postgres import create_pool
from tests.support import migrated_database, release_database, stop_embedded

BACKENDS = ["memory", "postgres"]
"""Every contract suite runs against each implementation of its port."""


@pytest.fixture(scope="session")
def _drop_test_databases() -> Iterator[None]:
    yield
    stop_embedded()


PoolFactory = Callable[..., Awaitable[asyncpg.Pool]]


@pytest.fixture
async def new_pool(_drop_test_databases: None) -> AsyncIterator[PoolFactory]:
    """Opens, on demand, a pool on a fresh migrated database, acting as the hub's restricted
    role unless `restricted=False` (the owner, as the CLI's registry commands act); a factory,
    so the in-memory runs of a suite touch no server."""
    opened: list[tuple[str, asyncpg.Pool]] = []

    async def make(*, restricted: bool = True) -> asyncpg.Pool:
        dsn = await migrated_database()
        opened.append((dsn, await create_pool(dsn, max_size=3, restricted=restricted)))
        return opened[-1][1]

    yield make
    for dsn, pool in opened:
        await pool.close()
        await release_database(dsn)
