"""A worker killed mid-batch and restarted leaves no gap, no duplicate, one outcome each."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka.structs import ConsumerRecord

from tests.eventually import eventually
from tests.integration import both_engines
from tests.integration.conftest import Hub, cluster_for, dedicated_hub
from tests.kafka_io import open_receipt, produce, wait_for
from tests.records import valid

pytestmark = pytest.mark.integration
engine = both_engines.engine  # this module runs on both engines


N = 4000


@pytest.fixture(scope="module")
def crash_hub(tmp_path_factory: pytest.TempPathFactory, pg_root: Path, engine: str,
              request: pytest.FixtureRequest) -> Iterator[Hub]:
    with dedicated_hub("tcp", tmp_path_factory.mktemp(f"crash-{engine}"), pg_root,
                       cluster_for(engine, request)) as running:
        yield running


async def ledger_size_at_least(dsn: str, size: int) -> int:
    """The ledger's size if it is at least `size`, else 0."""
    conn = await asyncpg.connect(dsn)
    try:
        found = int(await conn.fetchval("SELECT count(*) FROM ledger"))
    finally:
        await conn.close()
    return found if found >= size else 0


async def test_kill_mid_batch_and_restart(crash_hub: Hub) -> None:
    hub = crash_hub
    dsn = hub.process.database_url
    # Let the worker join its group before the flood, so the kill lands mid-stream.
    warmup = valid(hub.keys["zs-aic"], "zs-aic", "case.opened")
    await produce(hub.process.bootstrap, [warmup])
    await eventually(lambda: ledger_size_at_least(dsn, 1), timeout=60,
                     describe=hub.process.log_text)

    records = [valid(hub.keys["zs-aic"], "zs-aic", "case.assessed", f"C-{i % 50}")
               for i in range(N)]
    await produce(hub.process.bootstrap, records)
    # Kill as soon as the flood starts landing, so the kill lands mid-stream.
    killed_at = await eventually(lambda: ledger_size_at_least(dsn, 2), timeout=60,
                                 interval=0.005, describe=hub.process.log_text)
    hub.process.kill()
    assert killed_at < N + 1, f"could not kill mid-stream (ledger size {killed_at})"

    hub.process.start()
    await eventually(lambda: ledger_size_at_least(dsn, N + 1), timeout=120, interval=0.2,
                     describe=hub.process.log_text)

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
    wanted = {r.event_id for r in records}
    seen: set[str] = set()
    statuses: set[str] = set()

    def first_receipt(message: ConsumerRecord[Any, Any]) -> bool:
        event_id = (message.key or b"").decode()
        if event_id not in wanted:
            return False
        statuses.add(open_receipt(message.value, hub_key).status)
        new = event_id not in seen
        seen.add(event_id)
        return new

    await wait_for(hub.process.bootstrap, "linkage.receipts.zs-aic", first_receipt,
                   timeout=60, count=N)
    assert seen == wanted
    assert statuses == {"accepted"}
