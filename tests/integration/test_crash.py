"""A worker killed mid-batch and restarted leaves no gap, no duplicate, one outcome each."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from tests.integration.conftest import Hub, dedicated_hub
from tests.kafka_io import open_receipt, produce, read_topic
from tests.records import valid

pytestmark = pytest.mark.integration

N = 4000


@pytest.fixture(scope="module")
def crash_hub(tmp_path_factory: pytest.TempPathFactory, pg_root: Path) -> Iterator[Hub]:
    with dedicated_hub("tcp", tmp_path_factory.mktemp("crash"), pg_root) as running:
        yield running


async def _ledger_size(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM ledger"))
    finally:
        await conn.close()


async def test_kill_mid_batch_and_restart(crash_hub: Hub) -> None:
    hub = crash_hub
    dsn = hub.process.database_url
    # Let the worker join its group before the flood, so the kill lands mid-stream.
    warmup = valid(hub.keys["zs-aic"], "zs-aic", "case.opened")
    await produce(hub.process.bootstrap, [warmup])
    deadline = time.monotonic() + 60
    while await _ledger_size(dsn) < 1:
        assert time.monotonic() < deadline, hub.process.log_text()
        await asyncio.sleep(0.1)

    records = [valid(hub.keys["zs-aic"], "zs-aic", "case.assessed", f"C-{i % 50}")
               for i in range(N)]
    await produce(hub.process.bootstrap, records)
    killed_at = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        killed_at = await _ledger_size(dsn)
        if killed_at > 1:
            hub.process.kill()
            break
        await asyncio.sleep(0.005)
    assert 1 < killed_at < N + 1, f"could not kill mid-stream (ledger size {killed_at})"

    hub.process.start()
    deadline = time.monotonic() + 120
    while await _ledger_size(dsn) < N + 1:
        assert time.monotonic() < deadline, hub.process.log_text()
        await asyncio.sleep(0.2)

    conn = await asyncpg.connect(dsn)
    try:
        indexes = [r[0] for r in await conn.fetch("SELECT ledger_index FROM ledger ORDER BY 1")]
        ids = await conn.fetch("SELECT event_id FROM ledger")
        outcomes = await conn.fetch("SELECT status, count(*) AS n FROM ingress_outcomes GROUP BY 1")
    finally:
        await conn.close()
    assert indexes == list(range(N + 1))
    assert len({r[0] for r in ids}) == N + 1
    assert {r["status"]: r["n"] for r in outcomes} == {"accepted": N + 1}

    # Every receipt, including those re-sent after the restart, says accepted.
    hub_key = hub.process.hub_key().public_key
    deadline = time.monotonic() + 60
    while True:
        receipts = [open_receipt(m.value, hub_key)
                    for m in await read_topic(hub.process.bootstrap, "linkage.receipts.zs-aic")]
        by_id = Counter(r.event_id for r in receipts)
        if all(by_id[r.event_id] for r in records) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert all(by_id[r.event_id] >= 1 for r in records)
    assert {r.status for r in receipts} == {"accepted"}
