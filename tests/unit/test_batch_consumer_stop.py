"""The ingress batch consumer's loop ends quietly when the app stops it mid-fetch."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.errors import ConsumerStoppedError

from hub.adapters.batch_consumer import BatchConsumer


class _StoppedMidFetch:
    """Stands for the consumer `on_stop` stopped while the loop waited in `getmany`
    (the loop's own control flow is under test, not Kafka: tests/integration/test_up.py
    stops a real worker)."""

    def __init__(self, service: BatchConsumer, stopping: bool) -> None:
        self._service = service
        self._stopping = stopping

    async def getmany(self, **_: Any) -> dict[Any, Any]:
        if self._stopping:
            self._service._stopped.set()  # what Service.stop does before on_stop
        raise ConsumerStoppedError()


async def _handle(records: Any) -> None:
    raise AssertionError("no batch was fetched")


def _service(stopping: bool) -> BatchConsumer:
    service = BatchConsumer(topics=["t"], config={}, handle=_handle, max_records=10, within=0.0)
    service._consumer = _StoppedMidFetch(service, stopping)  # type: ignore[assignment]
    return service


async def test_a_consumer_stopped_by_the_app_ends_the_loop_without_a_crash() -> None:
    service = _service(stopping=True)
    await BatchConsumer._consume(service)  # type: ignore[operator]  # returns, raises nothing


async def test_a_consumer_stopped_while_the_app_runs_is_still_a_crash() -> None:
    service = _service(stopping=False)
    with pytest.raises(ConsumerStoppedError):
        await BatchConsumer._consume(service)  # type: ignore[operator]
