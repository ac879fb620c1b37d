"""KafkaPublisher: the stream processors' Publisher port (streams.ports.Publisher) over Kafka.

One adapter for both producers the hub has: the faust app's (the worker) and a plain aiokafka
producer (CLI commands that publish, e.g. `rules replay` sending the alert outbox). Both queue
records in call order with acks=all and hand back the future of the broker's ack. Broker
errors become `BrokerUnavailable` here, so callers see no aiokafka type.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import faust
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from connectors.kafka_security import PLAINTEXT, KafkaSecurity
from schemas.topics import MAX_MESSAGE_BYTES

__all__ = ["BrokerUnavailable", "KafkaPublisher"]

Send = Callable[[str, bytes | None, bytes, list[tuple[str, bytes]] | None], Awaitable[Any]]


class BrokerUnavailable(Exception):
    """The Kafka broker could not be reached or did not acknowledge: back off and retry."""


class KafkaPublisher:
    """Publisher over a producer's `send` (queue in order; the result is the ack's future)."""

    def __init__(self, send: Send) -> None:
        self._send = send

    @classmethod
    def over_faust(cls, app: faust.App) -> KafkaPublisher:
        """The faust app's producer (its acks setting is the app's `producer_acks`)."""
        return cls(lambda topic, key, value, headers: app.producer.send(
            topic, key, value, partition=None, timestamp=None, headers=headers))

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
                topic, value, key=key, headers=headers))
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
