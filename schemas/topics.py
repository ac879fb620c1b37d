"""Kafka topic names of the contract (section 2-4): one place that spells them."""

from __future__ import annotations

from collections.abc import Iterable

EVENTS = "linkage.events"
QUARANTINE = "linkage.quarantine"
ALERTS = "linkage.alerts"
CHECKPOINTS = "linkage.checkpoints"

# Records over the contract's 1 MiB limit must still reach the hub (to be rejected as
# TOO_LARGE and quarantined), so ingress and quarantine topics accept larger messages.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024


INGRESS_PREFIX = "linkage.ingress."
RECEIPTS_PREFIX = "linkage.receipts."


def ingress_topic(agency_id: str) -> str:
    return f"{INGRESS_PREFIX}{agency_id}"


def receipts_topic(agency_id: str) -> str:
    return f"{RECEIPTS_PREFIX}{agency_id}"


def topic_agency(topic: str) -> str | None:
    """`linkage.ingress.zs-aic` -> `zs-aic`; None for any other topic."""
    return topic[len(INGRESS_PREFIX):] if topic.startswith(INGRESS_PREFIX) else None


def hub_topics(agency_ids: Iterable[str]) -> list[str]:
    """Every topic the hub needs for these agencies."""
    names = [EVENTS, QUARANTINE, ALERTS, CHECKPOINTS]
    for agency in sorted(set(agency_ids)):
        names += [ingress_topic(agency), receipts_topic(agency)]
    return names
