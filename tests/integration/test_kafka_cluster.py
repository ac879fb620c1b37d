"""A real three-broker Apache Kafka cluster: SCRAM-SHA-512 clients, ACLs, acks=all with a broker down."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError

from tests.eventually import eventually
from tests.kafka_cluster import KafkaCluster, KafkaUnavailable, ScramCredentials, fetch_kafka

pytestmark = pytest.mark.kafka_cluster

INGRESS_A = "linkage.ingress.a"
INGRESS_B = "linkage.ingress.b"
EVENTS = "linkage.events"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    try:
        fetch_kafka()
    except KafkaUnavailable as exc:
        pytest.skip(f"no Apache Kafka here: {exc}")
    root: Path = tmp_path_factory.mktemp("kafka-cluster")
    with KafkaCluster(root) as running:
        yield running


async def create_topics(cluster: KafkaCluster, *names: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap,
                                **cluster.admin_credentials.aiokafka())
    await admin.start()
    try:
        response = await admin.create_topics([NewTopic(name, 1, 3) for name in names])
        failed = [error for error in response.to_object()["topic_errors"] if error["error_code"]]
        assert not failed, failed
    finally:
        await admin.close()


async def describe(cluster: KafkaCluster, topic: str) -> dict[str, object]:
    admin = AIOKafkaAdminClient(bootstrap_servers=cluster.bootstrap,
                                **cluster.admin_credentials.aiokafka())
    await admin.start()
    try:
        (found,) = await admin.describe_topics([topic])
        return dict(found)
    finally:
        await admin.close()


async def wait_isr(cluster: KafkaCluster, topic: str, expected: list[int],
                   timeout: float = 60.0) -> None:
    """Poll until partition 0's in-sync replicas are exactly expected, or fail at the deadline."""
    async def in_sync() -> bool:
        partitions = (await describe(cluster, topic))["partitions"]
        assert isinstance(partitions, list) and partitions, f"{topic}: no partitions yet"
        found = sorted(int(node) for node in partitions[0]["isr"])
        assert found == expected, f"ISR of {topic} is {found}, not {expected}"
        return True

    await eventually(in_sync, timeout=timeout, interval=0.25)


def producer(cluster: KafkaCluster, user: ScramCredentials) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=cluster.bootstrap, acks="all",
                            request_timeout_ms=30000, **user.aiokafka())


async def send_retrying(sender: AIOKafkaProducer, topic: str, value: bytes,
                        timeout: float = 60.0) -> None:
    """acks=all send, retried while leadership, ISR or fresh ACLs settle (polled, with a deadline)."""
    async def sent() -> bool:
        try:
            await sender.send_and_wait(topic, value, key=b"case-1")
        except KafkaError as exc:
            raise AssertionError(f"send to {topic} failed: {exc!r}") from exc
        return True

    await eventually(sent, timeout=timeout, interval=0.5)


async def test_admin_creates_rf3_topic_and_round_trips_with_acks_all(
        cluster: KafkaCluster) -> None:
    topic = f"smoke.{uuid.uuid4().hex[:8]}"
    await create_topics(cluster, topic)

    async def partitions() -> list[dict[str, object]]:  # the new topic's metadata may lag
        found = (await describe(cluster, topic))["partitions"]
        assert isinstance(found, list)
        return found

    partition = await eventually(partitions, timeout=30, interval=0.2)
    assert len(partition[0]["replicas"]) == 3  # type: ignore[arg-type]

    sender = producer(cluster, cluster.admin_credentials)
    await sender.start()
    try:
        await send_retrying(sender, topic, b"hello over SCRAM")
    finally:
        await sender.stop()

    consumer = AIOKafkaConsumer(bootstrap_servers=cluster.bootstrap, group_id=None,
                                auto_offset_reset="earliest",
                                **cluster.admin_credentials.aiokafka())
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        record = await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()
    assert record.value == b"hello over SCRAM"


async def test_acl_allows_only_its_own_ingress_topic(cluster: KafkaCluster) -> None:
    await create_topics(cluster, INGRESS_A, INGRESS_B, EVENTS)
    agency = await asyncio.to_thread(cluster.add_scram_user, "agency-a", "agency-a-secret")
    await asyncio.to_thread(cluster.allow, "User:agency-a", ["Write"], topic=INGRESS_A)

    admin_sender = producer(cluster, cluster.admin_credentials)
    await admin_sender.start()
    try:
        await send_retrying(admin_sender, EVENTS, b"an accepted event")
    finally:
        await admin_sender.stop()

    sender = producer(cluster, agency)
    await sender.start()
    try:
        await send_retrying(sender, INGRESS_A, b"signed envelope")  # the new ACL may lag
        with pytest.raises(TopicAuthorizationFailedError):
            await sender.send_and_wait(INGRESS_B, b"someone else's topic", key=b"case-1")
    finally:
        await sender.stop()

    consumer = AIOKafkaConsumer(bootstrap_servers=cluster.bootstrap, group_id=None,
                                auto_offset_reset="earliest", **agency.aiokafka())
    await consumer.start()
    try:
        # With no ACL on it the topic is not even visible to the agency ...
        assert EVENTS not in await consumer.topics()
        assert INGRESS_A in await consumer.topics()
        # ... and once it may see it (Describe), fetching still fails: no Read.
        await asyncio.to_thread(cluster.allow, "User:agency-a", ["Describe"], topic=EVENTS)
        consumer.assign([TopicPartition(EVENTS, 0)])
        with pytest.raises(TopicAuthorizationFailedError):
            await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()


async def test_acks_all_survives_one_broker_down(cluster: KafkaCluster) -> None:
    topic = f"fault.{uuid.uuid4().hex[:8]}"
    await create_topics(cluster, topic)
    sender = producer(cluster, cluster.admin_credentials)
    await sender.start()
    try:
        await send_retrying(sender, topic, b"all three up")
        await wait_isr(cluster, topic, [0, 1, 2])

        await asyncio.to_thread(cluster.stop_broker, 2)  # graceful: controlled shutdown
        assert cluster.running() == [0, 1]
        await send_retrying(sender, topic, b"broker 2 stopped")  # 2 in sync >= min.insync.replicas
        await wait_isr(cluster, topic, [0, 1])
        await asyncio.to_thread(cluster.start_broker, 2)
        await wait_isr(cluster, topic, [0, 1, 2])

        await asyncio.to_thread(cluster.kill_broker, 1)  # a crash: fenced after its session times out
        await send_retrying(sender, topic, b"broker 1 killed")
        await wait_isr(cluster, topic, [0, 2])
        await asyncio.to_thread(cluster.start_broker, 1)
        assert cluster.running() == [0, 1, 2]
        await send_retrying(sender, topic, b"all back")
    finally:
        await sender.stop()
