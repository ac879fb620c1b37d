"""The connector sends its outbox as one record batch per partition (connectors/connector.py
`_send_batch`): on a real broker every record lands where `producer.send` would have put it,
in order within its partition, whole — also when records fill a batch and start the next."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from connectors.connector import PRODUCE_BATCH_BYTES, Connector
from hub.embedded import EmbeddedBroker
from schemas.signing import SigningKey
from tests.eventually import eventually
from tests.kafka_io import read_topic

pytestmark = pytest.mark.integration

PARTITIONS = 3


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    started = EmbeddedBroker(log_path=tmp_path_factory.mktemp("tansu") / "tansu.log").start()
    try:
        yield started
    finally:
        started.stop()


async def create_topics(bootstrap: str, *names: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names])
    finally:
        await admin.close()


async def partitions_send_picks(bootstrap: str, topic: str, keys: list[bytes]) -> dict[bytes, int]:
    """Where aiokafka's own `send` puts a record of each key."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        acks = await asyncio.gather(*[await producer.send(topic, b"x", key=k) for k in keys])
    finally:
        await producer.stop()
    return {k: ack.partition for k, ack in zip(keys, acks, strict=True)}


async def test_records_land_on_sends_partitions_in_order_across_full_batches(
        broker: EmbeddedBroker, tmp_path: Path) -> None:
    agency = "zs-batches"
    topic = f"linkage.ingress.{agency}"
    await create_topics(broker.bootstrap, topic, "reference")
    keys = [f"CASE-{i}".encode() for i in range(40)]
    expected_partition = await partitions_send_picks(broker.bootstrap, "reference", keys)
    assert len(set(expected_partition.values())) == PARTITIONS
    connector = Connector(agency, SigningKey.generate(), bootstrap=broker.bootstrap,
                          outbox_path=tmp_path / "outbox.sqlite")
    big = PRODUCE_BATCH_BYTES // 3  # three of them overfill a batch: the next one starts
    sizes = [big if i % 7 == 0 else 100 + i for i in range(300)]
    sent = [(f"e{i}", keys[i % len(keys)].decode(), bytes([i % 251]) * size)
            for i, size in enumerate(sizes)]
    for event_id, case_id, value in sent:
        connector.enqueue_raw(event_id, case_id, "case.opened", value)
    await connector.start()
    try:
        await eventually(lambda: connector.outbox.counts() == {"sent": len(sent)}, timeout=60)
    finally:
        await connector.stop()
    records = await read_topic(broker.bootstrap, topic)
    assert sorted((r.key, r.value) for r in records) == sorted(
        (c.encode(), v) for _, c, v in sent)
    for record in records:
        assert record.partition == expected_partition[record.key]
    for partition in range(PARTITIONS):
        in_partition = sorted((r for r in records if r.partition == partition),
                              key=lambda r: r.offset)
        assert [r.value for r in in_partition] == [
            v for _, c, v in sent if expected_partition[c.encode()] == partition]
