"""A database outage stalls the ingress but loses nothing and never kills the worker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests import support
from tests.eventually import eventually
from tests.integration import both_engines
from tests.integration.conftest import Hub, cluster_for, start_hub
from tests.kafka_cluster import KafkaCluster
from tests.records import sample_data

pytestmark = pytest.mark.integration
engine = both_engines.engine  # this module runs on both engines



async def ingress_retries(hub: Hub) -> float:
    text = await support.scrape_metrics(hub.process.http_port)
    return support.metric_value(text, "linkage_ingress_retries_total") or 0.0


async def _retried_more(hub: Hub, before: float) -> bool:
    return await ingress_retries(hub) >= before + 2  # the batch of OUTAGE-1 failed, twice


async def test_database_outage_is_retried_until_it_ends(
        tmp_path_factory: pytest.TempPathFactory, engine: str,
        request: pytest.FixtureRequest) -> None:
    root = tmp_path_factory.mktemp("db-outage")
    with support.embedded_root("outage-pg") as own_pg:
        await _outage(root, own_pg, cluster_for(engine, request))


async def _outage(root: Path, own_pg: Path, cluster: KafkaCluster | None) -> None:
    hub = await asyncio.to_thread(start_hub, "pgserver", root, own_pg, cluster=cluster)
    database = support._embedded[own_pg]
    connector = hub.connector("zs-aic", root / "aic.sqlite")
    await connector.start()
    try:
        warm = await connector.publish("case.opened", "OUTAGE-0", sample_data("case.opened"))
        assert (await connector.wait_for_receipt(warm, timeout=60)).status == "accepted"

        await asyncio.to_thread(database.stop)
        retries_before = await ingress_retries(hub)
        during = await connector.publish("case.opened", "OUTAGE-1", sample_data("case.opened"))
        # The worker has the record and fails on the database (not merely slow): its ingress
        # batch is retried, while the record stays sent without an outcome.
        await eventually(lambda: _retried_more(hub, retries_before), timeout=60,
                         describe=hub.process.log_text)
        entry = connector.outbox.get(during)
        assert entry is not None and entry.status == "sent"  # on the broker, no outcome yet
        assert hub.process.process is not None and hub.process.process.poll() is None

        await asyncio.to_thread(database.start)
        after = await connector.wait_for_receipt(during, timeout=90)
        assert after.status == "accepted" and after.ledger_index == 1
        assert "retrying" in hub.process.log_text()
    finally:
        await connector.stop()
        hub.process.stop()
        hub.process.broker.stop()
        support._embedded.pop(own_pg, None)
        database.stop()
