"""A faust App whose Kafka consumer waits at most `fetch_wait_ms` per fetch (faust fixes 1,500),
or which starts no consumer of its own (`consume=False`).

faust-streaming 0.15 builds the worker's aiokafka consumer with `fetch_max_wait_ms=1500`
hard-coded (faust/transport/drivers/aiokafka.py, `_create_worker_consumer`) and has no
setting for it. Apache Kafka's long poll answers as soon as data arrives, so there the
constant only matters when idle; Tansu (the embedded broker) holds a fetch for about half the
wait even with data waiting, so every batch waited ~750 ms. This subclass sets the one value
aiokafka reads at `start()` (`_fetch_max_wait_ms`, the constructor's argument) on the
consumer faust built, and changes nothing else of faust's consumer. The value comes from
`Settings.fetch_wait_ms`, where the reasons for its defaults are written.
"""

from __future__ import annotations

from typing import Any, cast

import faust
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer, Transport

__all__ = ["LinkageApp"]


class _ConsumerThread(AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = cast("LinkageApp", self.app).fetch_wait_ms  # read at start()
        return consumer


class _Consumer(Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(Transport):
    Consumer = _Consumer


class LinkageApp(faust.App):
    """faust.App with the consumer's fetch wait set by the hub (see the module docstring)."""

    def __init__(self, *args: Any, fetch_wait_ms: int, consume: bool = True,
                 **kwargs: Any) -> None:
        self.fetch_wait_ms = fetch_wait_ms
        super().__init__(*args, **kwargs)
        if not consume:
            # An app without agents (the ingress role reads through a BatchConsumer): faust's
            # own consumer would crash subscribing to no topic, so it is not started at all.
            self.boot_strategy = self.BootStrategy(self, enable_kafka_consumer=False)

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)
