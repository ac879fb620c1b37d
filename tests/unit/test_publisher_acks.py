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

    async def __call__(self, topic: str, key: bytes | None, value: bytes,
                       headers: list[tuple[str, bytes]] | None) -> asyncio.Future[Any]:
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
