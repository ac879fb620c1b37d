"""The Kafka publisher's ack futures: broker errors arrive as BrokerUnavailable, others as they are."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError, NotLeaderForPartitionError

from hub.adapters.kafka_publisher import BrokerUnavailable, KafkaPublisher


class _Sends:
    """A producer's `send` whose ack futures the test settles by hand."""

    def __init__(self) -> None:
        self.acks: list[asyncio.Future[Any]] = []
        self.sent: list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]] | None]] = []

    async def __call__(self, topic: str, key: bytes | None, value: bytes,
                       headers: list[tuple[str, bytes]] | None) -> asyncio.Future[Any]:
        self.sent.append((topic, key, value, headers))
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks.append(fut)
        return fut


async def _enqueued(count: int) -> tuple[_Sends, list[Any]]:
    sends = _Sends()
    publisher = KafkaPublisher(sends)
    waits = [await publisher.enqueue("t", None, b"v", []) for _ in range(count)]
    return sends, waits


async def test_acks_resolve_with_the_brokers_metadata() -> None:
    sends, waits = await _enqueued(3)
    for i, ack in enumerate(sends.acks):
        ack.set_result(("metadata", i))
    assert await asyncio.gather(*waits) == [("metadata", 0), ("metadata", 1), ("metadata", 2)]


@pytest.mark.parametrize("error", [NotLeaderForPartitionError(), KafkaTimeoutError(),
                                   ConnectionResetError("reset")])
async def test_a_broker_error_is_broker_unavailable(error: Exception) -> None:
    sends, waits = await _enqueued(2)
    sends.acks[0].set_result("ok")
    sends.acks[1].set_exception(error)
    assert await waits[0] == "ok"
    with pytest.raises(BrokerUnavailable, match="did not acknowledge") as raised:
        await waits[1]
    assert raised.value.__cause__ is error


async def test_other_errors_are_not_blamed_on_the_broker() -> None:
    sends, waits = await _enqueued(1)
    sends.acks[0].set_exception(ValueError("a hub bug"))
    with pytest.raises(ValueError, match="a hub bug"):
        await waits[0]


async def test_a_cancelled_ack_cancels_the_wait() -> None:
    sends, waits = await _enqueued(1)
    sends.acks[0].cancel()
    with pytest.raises(asyncio.CancelledError):
        await waits[0]


async def test_a_send_that_fails_at_once_is_broker_unavailable() -> None:
    async def refused(*_: Any) -> asyncio.Future[Any]:
        raise KafkaTimeoutError()

    with pytest.raises(BrokerUnavailable, match="unavailable"):
        await KafkaPublisher(refused).enqueue("t", None, b"v", [])


async def test_a_failure_after_the_wait_was_cancelled_is_still_retrieved() -> None:
    """Shutdown cancels the gather; the broker's later error must not surface as asyncio's
    'exception was never retrieved'."""
    sends, waits = await _enqueued(1)
    waits[0].cancel()
    sends.acks[0].set_exception(NotLeaderForPartitionError())
    await asyncio.sleep(0)  # run the done-callback
    assert sends.acks[0]._log_traceback is False  # retrieved: nothing to log at collection


async def test_publish_all_without_an_aiokafka_producer_sends_per_record_in_order() -> None:
    sends = _Sends()
    publisher = KafkaPublisher(sends)
    published = asyncio.ensure_future(publisher.publish_all(
        [("a", b"k1", b"v1", ()), ("b", None, b"v2", (("h", b"x"),))]))
    await asyncio.sleep(0)
    assert sends.sent == [("a", b"k1", b"v1", None), ("b", None, b"v2", [("h", b"x")])]
    assert not published.done()  # waits for every ack
    sends.acks[0].set_result("ok")
    sends.acks[1].set_exception(NotLeaderForPartitionError())
    with pytest.raises(BrokerUnavailable, match="did not acknowledge"):
        await published


def test_faust_keeps_its_aiokafka_producer_where_publish_all_looks() -> None:
    """KafkaPublisher.over_faust batches on faust's aiokafka producer (its driver's
    `_producer`); if a faust release moved it, publish_all would quietly send per record."""
    from aiokafka import AIOKafkaProducer
    from faust.transport.drivers.aiokafka import Producer

    from hub.adapters.kafka_publisher import _aiokafka_producer

    assert "_producer" in Producer.__annotations__

    class Started:
        _producer = AIOKafkaProducer.__new__(AIOKafkaProducer)

    assert _aiokafka_producer(Started()) is Started._producer
    assert _aiokafka_producer(object()) is None
