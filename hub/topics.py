"""Kafka topic names of the contract and their explicit creation."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

log = logging.getLogger(__name__)

EVENTS = "linkage.events"
QUARANTINE = "linkage.quarantine"
ALERTS = "linkage.alerts"
CHECKPOINTS = "linkage.checkpoints"

# Records over the contract's 1 MiB limit must still reach the hub (to be rejected as
# TOO_LARGE and quarantined), so ingress and quarantine topics accept larger messages.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024


def ingress_topic(agency_id: str) -> str:
    return f"linkage.ingress.{agency_id}"


def receipts_topic(agency_id: str) -> str:
    return f"linkage.receipts.{agency_id}"


def hub_topics(agency_ids: Iterable[str]) -> list[str]:
    """Every topic the hub needs for these agencies."""
    names = [EVENTS, QUARANTINE, ALERTS, CHECKPOINTS]
    for agency in sorted(set(agency_ids)):
        names += [ingress_topic(agency), receipts_topic(agency)]
    return names


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
