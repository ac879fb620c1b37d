"""Raw Kafka I/O for tests: produce crafted records, read whole topics, await receipts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from schemas.dsse import Envelope
from schemas.receipt import Receipt
from schemas.signing import verify_envelope_signature
from tests.records import Record


async def produce(bootstrap: str, records: Sequence[Record]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        for r in records:
            await producer.send_and_wait(r.topic, r.value, key=r.key)
    finally:
        await producer.stop()


async def read_topic(bootstrap: str, topic: str) -> list[ConsumerRecord[Any, Any]]:
    """Every record currently in a topic (reads until a short idle period)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                fetch_max_bytes=8 * 1024 * 1024,
                                max_partition_fetch_bytes=8 * 1024 * 1024)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out: list[ConsumerRecord[Any, Any]] = []
        while True:
            batch = await consumer.getmany(*tps, timeout_ms=300)
            if not batch:
                return out
            for messages in batch.values():
                out.extend(messages)
    finally:
        await consumer.stop()


def open_receipt(value: bytes, hub_public_key: Any) -> Receipt:
    envelope = Envelope.model_validate_json(value)
    assert envelope.payload_type == "application/vnd.linkage.receipt+json"
    assert verify_envelope_signature(envelope, envelope.signatures[0].signature_bytes(),
                                     hub_public_key), "receipt not signed by the hub"
    return Receipt.model_validate_json(envelope.payload_bytes())


async def wait_for(
    bootstrap: str, topic: str, predicate: Callable[[ConsumerRecord[Any, Any]], bool],
    timeout: float = 30.0, count: int = 1,
) -> list[ConsumerRecord[Any, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in await read_topic(bootstrap, topic) if predicate(m)]
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{topic}: {len(found)}/{count} matching records after {timeout}s")
        await asyncio.sleep(0.2)
