"""The ports the stream processors need from the outside world: publishing, the clock.

Adapters in `hub.adapters` implement them; tests plug in in-memory ones.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol


class Publisher(Protocol):
    """Queues records in order; each returned future resolves at the broker's ack (acks=all)."""

    async def enqueue(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> Awaitable[object]: ...


Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)
