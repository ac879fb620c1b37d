"""Fixtures that start real parts: a Tansu broker, PostgreSQL (embedded and TCP), a hub."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from connectors.connector import Connector
from hub.adapters.postgres import create_pool
from hub.adapters.registry_store import PostgresRegistry
from hub.commands.up import prepare
from hub.embedded import EmbeddedBroker
from hub.settings import Settings
from schemas.signing import SigningKey
from tests.support import HubProcess, agency_keys, embedded_root, make_database, stop_embedded

AGENCIES = ["zs-aic", "zs-psb", "zs-procuratorate", "zs-customs"]


@pytest.fixture(scope="session")
def pg_root() -> Iterator[Path]:
    with embedded_root("pg") as root:
        yield root
        stop_embedded()


@dataclass
class Hub:
    process: HubProcess
    keys: dict[str, SigningKey]
    keys_dir: Path

    def connector(self, agency: str, outbox: Path, key: SigningKey | None = None) -> Connector:
        return Connector(agency, key or self.keys[agency], bootstrap=self.process.bootstrap,
                         outbox_path=outbox,
                         hub_public_key=self.process.hub_key().public_key)


def start_hub(backend: str, root: Path, pg_root: Path, port: int | None = None,
              extra_keys: dict[str, Path] | None = None) -> Hub:
    broker = (EmbeddedBroker(port=port, log_path=root / "tansu.log") if port
              else EmbeddedBroker(log_path=root / "tansu.log")).start()
    try:
        process = HubProcess(home=root / "home",
                             database_url=make_database(backend, pg_root), broker=broker)
        process.home.mkdir(parents=True, exist_ok=True)
        settings = Settings.from_env(process.env())
        keys_dir = root / "agency-keys"
        keys = agency_keys(keys_dir, AGENCIES)
        pems = [(a, (keys_dir / f"{a}.pub.pem").read_text()) for a in AGENCIES]
        pems += [(a, pub.read_text()) for a, pub in (extra_keys or {}).items()]
        asyncio.run(_prepare_with_keys(settings, pems))  # in process: no CLI start-up per key
        settings.hub_key()
        process.start()
    except BaseException:
        broker.stop()  # else a failed start leaves the broker running after the session
        raise
    return Hub(process, keys, keys_dir)


async def _prepare_with_keys(settings: Settings, pems: list[tuple[str, str]]) -> None:
    """What `linkage-hub up` prepares, then `agency add-key` for each (agency, PEM)."""
    await prepare(settings)
    pool = await create_pool(settings.require_database(), restricted=False)
    try:
        registry = PostgresRegistry(pool)
        for agency, pem in pems:
            await registry.add_key(agency, pem)
    finally:
        await pool.close()


@contextmanager
def dedicated_hub(backend: str, root: Path, pg_root: Path) -> Iterator[Hub]:
    """A hub of its own (broker, database, worker) for tests that break or kill things."""
    running = start_hub(backend, root, pg_root)
    try:
        yield running
    finally:
        running.process.stop()
        running.process.broker.stop()


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory, pg_root: Path) -> Iterator[Hub]:
    """One hub for the modules that only use it (not break it), on the machine's PostgreSQL
    over TCP (the production set-up). Tests use their own case and event ids and assert
    with >= where the ledger is shared, so they do not depend on running first; a test that
    kills, tampers with or stops something has a hub of its own (`dedicated_hub`).

    The suite runs once, not once per PostgreSQL flavour: both are PostgreSQL behind the same
    asyncpg. The embedded pgserver that `linkage-hub up` uses by default has its own smoke
    test (test_smoke.py), and the outage and `up` tests run on it too.
    """
    with dedicated_hub("tcp", tmp_path_factory.mktemp("hub-tcp"), pg_root) as running:
        yield running


@pytest.fixture
async def aic(hub: Hub, tmp_path: Path) -> AsyncIterator[Connector]:
    connector = hub.connector("zs-aic", tmp_path / "aic.sqlite")
    await connector.start()
    yield connector
    await connector.stop()
