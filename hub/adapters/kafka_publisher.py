"""A Publisher (streams.ports) over a plain aiokafka producer, for commands outside the worker.

Broker errors leave as `BrokerUnavailable` (zh/en, the cause as evidence): the Kafka seam for
commands; the worker publishes through faust's producer (hub/worker.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas.topics import MAX_MESSAGE_BYTES
from streams.errors import HubError


class BrokerUnavailable(HubError):
    """The Kafka broker could not be reached or did not acknowledge: try again later."""

    def __init__(self, detail: str) -> None:
        super().__init__("broker_unavailable", "Kafka 代理暂不可用", "Kafka broker unavailable",
                         {"cause": detail})


class AiokafkaPublisher:
    """Queues records on an aiokafka producer (acks=all); futures resolve at the broker's ack."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def enqueue(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> Awaitable[object]:
        fut: Awaitable[object] = await self._producer.send(
            topic, value, key=key, headers=headers or None
        )
        return fut


@asynccontextmanager
async def kafka_publisher(bootstrap: str) -> AsyncIterator[AiokafkaPublisher]:
    """A started publisher for the block; KafkaError and OSError become BrokerUnavailable."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                max_request_size=MAX_MESSAGE_BYTES + 64 * 1024)
    try:
        try:
            await producer.start()
            yield AiokafkaPublisher(producer)
        finally:
            await producer.stop()
    except (KafkaError, OSError) as exc:
        raise BrokerUnavailable(str(exc)) from exc
