"""Nothing lost when the broker loses everything: Tansu in memory restarted mid-stream.

The ledger is the source of truth. After the restart the worker re-creates the topics and is
restarted (as `up` does), the rules runner folds from the ledger what linkage.events lost,
connectors re-send what has no receipt and read the new receipts topic from its start.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from connectors.connector import Connector
from hub.adapters.kafka_admin import ensure_topics
from schemas.topics import hub_topics
from tests.eventually import eventually
from tests.integration.conftest import AGENCIES as AGENCY_IDS
from tests.integration.conftest import Hub, dedicated_hub
from tests.invariants import (
    assert_alerts_fault_free,
    assert_cases_hold_the_ledger,
    assert_ledger_exactly,
    ledger_size,
    penalty_case_steps,
)

pytestmark = pytest.mark.integration

CASES = 40  # per agency connector; three events each for zs-aic, one for zs-psb


@pytest.fixture
def lossy_hub(tmp_path: Path, pg_root: Path) -> Iterator[Hub]:
    with dedicated_hub("tcp", tmp_path, pg_root) as running:
        yield running


@contextlib.asynccontextmanager
async def supervised(hub: Hub) -> AsyncIterator[list[int]]:
    """Restart the worker whenever it exits, as `up` does; yields the exit codes seen."""
    codes: list[int] = []

    async def watch() -> None:
        while True:
            process = hub.process.process
            if process is not None and process.poll() is not None:
                codes.append(process.returncode)
                hub.process.start()
            await asyncio.sleep(0.2)

    task = asyncio.create_task(watch())
    try:
        yield codes
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def publish(aic: Connector, psb: Connector, cases: range) -> list[str]:
    ids = []
    for i in cases:
        case_id = f"LOSS-{i:03d}"
        for type_name, data in penalty_case_steps(i):
            ids.append(await aic.publish(type_name, case_id, data))
        ids.append(await psb.publish("clue.notified", case_id,
                                     {"to_agency": "zs-aic", "summary": "线索"}))
        await asyncio.sleep(0.02)  # a stream, not one burst
    return ids


async def test_broker_restart_in_memory_loses_nothing(lossy_hub: Hub, tmp_path: Path) -> None:
    hub = lossy_hub
    dsn = hub.process.database_url
    broker = hub.process.broker
    connectors = [Connector(agency, hub.keys[agency], bootstrap=broker.bootstrap,
                            outbox_path=tmp_path / f"{agency}.sqlite",
                            hub_public_key=hub.process.hub_key().public_key, resend_after=5.0)
                  for agency in ("zs-aic", "zs-psb")]
    for connector in connectors:
        await connector.start()
    aic, psb = connectors
    try:
        async with supervised(hub):
            sent = await publish(aic, psb, range(CASES // 2))
            await eventually(lambda: _above(dsn, len(sent) // 2), 120, interval=0.2, describe=hub.process.log_text)
            broker.stop()  # memory://: every topic and committed offset is gone
            broker.start()
            # Re-create the topics at once, as an operator's restart script would: Tansu
            # 0.6.0 auto-creates a topic a client merely produces to, and a race between that
            # and the hub's creation left its offsets inconsistent (end offset below records
            # it serves) in our runs. The worker's own check (every 5 s) would come later.
            await ensure_topics(broker.bootstrap, hub_topics(AGENCY_IDS))
            sent += await publish(aic, psb, range(CASES // 2, CASES))
            for connector in connectors:
                await connector.wait_for_all(timeout=240)
        for connector in connectors:
            # Receipts lost with the broker: the re-send of an event ledgered before the loss
            # is answered `duplicate` (it is in the ledger once, checked below).
            assert set(connector.outbox.counts()) <= {"accepted", "duplicate"}, \
                connector.outbox.counts()
    finally:
        for connector in connectors:
            await connector.stop()
    await assert_ledger_exactly(dsn, sent)

    await eventually(lambda: assert_cases_hold_the_ledger(dsn), 60, interval=0.2,
                     describe=hub.process.log_text)
    await assert_alerts_fault_free(dsn, logs=hub.process.log_text)


async def _above(dsn: str, size: int) -> bool:
    return await ledger_size(dsn) > size
