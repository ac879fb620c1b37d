"""Fixtures that start real parts: a Tansu broker, PostgreSQL (embedded and TCP), a hub."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from connectors.connector import Connector
from hub.commands.up import prepare
from hub.embedded import EmbeddedBroker
from hub.settings import Settings
from schemas.signing import SigningKey
from tests.support import HubProcess, agency_keys, make_database, stop_embedded

AGENCIES = ["zs-aic", "zs-psb", "zs-procuratorate", "zs-customs"]


@pytest.fixture(scope="session")
def pg_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("pg")
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
    process = HubProcess(home=root / "home", database_url=make_database(backend, pg_root),
                         broker=broker)
    process.home.mkdir(parents=True, exist_ok=True)
    settings = Settings.from_env(process.env())
    asyncio.run(prepare(settings))
    keys_dir = root / "agency-keys"
    keys = agency_keys(keys_dir, AGENCIES)
    for agency in AGENCIES:
        process.cli("agency", "add-key", agency, str(keys_dir / f"{agency}.pub.pem"))
    for agency, pub in (extra_keys or {}).items():
        process.cli("agency", "add-key", agency, str(pub))
    settings.hub_key()
    process.start()
    return Hub(process, keys, keys_dir)


@contextmanager
def dedicated_hub(backend: str, root: Path, pg_root: Path) -> Iterator[Hub]:
    """A hub of its own (broker, database, worker) for tests that break or kill things."""
    running = start_hub(backend, root, pg_root)
    try:
        yield running
    finally:
        running.process.stop()
        running.process.broker.stop()


@pytest.fixture(scope="module", params=["pgserver", "tcp"])
def hub(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        pg_root: Path) -> Iterator[Hub]:
    with dedicated_hub(request.param, tmp_path_factory.mktemp(f"hub-{request.param}"),
                       pg_root) as running:
        yield running


@pytest.fixture
async def aic(hub: Hub, tmp_path: Path) -> AsyncIterator[Connector]:
    connector = hub.connector("zs-aic", tmp_path / "aic.sqlite")
    await connector.start()
    yield connector
    await connector.stop()
