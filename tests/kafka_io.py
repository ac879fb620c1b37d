"""Raw Kafka I/O for tests: produce crafted records, read whole topics, await receipts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from schemas.dsse import Envelope
from schemas.receipt import Receipt
from schemas.signing import verify_envelope_signature
from tests.eventually import eventually
from tests.records import Record


async def produce(bootstrap: str, records: Sequence[Record]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:  # queued in order, acks awaited together (not one round trip per record)
        acks = [await producer.send(r.topic, r.value, key=r.key) for r in records]
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


def _consumer(bootstrap: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                            enable_auto_commit=False, auto_offset_reset="earliest",
                            fetch_max_bytes=8 * 1024 * 1024,
                            max_partition_fetch_bytes=8 * 1024 * 1024)


async def _assign_from_start(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or set()]
    if tps:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
    return tps


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    """Whether the consumer has not yet read up to `ends` on some partition."""
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return True
    return False


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """The next offset of each partition of `topic` now: records from then on are new."""
    consumer = _consumer(bootstrap)
    await consumer.start()
    try:
        tps = await _assign_from_start(consumer, topic)
        return {tp.partition: end for tp, end in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()


async def read_topic(bootstrap: str, topic: str) -> list[ConsumerRecord[Any, Any]]:
    """Every record in a topic up to its end offsets as of the call."""
    consumer = _consumer(bootstrap)
    await consumer.start()
    try:
        tps = await _assign_from_start(consumer, topic)
        if not tps:
            return []
        ends = await consumer.end_offsets(tps)
        out: list[ConsumerRecord[Any, Any]] = []
        while await _behind(consumer, ends):
            for messages in (await consumer.getmany(*tps, timeout_ms=200)).values():
                out.extend(messages)
        return out
    finally:
        await consumer.stop()


def open_receipt(value: bytes, hub_public_key: Any) -> Receipt:
    envelope = Envelope.model_validate_json(value)
    assert envelope.payload_type == "application/vnd.linkage.receipt+json"
    assert verify_envelope_signature(envelope, envelope.signatures[0].signature_bytes(),
                                     hub_public_key), "receipt not signed by the hub"
    return Receipt.model_validate_json(envelope.payload_bytes())


async def _open_at_start(bootstrap: str, topic: str
                         ) -> tuple[AIOKafkaConsumer, list[TopicPartition]] | None:
    consumer = _consumer(bootstrap)
    await consumer.start()
    tps = await _assign_from_start(consumer, topic)
    if not tps:  # not created yet, or not in this consumer's metadata: try a new one later
        await consumer.stop()
        return None
    return consumer, tps


async def wait_for(
    bootstrap: str, topic: str, predicate: Callable[[ConsumerRecord[Any, Any]], bool],
    timeout: float = 30.0, count: int = 1,
) -> list[ConsumerRecord[Any, Any]]:
    """Every matching record of `topic`, once at least `count` of them are there.

    One consumer tails the topic, so each record is read once however long the wait; once
    `count` matched, the rest of the topic (to its end offsets then) is read too, so a caller
    can assert that exactly `count` records match.
    """
    consumer, tps = await eventually(lambda: _open_at_start(bootstrap, topic), timeout,
                                     interval=0.2, describe=lambda: f"{topic}: no such topic")
    found: list[ConsumerRecord[Any, Any]] = []

    async def fetch() -> None:
        for messages in (await consumer.getmany(*tps, timeout_ms=200)).values():
            found.extend(m for m in messages if predicate(m))

    async def enough() -> bool:
        await fetch()
        return len(found) >= count

    try:
        await eventually(enough, timeout, interval=0,
                         describe=lambda: f"{topic}: {len(found)}/{count} matching records")
        ends = await consumer.end_offsets(tps)
        while await _behind(consumer, ends):
            await fetch()
        return found
    finally:
        await consumer.stop()
