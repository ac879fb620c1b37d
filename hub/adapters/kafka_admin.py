"""Kafka administration through aiokafka: the contract's topics, created explicitly."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
    TopicAlreadyExistsError,
)

from connectors.kafka_security import PLAINTEXT, KafkaSecurity
from hub.adapters.kafka_publisher import BrokerUnavailable
from hub.settings import Settings
from schemas.topics import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)

_UNREACHABLE = (KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError, RequestTimedOutError)
"""The admin client's errors that mean "the broker is not (yet) answering": BrokerUnavailable
at this seam, which callers may retry. Anything else (authorisation, bad config) stays what
aiokafka says, for the CLI to report."""


async def ensure_topics(
    bootstrap: str, names: Iterable[str], *, partitions: int = 1, replication: int = 1,
    security: KafkaSecurity = PLAINTEXT,
) -> list[str]:
    """Create the topics that do not exist yet (never rely on auto-creation).

    Existing topics are left as they are (a partition count is never changed here: adding
    partitions moves case ids to other partitions and breaks per-case order in flight).
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000,
                                **security.aiokafka())
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [n for n in dict.fromkeys(names) if n not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [NewTopic(n, num_partitions=partitions, replication_factor=replication,
                              topic_configs={"max.message.bytes": str(MAX_MESSAGE_BYTES)})
                     for n in missing]
                )
            except TopicAlreadyExistsError:
                pass
            log.info("created topics %s", missing)
        return missing
    except _UNREACHABLE as exc:
        raise BrokerUnavailable(f"Kafka 代理 {bootstrap} 未应答 / the Kafka broker at "
                                f"{bootstrap} does not answer: {exc}") from exc
    finally:
        await admin.close()


async def ensure_hub_topics(settings: Settings, names: Iterable[str],
                            bootstrap: str | None = None) -> list[str]:
    """ensure_topics with the settings' partitions, replication and the hub's credentials."""
    return await ensure_topics(bootstrap or settings.require_kafka(), names,
                               partitions=settings.partitions, replication=settings.replication,
                               security=settings.kafka_security)
