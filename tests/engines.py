"""The Apache Kafka cluster as a hub's engine in tests: a clean slate, a SASL hub principal."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from connectors.kafka_security import KafkaSecurity
from tests.kafka_cluster import KafkaCluster, ScramCredentials
from tests.support import HubProcess

HUB_USER = "linkage-hub-svc"


def security(credentials: ScramCredentials) -> KafkaSecurity:
    return KafkaSecurity.model_validate({"protocol": "SASL_PLAINTEXT",
                                         "mechanism": "SCRAM-SHA-512",
                                         "username": credentials.username,
                                         "password": credentials.password})


async def wipe(cluster: KafkaCluster, prefix: str = "linkage.", timeout: float = 60.0) -> None:
    """Delete every topic named prefix* (their committed offsets go with them) and wait."""
    admin = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap,
                                **cluster.admin_credentials.aiokafka())
    await admin.start()
    try:
        doomed = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if doomed:
            await admin.delete_topics(doomed)
        deadline = time.monotonic() + timeout
        while left := [t for t in await admin.list_topics() if t.startswith(prefix)]:
            assert time.monotonic() < deadline, f"topics not deleted: {left}"
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


@dataclass
class _ClusterBroker:
    """What HubProcess needs of a broker: its bootstrap (the cluster is stopped elsewhere)."""

    bootstrap: str

    def stop(self) -> None:
        return None


@dataclass
class ClusterHubProcess(HubProcess):
    """A hub worker on the Apache Kafka cluster, as the SASL principal HUB_USER."""

    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {**super().env(), **self.extra_env}


def cluster_hub_env(cluster: KafkaCluster, hub: ScramCredentials,
                    partitions: int = 1) -> dict[str, str]:
    """The hub's settings for the cluster: its own principal, the admin for ACLs, RF 3."""
    admin = cluster.admin_credentials
    return {"LINKAGE_KAFKA_SASL_USERNAME": hub.username,
            "LINKAGE_KAFKA_SASL_PASSWORD": hub.password,
            "LINKAGE_KAFKA_ADMIN_SASL_USERNAME": admin.username,
            "LINKAGE_KAFKA_ADMIN_SASL_PASSWORD": admin.password,
            "LINKAGE_KAFKA_REPLICATION": "3",
            "LINKAGE_KAFKA_PARTITIONS": str(partitions)}


def cluster_hub_processes(cluster: KafkaCluster, root: Path, database_url: str, *,
                          partitions: int = 1, count: int = 1) -> list[ClusterHubProcess]:
    """count (not yet started) hub workers on the cluster, one consumer group, one hub key.

    They share a fresh SCRAM user of their own (HUB_USER); each has its home (HTTP port, log)
    under root, with the first one's key copied in.
    """
    hub_user = cluster.add_scram_user(HUB_USER, secrets.token_hex(16))
    processes = []
    for index in range(count):
        home = root / ("home" if index == 0 else f"home-{index}")
        process = ClusterHubProcess(home=home, database_url=database_url,
                                    broker=_ClusterBroker(cluster.bootstrap),  # type: ignore[arg-type]
                                    extra_env=cluster_hub_env(cluster, hub_user, partitions))
        process.home.mkdir(parents=True, exist_ok=True)
        processes.append(process)
    return processes


def share_hub_key(processes: list[ClusterHubProcess]) -> None:
    """Copy the first process's hub key (created by prepare) to the others' homes."""
    source = processes[0].home / "keys"
    for process in processes[1:]:
        shutil.copytree(source, process.home / "keys", dirs_exist_ok=True)


def cluster_hub_process(cluster: KafkaCluster, home: Path, database_url: str,
                        partitions: int = 1) -> ClusterHubProcess:
    """One (not yet started) hub worker on the cluster (see cluster_hub_processes)."""
    (process,) = cluster_hub_processes(cluster, home.parent, database_url, partitions=partitions)
    return process
