"""Session-wide fixtures: the three-broker Apache Kafka cluster, started once per test run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.kafka_cluster import ENABLE_HINT, KafkaCluster, KafkaUnavailable, fetch_kafka


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """The cluster (SASL/SCRAM, ACLs); skipped with how to enable it where Java/Maven are missing."""
    try:
        fetch_kafka()
    except KafkaUnavailable as exc:
        pytest.skip(f"no Apache Kafka here ({exc}); {ENABLE_HINT}")
    with KafkaCluster(tmp_path_factory.mktemp("kafka-cluster")) as running:
        yield running
