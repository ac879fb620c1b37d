"""The hub's faust-streaming worker: the ingress agent and the HTTP service.

The ingress agent reads every registered agency's ingress topic with manual acks
(`noack_take`): a batch is acknowledged only after its outcomes are committed in
PostgreSQL and every publish was acknowledged by the broker, so faust commits offsets
only of records whose effects are durable. A failing batch is retried with back-off;
it never kills the worker and is never acknowledged early.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from typing import Any

import faust

from hub import metrics, topics
from hub.db import StoreError, StoreUnavailable, create_pool
from hub.ingress import IngressProcessor, IngressRecord
from hub.registry import PostgresRegistry
from hub.settings import Settings

log = logging.getLogger(__name__)

BATCH_MAX = 500
BATCH_WITHIN = 0.02


class FaustPublisher:
    """Publisher over the faust app's producer (acks=all)."""

    def __init__(self, app: faust.App) -> None:
        self._app = app

    def send(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> Awaitable[object]:
        return self._app.producer.send_and_wait(
            topic, key, value, partition=None, timestamp=None, headers=headers or None
        )


def faust_settings(settings: Settings) -> dict[str, Any]:
    fast = dict(broker_rebalance_timeout=3, broker_session_timeout=6,
                broker_heartbeat_interval=1) if settings.fast_rebalance else {}
    return dict(
        broker=f"kafka://{settings.require_kafka()}",
        store="memory://",
        datadir=str(settings.home / "faust"),
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_max_request_size=topics.MAX_MESSAGE_BYTES + 64 * 1024,
        consumer_max_fetch_size=topics.MAX_MESSAGE_BYTES + 64 * 1024,
        web_enabled=True,
        web_port=settings.http_port,
        web_bind="127.0.0.1",
        broker_commit_every=BATCH_MAX,
        broker_commit_interval=0.5,
        **fast,
    )


def build_app(settings: Settings, agency_ids: Sequence[str]) -> faust.App:
    """A faust app with the ingress agent over `linkage.ingress.<agency>` for each agency."""
    app = faust.App("linkage-hub", **faust_settings(settings))
    state: dict[str, Any] = {}
    ingress = app.topic(*[topics.ingress_topic(a) for a in agency_ids],
                        key_type=bytes, value_type=bytes,
                        key_serializer="raw", value_serializer="raw")

    lock = asyncio.Lock()

    async def processor() -> IngressProcessor:
        """Open the pool on first use (inside the worker's event loop)."""
        async with lock:
            if "processor" not in state:
                pool = await create_pool(settings.require_database(), max_size=4)
                state["pool"] = pool
                registry = PostgresRegistry(pool)
                state["processor"] = IngressProcessor(pool, settings.hub_key(), registry.snapshot)
        result: IngressProcessor = state["processor"]
        return result

    publisher = FaustPublisher(app)

    @app.agent(ingress)
    async def ingress_agent(stream: Any) -> None:
        async for events in stream.noack_take(BATCH_MAX, within=BATCH_WITHIN):
            records = [
                IngressRecord(e.message.topic, e.message.partition, e.message.offset,
                              e.message.key, e.message.value, e.message.timestamp
                              and int(e.message.timestamp * 1000))
                for e in events
            ]
            await process_until_done(await processor(), records, publisher)
            for e in events:
                await stream.ack(e)

    from hub.http import register_views

    register_views(app, state)
    return app


async def process_until_done(
    processor: IngressProcessor, records: Sequence[IngressRecord], publisher: FaustPublisher
) -> None:
    """Process a batch, retrying with back-off until it succeeds; never raises for I/O."""
    delay = 0.2
    while True:
        try:
            await processor.process(records, publisher)
            return
        except (TimeoutError, StoreUnavailable, StoreError, OSError) as exc:
            error: Exception = exc
        except Exception as exc:  # a bug or a broker error: log, back off, retry the batch
            log.exception("ingress batch failed")
            error = exc
        metrics.INGRESS_RETRIES.inc()
        log.warning("批次处理失败,%.1f 秒后重试 / batch failed, retrying in %.1fs: %s",
                    delay, delay, error)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)
