"""The connector's durability: nothing is lost across a crash or a broker outage."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from connectors.connector import Connector
from hub.embedded import free_port
from schemas.signing import SigningKey
from tests.eventually import eventually
from tests.integration.conftest import Hub, start_hub
from tests.kafka_io import open_receipt, wait_for
from tests.records import sample_data
from tests.support import scrape_metrics

pytestmark = pytest.mark.integration


async def test_events_stored_before_a_crash_are_sent_on_restart(hub: Hub, tmp_path: Path) -> None:
    outbox = tmp_path / "crashy.sqlite"
    crashed = hub.connector("zs-aic", outbox)
    # Stored, never sent: the process "crashes" before its sender ever ran.
    ids = [crashed.enqueue("case.opened", f"CRASH-{i}", sample_data("case.opened"))
           for i in range(3)]
    crashed.outbox.close()
    assert crashed.outbox is not None

    revived = hub.connector("zs-aic", outbox)
    await revived.start()
    try:
        for event_id in ids:
            entry = await revived.wait_for_receipt(event_id, timeout=60)
            assert entry.status == "accepted"
    finally:
        await revived.stop()


async def test_sent_but_unreceipted_events_are_resent_and_stay_accepted(hub: Hub,
                                                                       tmp_path: Path) -> None:
    outbox = tmp_path / "resend.sqlite"
    first = hub.connector("zs-aic", outbox)
    await first.start()
    event_id = await first.publish("case.opened", "RESEND-1", sample_data("case.opened"))
    await first.wait_for_receipt(event_id, timeout=60)
    await first.stop()
    # Pretend the receipt never arrived: mark it sent again, restart, it is re-sent.
    import sqlite3

    db = sqlite3.connect(outbox)
    db.execute("UPDATE outbox SET status = 'sent' WHERE event_id = ?", (event_id,))
    db.execute("DELETE FROM receipt_positions")
    db.commit()
    db.close()
    second = hub.connector("zs-aic", outbox)
    await second.start()
    try:
        await second.wait_for_receipt(event_id, timeout=60)
        # The re-send is answered `duplicate`; once the connector has read past that receipt,
        # the entry must still say accepted (a duplicate never overwrites it).
        hub_key = hub.process.hub_key().public_key
        receipts = await wait_for(hub.process.bootstrap, "linkage.receipts.zs-aic",
                                  lambda m: m.key == event_id.encode(), timeout=60, count=2)
        assert [open_receipt(m.value, hub_key).status for m in receipts] == [
            "accepted", "duplicate"]
        last = receipts[-1]
        await eventually(lambda: second.outbox.receipt_positions().get(last.partition, 0)
                         > last.offset, timeout=30)
        entry = second.outbox.get(event_id)
        assert entry is not None and entry.status == "accepted" and entry.attempts == 2
    finally:
        await second.stop()


async def test_connector_retries_while_the_broker_is_down(
        tmp_path: Path, pg_root: Path, tmp_path_factory: pytest.TempPathFactory,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="connectors.connector")
    port = free_port()
    key = SigningKey.generate()
    connector = Connector("zs-aic", key, bootstrap=f"127.0.0.1:{port}",
                          outbox_path=tmp_path / "outage.sqlite", max_backoff=1.0)
    await connector.start()
    event_id = await connector.publish("case.opened", "OUTAGE-1", sample_data("case.opened"))
    # Nothing to send to yet: the sender has tried (and backs off), the entry stays pending.
    def failed_sends() -> int:
        return sum("send failed" in r.getMessage() for r in caplog.records)

    await eventually(lambda: failed_sends() >= 2, timeout=30)
    entry = connector.outbox.get(event_id)
    assert entry is not None and entry.status == "pending"
    hub = await asyncio.to_thread(start_hub, "tcp", tmp_path_factory.mktemp("outage"), pg_root,
                                  port, {"zs-aic": _pub(key, tmp_path)})
    try:
        received = await connector.wait_for_receipt(event_id, timeout=90)
        assert received.status == "accepted"
    finally:
        await connector.stop()
        hub.process.stop()
        hub.process.broker.stop()


def _pub(key: SigningKey, directory: Path) -> Path:
    key.write_pair(directory, "outage")
    return directory / "outage.pub.pem"


async def test_metrics_endpoint_counts_outcomes(hub: Hub, aic: Connector) -> None:
    event_id = await aic.publish("case.opened", "METRICS-1", sample_data("case.opened"))
    await aic.wait_for_receipt(event_id, timeout=60)
    text = await eventually(lambda: scrape_metrics(hub.process.http_port), timeout=30)
    assert 'linkage_ingress_records_total{agency="zs-aic",outcome="accepted",reason=""}' in text
    assert "linkage_ingress_latency_seconds_bucket" in text
    assert "linkage_ledger_size" in text
