"""A faust App that starts no Kafka consumer of its own: the hub's BatchConsumers read.

faust's per-record stream machinery (events, acks, per-record callbacks) cost ~125–170 µs of
CPU per record, as much as the Ed25519 check each record carries, and faust-streaming 0.15
hard-codes the consumer's `fetch_max_wait_ms` at 1,500 ms (Tansu, the embedded broker, holds
a fetch for about half the wait even with data waiting). So both the ingress and the rules
read through `hub/adapters/batch_consumer.py`, services of this app; faust keeps what pays
its way: the lifecycle (services started and stopped with the app), the producer, the timers
and the web server. Without agents, faust's own consumer would crash subscribing to no topic,
so it is not started at all.
"""

from __future__ import annotations

from typing import Any

import faust

__all__ = ["LinkageApp"]


class LinkageApp(faust.App):
    """faust.App without its Kafka consumer (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.boot_strategy = self.BootStrategy(self, enable_kafka_consumer=False)
