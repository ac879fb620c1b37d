"""The hub's faust-streaming worker: ingress, the checkpointer, the HTTP service, the rules.

Ingress reads every registered agency's ingress topic in batches (a BatchConsumer service of
the faust app, hub/adapters/batch_consumer.py: faust's per-record stream machinery cost as
much CPU as the signature check): offsets are committed only after the batch's outcomes are
committed in PostgreSQL and every publish was acknowledged by the broker, so only records
whose effects are durable are ever committed. A failing batch is retried with back-off; it
never kills the worker and is never committed early.

The rules read `linkage.events` the same way, through a second BatchConsumer in their own
group (streams/rules_runner.py): case state and alert changes are committed, the alert outbox
is published, then the batch's offsets are committed. faust runs no consumer of its own: it
owns the lifecycle (the consumers are services of the app), the producer, the timers and the
web server.
A 1 s timer sweeps cases whose deadline has passed and publishes what the outbox still holds.

Roles: `up` runs the ingress role and the rules role as two processes, the rules one in its own
consumer group (`linkage-hub-rules`) with /healthz and /metrics on LINKAGE_RULES_HTTP_PORT, so
the rules' CPU (which grows with case size) never delays a receipt; `worker` alone (role
`all`, the tests' hub) runs both consumers in one process.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, Literal, TypeVar

import asyncpg
import faust
from aiokafka import ConsumerRecord
from prometheus_client import Counter

from audit.checkpointer import LedgerProofs
from audit.errors import LedgerError
from hub.adapters.batch_consumer import attach_batch_consumer
from hub.adapters.case_store import PostgresCaseStore
from hub.adapters.faust_app import LinkageApp
from hub.adapters.ingress_store import PostgresIngressStore
from hub.adapters.kafka_admin import ensure_hub_topics
from hub.adapters.kafka_publisher import BrokerUnavailable, KafkaPublisher
from hub.adapters.postgres import StoreError, StoreUnavailable, create_pool, translated_errors
from hub.adapters.registry_store import PostgresRegistry
from hub.settings import Settings
from hub.timed_collections import TimedCollections
from hub.wiring import open_ledger
from schemas import topics
from schemas.partitioning import default_partitioner
from streams import metrics
from streams.ingress import IngressProcessor, IngressRecord
from streams.rules_runner import CATCH_UP_EVERY, RulesRunner, startup_rules

log = logging.getLogger(__name__)

T = TypeVar("T")

BATCH_MAX = 500
PRODUCER_BATCH_BYTES = 1024 * 1024
TOPICS_CHECK_INTERVAL = 5.0
BATCH_WITHIN = 0.02

Role = Literal["all", "ingress", "rules"]
ROLES: tuple[Role, ...] = ("all", "ingress", "rules")


def once(build: Callable[[], Awaitable[T]]) -> Callable[[], Awaitable[T]]:
    """An async getter that builds its value on first use (inside the worker's loop), once."""
    lock = asyncio.Lock()
    built: list[T] = []

    async def get() -> T:
        async with lock:
            if not built:
                built.append(await build())
        return built[0]

    return get


def faust_settings(settings: Settings, http_port: int | None = None) -> dict[str, Any]:
    fast: dict[str, Any] = dict(broker_rebalance_timeout=3, broker_session_timeout=6,
                                broker_heartbeat_interval=1) if settings.fast_rebalance else {}
    security = settings.kafka_security
    if security.sasl:
        assert security.password is not None
        fast["broker_credentials"] = faust.SASLCredentials(
            username=security.username, password=security.password.get_secret_value(),
            ssl_context=security.ssl_context(), mechanism=security.mechanism)
    elif security.protocol == "SSL":
        fast["broker_credentials"] = faust.SSLCredentials(security.ssl_context())
    return dict(
        broker=f"kafka://{settings.require_kafka()}",
        store="memory://",
        datadir=str(settings.home / "faust"),
        topic_allow_declare=False,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_max_request_size=topics.MAX_MESSAGE_BYTES + 64 * 1024,
        # aiokafka keeps one produce request in flight per broker and caps each partition's
        # share of it at the batch size (faust's default 16 KiB, ~15 events): a batch of 500
        # outcomes went out as ~30 sequential round trips. 1 MiB (well under the topics'
        # max.message.bytes) sends a batch's events and receipts in one or two requests.
        producer_max_batch_size=PRODUCER_BATCH_BYTES,
        # aiokafka's default partitioner, with a murmur2 a few times faster (same partitions).
        producer_partitioner=default_partitioner,
        consumer_max_fetch_size=topics.MAX_MESSAGE_BYTES + 64 * 1024,
        web_enabled=True,
        # Under `up` the worker's own web server (metrics, health) moves to an internal port
        # and `linkage-hub web` serves LINKAGE_HTTP_PORT (docs/workbench.md); the rules process
        # has its own (LINKAGE_RULES_HTTP_PORT).
        web_port=http_port if http_port is not None else int(
            os.environ.get("LINKAGE_WORKER_HTTP_PORT") or settings.http_port),
        web_bind="127.0.0.1",
        broker_commit_every=BATCH_MAX,
        broker_commit_interval=0.5,
        **fast,
    )


INGRESS_GROUP = "linkage-hub"
RULES_GROUP = "linkage-hub-rules"
"""Consumer groups: both start with the hub's group id, which its Kafka ACLs cover as a prefix
(hub/kafka_access.py). The names are those faust's agents used, so committed offsets carry over."""


def ingress_consumer_config(settings: Settings) -> dict[str, Any]:
    """aiokafka settings of the ingress BatchConsumer (Settings.fetch_wait_ms says why its wait)."""
    return consumer_config(settings, INGRESS_GROUP, settings.fetch_wait_ms)


def rules_consumer_config(settings: Settings) -> dict[str, Any]:
    """aiokafka settings of the rules BatchConsumer (no receipt waits on it: a longer wait)."""
    return consumer_config(settings, RULES_GROUP, settings.rules_fetch_wait_ms)


def consumer_config(settings: Settings, group_id: str, fetch_wait_ms: int) -> dict[str, Any]:
    """aiokafka settings of a BatchConsumer, matching what faust gave its consumer."""
    fast = dict(session_timeout_ms=6000, heartbeat_interval_ms=1000,
                rebalance_timeout_ms=3000) if settings.fast_rebalance else {}
    return dict(
        bootstrap_servers=settings.require_kafka(),
        group_id=group_id,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=fetch_wait_ms,
        max_partition_fetch_bytes=topics.MAX_MESSAGE_BYTES + 64 * 1024,
        # A batch is retried until the database is back (process_until_done); faust's
        # default poll interval (1,000 s) keeps such a wait from costing the assignment.
        max_poll_interval_ms=1_000_000,
        **settings.kafka_security.aiokafka(),
        **fast,
    )


def build_app(settings: Settings, agency_ids: Sequence[str], role: Role = "all") -> faust.App:
    """The faust app of one role: ingress (the agent over `linkage.ingress.<agency>` for each
    agency, the checkpointer and the HTTP service), rules, or both."""
    rules_only = role == "rules"
    # Both roles read through BatchConsumers (their own aiokafka consumers and groups), so
    # the app starts no faust consumer; its id names no consumer group.
    app = LinkageApp(f"linkage-hub-{role}",
                     **faust_settings(settings, settings.rules_http_port if rules_only else None))
    state: dict[str, Any] = {}

    async def open_pool() -> asyncpg.Pool:
        pool = await create_pool(settings.require_database(), max_size=8)
        state["pool"] = pool
        return pool

    shared_pool = once(open_pool)
    publisher = KafkaPublisher.over_faust(app)
    if role in ("all", "rules"):
        _rules_consumer(app, settings, shared_pool, publisher)
    if rules_only:
        from hub.http import register_views

        register_views(app, state)  # /healthz and this process's /metrics
        return app

    async def open_processor() -> IngressProcessor:
        pool = await shared_pool()
        return IngressProcessor(PostgresIngressStore(pool), settings.hub_key(),
                                PostgresRegistry(pool).snapshot)

    processor = once(open_processor)
    if role == "ingress":  # role "all" has the rules consumer's (the collector is per process)
        collect_on_a_clock(app)

    async def ingress_batch(messages: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        """Returns once every outcome is committed and every publish acknowledged."""
        records = [IngressRecord(m.topic, m.partition, m.offset, m.key, m.value,
                                 m.timestamp if m.timestamp > 0 else None) for m in messages]
        await process_until_done(await processor(), records, publisher)

    attach_batch_consumer(app, topics=[topics.ingress_topic(a) for a in agency_ids],
                          config=ingress_consumer_config(settings), handle=ingress_batch,
                          max_records=BATCH_MAX, within=BATCH_WITHIN)

    async def open_signed_ledger() -> LedgerProofs:
        return open_ledger(await shared_pool(), settings, publisher)

    ledger = once(open_signed_ledger)

    async def checkpoint_timer() -> None:
        """Issue a checkpoint when due (audit/checkpointer.py); never kills the worker."""
        try:
            async with translated_errors():
                await (await ledger()).checkpointer.tick()
        except (TimeoutError, StoreUnavailable, StoreError, BrokerUnavailable, OSError) as exc:
            log.warning("检查点暂未签发 / checkpoint not issued yet: %s", exc)
        except LedgerError as exc:
            log.error("拒绝签发检查点 / refusing to issue a checkpoint: %s", exc.diagnostics())
        except Exception:  # a bug or a broker error: log, retry at the next tick
            log.exception("checkpoint tick failed")

    app.timer(min(settings.checkpoint_interval, 1.0))(checkpoint_timer)

    async def topics_timer() -> None:
        """Re-create missing topics: a broker that lost its data (Tansu in memory restarted,
        a topic deleted) must get them back before agencies' records can flow again. The
        group's committed offsets are gone with them, so when the consumer rejoins its group it
        reads the new topics from their start (auto_offset_reset=earliest), and the rules
        runner folds from the ledger what linkage.events lost (RulesRunner.catch_up)."""
        try:
            missing = await ensure_hub_topics(settings, topics.hub_topics(agency_ids))
        except Exception as exc:  # the broker being down is the outage path, not this one
            log.warning("主题检查未完成 / topic check not done: %s", exc)
            return
        if missing:
            log.error("代理丢失了主题,已重建 / the broker lost topics, re-created: %s", missing)

    app.timer(TOPICS_CHECK_INTERVAL)(topics_timer)

    from hub.http import register_views

    register_views(app, state, ledger)
    return app


def _rules_consumer(app: faust.App, settings: Settings,
                  shared_pool: Callable[[], Awaitable[asyncpg.Pool]],
                  publisher: KafkaPublisher) -> None:
    """The rules layer (streams/rules_runner.py): accepted events -> case state -> alerts."""
    rules = startup_rules()  # a bad rule file stops the start-up here

    async def open_rules_runner() -> RulesRunner:
        return RulesRunner(PostgresCaseStore(await shared_pool()), settings.hub_key(), rules)

    rules_runner = once(open_rules_runner)

    async def rules_batch(values: list[bytes]) -> None:
        await (await rules_runner()).process(values, publisher)

    async def accepted_batch(messages: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        """Returns (and the offsets are committed) only once the batch's alert changes are
        committed and published."""
        values = [m.value or b"" for m in messages]
        await until_done(partial(rules_batch, values), "rules batch", metrics.RULES_RETRIES)

    attach_batch_consumer(app, topics=[topics.EVENTS], config=rules_consumer_config(settings),
                          handle=accepted_batch, max_records=BATCH_MAX, within=BATCH_WITHIN)

    ticks = itertools.count()

    async def rules_timer() -> None:
        """Deadline sweep and outbox publisher (streams/rules_runner.py), the ledger catch-up
        every CATCH_UP_EVERY ticks; never kills the worker."""
        try:
            await (await rules_runner()).tick(
                publisher, catch_up=next(ticks) % CATCH_UP_EVERY == 0)
        except (TimeoutError, StoreUnavailable, StoreError, BrokerUnavailable, OSError) as exc:
            log.warning("期限巡检暂未完成 / deadline sweep not done yet: %s", exc)
        except Exception:  # a bug or a broker error: log, retry at the next tick
            log.exception("rules tick failed")

    app.timer(1.0)(rules_timer)
    collect_on_a_clock(app)


def collect_on_a_clock(app: faust.App) -> TimedCollections:
    """The process's cyclic garbage, collected on a clock (hub/timed_collections.py): once per
    process, by the rules role's consumer or, in an ingress-only worker, by the ingress role."""
    collections = TimedCollections()

    async def collections_timer() -> None:
        collections.tick()

    app.timer(1.0)(collections_timer)
    return collections


async def process_until_done(
    processor: IngressProcessor, records: Sequence[IngressRecord], publisher: KafkaPublisher
) -> None:
    """Process a batch, retrying with back-off until it succeeds; never raises for I/O.

    What reaches the retry is the database or the broker being unavailable: the processor
    itself parks a record the database refuses or the hub fails on (streams/ingress.py).
    """
    await until_done(partial(processor.process, records, publisher), "ingress batch",
                     metrics.INGRESS_RETRIES)


async def until_done(
    operation: Callable[[], Awaitable[object]], what: str, retries: Counter
) -> None:
    """Run `operation` until it succeeds, backing off after each failure; never raises."""
    delay = 0.2
    while True:
        try:
            await operation()
            return
        except (TimeoutError, StoreUnavailable, StoreError, BrokerUnavailable, OSError) as exc:
            error: Exception = exc
        except Exception as exc:  # a bug or a broker error: log, back off, retry the batch
            log.exception("%s failed", what)
            error = exc
        retries.inc()
        log.warning("批次处理失败,%.1f 秒后重试 / batch failed, retrying in %.1fs: %s",
                    delay, delay, error)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)


def run(settings: Settings, agency_ids: Sequence[str], loglevel: str, role: Role = "all") -> None:
    """Run the faust worker of this role in this process until SIGINT/SIGTERM."""
    worker = faust.Worker(build_app(settings, agency_ids, role), loglevel=loglevel, quiet=True)
    # No terminal spinner: the worker runs under `up` (or a service manager), whose output
    # it would garble, and faust's spinner writes to stdout at exit, which raises (and
    # prints a traceback) when that stdout is a pipe whose reader is gone (`up | tee`).
    worker.spinner = None
    worker.execute_from_commandline()
