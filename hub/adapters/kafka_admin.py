"""Kafka administration through aiokafka: the contract's topics, created explicitly."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from schemas.topics import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)


async def ensure_topics(
    bootstrap: str, names: Iterable[str], *, partitions: int = 1, replication: int = 1
) -> list[str]:
    """Create the topics that do not exist yet (never rely on auto-creation)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
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
    finally:
        await admin.close()
