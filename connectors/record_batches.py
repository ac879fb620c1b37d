"""Records sent as one aiokafka record batch per topic and partition, not one `send` each.

Used by the connector (its outbox) and by the hub's ingress worker (each event and its
receipt, hub/adapters/kafka_publisher.py). Per record, `AIOKafkaProducer.send` costs a
coroutine, a metadata wait, a pure-Python murmur2, an ack future set one by one when the
batch is acknowledged (and faust's wrapper around it in the hub): ~12 µs of CPU per event in
the connector, ~15 µs in the ingress worker (issue 14). Here a batch builder per partition
takes the records and each batch has one future.

What the broker receives is what `send` would have sent: each record on the partition `send`
picks (Kafka's murmur2 of the key, `schemas.partitioning.default_partitioner`, or a random
partition with a leader for a record without a key), each partition's records in call order
(a full batch is queued and the next one started; aiokafka queues a partition's next batch
only once the sender took the previous one), acks as the producer was configured.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Sequence
from functools import lru_cache
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder

from schemas.partitioning import default_partitioner

__all__ = ["partition_of", "send_batches"]

Record = tuple[str, bytes | None, bytes, Sequence[tuple[str, bytes]]]
"""topic, key, value, headers (streams.ports.OutRecord)."""


@lru_cache(maxsize=4096)
def partition_of(key: bytes, partitions: tuple[int, ...]) -> int:
    """The partition `send` picks for a keyed record among the topic's partitions (in the
    order `partitions_for` gives them, as `send` indexes them); memoised for keys that come
    back, such as case ids (an agency sends many events per case)."""
    return default_partitioner(key, partitions, partitions)


async def send_batches(producer: AIOKafkaProducer, records: Iterable[Record],
                       repeat_keys: Collection[str] = ()) -> list[asyncio.Future[Any]]:
    """Queue every record in a batch of its topic and partition; the futures of the batches'
    acks. `repeat_keys`: topics whose keys recur (their partitions are memoised; a key seen
    once, such as a receipt's event id, would only churn the memo)."""
    futures: list[asyncio.Future[Any]] = []
    try:
        await _fill(producer, records, repeat_keys, futures)
    except BaseException:
        for future in futures:  # queued, but nobody will wait for them: errors not logged
            future.add_done_callback(_retrieve)
        raise
    return futures


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def _fill(producer: AIOKafkaProducer, records: Iterable[Record],
                repeat_keys: Collection[str], futures: list[asyncio.Future[Any]]) -> None:
    batches: dict[tuple[str, int], BatchBuilder] = {}
    known: dict[str, tuple[int, ...]] = {}
    for topic, key, value, headers in records:
        partitions = known.get(topic)
        if partitions is None:  # waits for the topic's metadata, as `send` does
            partitions = known[topic] = tuple(await producer.partitions_for(topic))
        if key is None:
            available = producer.client.cluster.available_partitions_for_topic(topic)
            partition = default_partitioner(None, partitions, list(available or ()))
        elif topic in repeat_keys:
            partition = partition_of(key, partitions)
        else:
            partition = default_partitioner(key, partitions, partitions)
        batch = batches.get((topic, partition))
        if batch is None or batch.append(key=key, value=value, timestamp=None,
                                         headers=list(headers)) is None:
            if batch is not None:  # full: queue it, start the next
                futures.append(await producer.send_batch(batch, topic, partition=partition))
            batch = batches[(topic, partition)] = producer.create_batch()
            # an empty batch takes its first record whatever its size
            batch.append(key=key, value=value, timestamp=None, headers=list(headers))
    for (topic, partition), batch in batches.items():
        futures.append(await producer.send_batch(batch, topic, partition=partition))
