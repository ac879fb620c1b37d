"""The hub's KafkaPublisher.publish_all (one record batch per topic and partition, through
connectors/record_batches.py) on a real broker: every record lands where `producer.send`
would have put it, with its key, value and headers, in call order within its partition, also
when records overfill a batch (the plain producer's batches are aiokafka's default 16 KiB)."""

from __future__ import annotations

import random

import pytest

from hub.adapters.kafka_publisher import KafkaPublisher
from hub.embedded import EmbeddedBroker
from streams.ports import OutRecord
from tests.integration.test_connector_batches import (  # noqa: F401  (the broker fixture)
    PARTITIONS,
    broker,
    create_topics,
    partitions_send_picks,
)
from tests.kafka_io import read_topic

pytestmark = pytest.mark.integration


async def _not_per_record(*_: object) -> None:
    raise AssertionError("publish_all sent a record through enqueue, not in a batch")


async def test_records_land_on_sends_partitions_in_call_order(
        broker: EmbeddedBroker) -> None:  # noqa: F811  (the imported fixture)
    events, receipts, quarantine = "pub.events", "pub.receipts", "pub.quarantine"
    await create_topics(broker.bootstrap, events, receipts, quarantine, "pub.reference")
    rng = random.Random(14)
    cases = [f"CASE-{i}".encode() for i in range(30)]
    records: list[OutRecord] = []
    for i in range(600):
        case = rng.choice(cases)
        size = 6000 if i % 11 == 0 else 100 + i  # a few large ones fill batches sooner
        records.append((events, case, bytes([i % 251]) * size, ()))
        if i % 9 == 0:  # a rejection: the record's own key (maybe none) and reason headers
            key = None if i % 2 else case
            records.append((quarantine, key, b"junk %d" % i,
                            (("linkage-reason", b"MALFORMED_ENVELOPE"),
                             ("linkage-source-offset", str(i).encode()))))
        receipt_key = None if i % 50 == 0 else f"event-{i}".encode()
        records.append((receipts, receipt_key, b"receipt %d" % i, ()))
    keys = sorted({k for _, k, _, _ in records if k is not None})
    expected = await partitions_send_picks(broker.bootstrap, "pub.reference", keys)
    assert len(set(expected.values())) == PARTITIONS

    async with KafkaPublisher.connect(broker.bootstrap) as publisher:
        publisher.enqueue = _not_per_record  # type: ignore[method-assign]
        await publisher.publish_all(records)

    for topic in (events, receipts, quarantine):
        sent = [(k, v, [(h, bytes(b)) for h, b in hs]) for t, k, v, hs in records if t == topic]
        got = await read_topic(broker.bootstrap, topic)
        assert sorted((r.key or b"", r.value) for r in got) == sorted(
            (k or b"", v) for k, v, _ in sent)
        for record in got:
            if record.key is not None:
                assert record.partition == expected[record.key]
        for partition in range(PARTITIONS):
            here = sorted((r for r in got if r.partition == partition), key=lambda r: r.offset)
            values = {r.value for r in here}
            assert [(r.key, r.value, [(h, bytes(b)) for h, b in r.headers]) for r in here] == [
                s for s in sent if s[1] in values]
