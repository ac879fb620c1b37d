"""Fixtures that start real parts: a broker, PostgreSQL (embedded and TCP), a hub.

One suite, two engines (issue 10 item 2): a hub runs on the embedded Tansu broker or on the
three-broker Apache Kafka cluster (tests/conftest.py, started once per session). A module
whose tests must hold on both overrides the `engine` fixture with `two_engines` and, if it
uses `hub`, `hub` with `hub_on_engine` (below); its Kafka runs carry the `kafka_cluster` marker (`make test-kafka`) and are skipped, saying
how to enable them, where Java or Maven is missing.
"""

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
from tests.engines import cluster_hub_process, security, wipe
from tests.kafka_cluster import KafkaCluster
from tests.kafka_io import credentials, use_credentials
from tests.support import HubProcess, agency_keys, embedded_root, make_database, stop_embedded

AGENCIES = ["zs-aic", "zs-psb", "zs-procuratorate", "zs-customs"]

ENGINES = [pytest.param("tansu"), pytest.param("kafka", marks=pytest.mark.kafka_cluster)]


@pytest.fixture(scope="module")
def engine() -> str:
    """The broker a module's hub runs on: Tansu unless the module asks for both."""
    return "tansu"


@pytest.fixture(scope="module", params=ENGINES)
def two_engines(request: pytest.FixtureRequest) -> str:
    """Tansu, then the Apache Kafka cluster. A module opts in with
    `@pytest.fixture(scope="module")` `def engine(two_engines: str) -> str: return two_engines`."""
    param: str = request.param
    return param


def cluster_for(engine: str, request: pytest.FixtureRequest) -> KafkaCluster | None:
    """The session's cluster for the Kafka engine (started on first use), else None."""
    if engine != "kafka":
        return None
    cluster: KafkaCluster = request.getfixturevalue("kafka_cluster")
    return cluster


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
                         hub_public_key=self.process.hub_key().public_key,
                         security=credentials(self.process.bootstrap))


def start_hub(backend: str, root: Path, pg_root: Path, port: int | None = None,
              extra_keys: dict[str, Path] | None = None,
              cluster: KafkaCluster | None = None) -> Hub:
    """A hub on a Tansu broker of its own, or (`cluster`) on the Apache Kafka cluster.

    On the cluster the worker authenticates as its own SCRAM user with the registry's ACLs
    applied, topics have replication factor 3, and the tests' own clients use the admin
    user (they read linkage.events and forge records); per-agency refusals are
    test_kafka_access.py's.
    """
    database_url = make_database(backend, pg_root)
    process: HubProcess
    if cluster is None:
        broker = (EmbeddedBroker(port=port, log_path=root / "tansu.log") if port
                  else EmbeddedBroker(log_path=root / "tansu.log")).start()
        process = HubProcess(home=root / "home", database_url=database_url, broker=broker)
    else:
        asyncio.run(wipe(cluster))
        process = cluster_hub_process(cluster, root / "home", database_url)
        use_credentials(cluster.bootstrap, security(cluster.admin_credentials))
    try:
        process.home.mkdir(parents=True, exist_ok=True)
        if cluster is not None:
            process.cli("kafka", "acls", "apply")
        settings = Settings.from_env(process.env())
        keys_dir = root / "agency-keys"
        keys = agency_keys(keys_dir, AGENCIES)
        pems = [(a, (keys_dir / f"{a}.pub.pem").read_text()) for a in AGENCIES]
        pems += [(a, pub.read_text()) for a, pub in (extra_keys or {}).items()]
        asyncio.run(_prepare_with_keys(settings, pems))  # in process: no CLI start-up per key
        settings.hub_key()
        process.start()
    except BaseException:
        process.broker.stop()  # else a failed start leaves the broker running after the session
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
def dedicated_hub(backend: str, root: Path, pg_root: Path,
                  cluster: KafkaCluster | None = None) -> Iterator[Hub]:
    """A hub of its own (broker, database, worker) for tests that break or kill things."""
    running = start_hub(backend, root, pg_root, cluster=cluster)
    try:
        yield running
    finally:
        running.process.stop()
        running.process.broker.stop()
        if cluster is not None:
            asyncio.run(wipe(cluster))  # the next hub, or test_kafka_cluster, starts clean


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


@pytest.fixture(scope="module")
def hub_on_engine(tmp_path_factory: pytest.TempPathFactory, pg_root: Path, engine: str,
                  request: pytest.FixtureRequest) -> Iterator[Hub]:
    """A module's own hub on its `engine`: for modules whose tests run on both engines, which
    override `hub` with it (`def hub(hub_on_engine: Hub) -> Hub: return hub_on_engine`)."""
    with dedicated_hub("tcp", tmp_path_factory.mktemp(f"hub-{engine}"), pg_root,
                       cluster_for(engine, request)) as running:
        yield running


@pytest.fixture
async def aic(hub: Hub, tmp_path: Path) -> AsyncIterator[Connector]:
    connector = hub.connector("zs-aic", tmp_path / "aic.sqlite")
    await connector.start()
    yield connector
    await connector.stop()
