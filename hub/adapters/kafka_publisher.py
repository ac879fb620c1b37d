"""KafkaPublisher: the stream processors' Publisher port (streams.ports.Publisher) over Kafka.

One adapter for both producers the hub has: the faust app's (the worker) and a plain aiokafka
producer (CLI commands that publish, e.g. `rules replay` sending the alert outbox). Both queue
records in call order with acks=all and hand back the future of the broker's ack. Broker
errors become `BrokerUnavailable` here, so callers see no aiokafka type.

`publish_all` (the ingress worker's batch: each event and its receipt) fills one record batch
per topic and partition through aiokafka's batch API (connectors/record_batches.py, shared
with the connector) instead of a `send` per record. Design decision (issue 14): per record,
faust's `send` wrapper, aiokafka's `send` coroutine (metadata wait, partitioning, an ack
future per record, resolved one by one when the batch is acknowledged) and our ack mapping
cost the ingress worker ~23 µs of CPU an event, ~9 µs with batches (py-spy, bench/ingress.py).
What the broker receives is the same: the partitions `send` picks (Kafka's murmur2, which
both producers use), each partition's records in call order, acks=all. Without an aiokafka
producer to batch on (`producer` returns None) it declines to `enqueue` per record.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import faust
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from connectors.kafka_security import PLAINTEXT, KafkaSecurity
from connectors.record_batches import send_batches
from schemas import topics
from schemas.partitioning import remember_murmur2
from schemas.topics import MAX_MESSAGE_BYTES
from streams.ports import OutRecord

__all__ = ["BrokerUnavailable", "KafkaPublisher"]

Send = Callable[[str, bytes | None, bytes, list[tuple[str, bytes]] | None], Awaitable[Any]]


class BrokerUnavailable(Exception):
    """The Kafka broker could not be reached or did not acknowledge: back off and retry."""


class KafkaPublisher:
    """Publisher over a producer's `send` (queue in order; the result is the ack's future),
    and BatchPublisher over its aiokafka producer when it has one (module docstring)."""

    def __init__(self, send: Send,
                 producer: Callable[[], AIOKafkaProducer | None] = lambda: None) -> None:
        self._send = send
        self._producer = producer

    @classmethod
    def over_faust(cls, app: faust.App) -> KafkaPublisher:
        """The faust app's producer (its acks setting is the app's `producer_acks`)."""
        return cls(lambda topic, key, value, headers: app.producer.send(
            topic, key, value, partition=None, timestamp=None, headers=headers),
            lambda: _aiokafka_producer(app.producer))

    @classmethod
    @asynccontextmanager
    async def connect(cls, bootstrap: str,
                      security: KafkaSecurity = PLAINTEXT) -> AsyncIterator[KafkaPublisher]:
        """A plain aiokafka producer with acks=all, started for the block and stopped after."""
        # Large enough for any record ingress may quarantine (a parked record being retried).
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                    max_request_size=MAX_MESSAGE_BYTES + 64 * 1024,
                                    **security.aiokafka())
        try:
            try:
                await producer.start()
            except (KafkaError, OSError) as exc:
                raise BrokerUnavailable(f"Kafka 不可用 / Kafka unavailable: {exc}") from exc
            yield cls(lambda topic, key, value, headers: producer.send(
                topic, value, key=key, headers=headers), lambda: producer)
        finally:
            await producer.stop()

    async def enqueue(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> Awaitable[object]:
        """Queue one record in order; returns a future resolved at the broker's ack."""
        try:
            fut = await self._send(topic, key, value, headers or None)
        except (KafkaError, OSError) as exc:
            raise BrokerUnavailable(f"Kafka 不可用 / Kafka unavailable: {exc}") from exc
        return _acked(asyncio.ensure_future(fut))

    async def publish_all(self, records: Sequence[OutRecord]) -> None:
        """Queue every record and wait for all acks (BatchPublisher; module docstring)."""
        producer = self._producer()
        acks: Sequence[Awaitable[object]]
        if producer is None:
            acks = [await self.enqueue(topic, key, value, list(headers))
                    for topic, key, value, headers in records]
        else:
            acks = await _send_batches(producer, records)
        await asyncio.gather(*acks)


def _aiokafka_producer(producer: object) -> AIOKafkaProducer | None:
    """The aiokafka producer under faust's (its driver keeps it as `_producer`, set while
    the app runs); None when there is none, and `publish_all` then sends per record."""
    found = getattr(producer, "_producer", None)
    return found if isinstance(found, AIOKafkaProducer) else None


async def _send_batches(producer: AIOKafkaProducer,
                        records: Sequence[OutRecord]) -> list[asyncio.Future[object]]:
    """Every record queued in a batch of its topic and partition; the acks' futures.

    The keys seen once (receipts') have their murmur2 computed together first, for the
    partitioner to find (schemas/partitioning.py `remember_murmur2`: ~0.5 against ~2.1 µs
    a key); the recurring ones are memoised by `send_batches` itself."""
    remember_murmur2([key for topic, key, _, _ in records
                      if type(key) is bytes and topic not in _REPEAT_KEYS])
    try:
        futures = await send_batches(producer, records, repeat_keys=_REPEAT_KEYS)
    except (KafkaError, OSError) as exc:
        raise BrokerUnavailable(f"Kafka 不可用 / Kafka unavailable: {exc}") from exc
    return [_acked(f) for f in futures]


_REPEAT_KEYS = frozenset({topics.EVENTS})
"""The topic whose keys recur (case ids; a receipt's key is its event's id)."""


def _acked(fut: asyncio.Future[Any]) -> asyncio.Future[object]:
    """The ack's future with broker errors as BrokerUnavailable.

    A future chained by a done-callback, not a coroutine: the ingress worker gathers a
    thousand acks a batch, and `gather` wraps each coroutine in a Task (creating and stepping
    them took ~5 % of the worker's CPU); futures it only waits on.
    """
    mapped: asyncio.Future[object] = asyncio.get_running_loop().create_future()

    def settle(done: asyncio.Future[Any]) -> None:
        # the exception read first: retrieved even when nobody waits any more (a cancelled
        # gather at shutdown), so asyncio does not log it as never retrieved
        exc = None if done.cancelled() else done.exception()
        if mapped.cancelled():
            return
        if done.cancelled():
            mapped.cancel()
        elif exc is None:
            mapped.set_result(done.result())
        elif isinstance(exc, KafkaError | OSError):
            error = BrokerUnavailable(f"Kafka 未确认 / Kafka did not acknowledge: {exc}")
            error.__cause__ = exc
            mapped.set_exception(error)
        else:
            mapped.set_exception(exc)

    fut.add_done_callback(settle)
    return mapped
