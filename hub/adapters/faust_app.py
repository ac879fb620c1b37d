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

import gc
from typing import Any

import faust

__all__ = ["GC_THRESHOLDS", "LinkageApp"]

GC_THRESHOLDS = (10_000, 10, 10)
"""gc.set_threshold once started (CPython's default is (700, 10, 10)). Measured with the
rules runner over 1,000 cases of 10 to 18 events in batches of 1,000 (bench/rules.py's
runner, 2 shared cores): CPU 98-109 -> 85 µs/event, collections' time 0.33 -> 0.12 s."""


class LinkageApp(faust.App):
    """faust.App without its Kafka consumer (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.boot_strategy = self.BootStrategy(self, enable_kafka_consumer=False)

    async def on_started(self) -> None:
        """Once started, move everything alive (modules, faust, aiokafka: ~120,000 objects)
        out of the cyclic garbage collector's reach (`gc.freeze`, as CPython's docs advise
        for a long-running process after start-up). Each full collection walked that heap
        again: ~19 % of the rules worker's CPU, timed with gc.callbacks (issue 14). Frozen
        objects are still freed by reference counting; only cycles among them would now be
        kept, and the start-up heap is not garbage.

        Then collections are made rarer (`GC_THRESHOLDS`): the rules worker keeps thousands
        of parsed case states (hub/adapters/case_store.py's StateCache), which every full
        collection walked again; few of its objects are cyclic garbage (reference counting
        frees the rest), so the young generation may grow larger before a collection."""
        await super().on_started()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
