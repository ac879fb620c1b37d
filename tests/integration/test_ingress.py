"""The ingress end to end: every event type, every reason code, duplicates, append-only."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import pytest

from connectors.connector import Connector
from schemas.events import EVENT_TYPES
from schemas.signing import SigningKey
from tests.integration.conftest import Hub
from tests.kafka_io import end_offsets, open_receipt, produce, read_topic, wait_for
from tests.records import BAD_RECORDS, sample_data, sender_of, valid

pytestmark = pytest.mark.integration


async def test_every_event_type_gets_a_ledger_entry_and_receipt(hub: Hub, tmp_path: Path) -> None:
    connectors = {a: hub.connector(a, tmp_path / f"{a}.sqlite")
                  for a in ("zs-aic", "zs-psb", "zs-procuratorate")}
    for c in connectors.values():
        await c.start()
    try:
        case_id = f"ALL-{uuid.uuid4().hex[:6]}"
        ids = {name: await connectors[sender_of(name)].publish(name, case_id, sample_data(name))
               for name in EVENT_TYPES}
        for name, event_id in ids.items():
            entry = await connectors[sender_of(name)].wait_for_receipt(event_id, timeout=60)
            assert entry.status == "accepted", (name, entry)
            assert entry.ledger_index is not None and entry.leaf_hash
        listed = hub.process.cli("ledger", "list", "--case", case_id, "--json")
        import json

        entries = json.loads(listed.stdout)
        assert sorted(e["type"] for e in entries) == sorted(EVENT_TYPES)
        assert {e["event_id"] for e in entries} == set(ids.values())
        events = await read_topic(hub.process.bootstrap, "linkage.events")
        published = {m.value for m in events if m.key == case_id.encode()}
        assert len(published) == len(EVENT_TYPES)
    finally:
        for c in connectors.values():
            await c.stop()


@pytest.mark.parametrize("code", sorted(BAD_RECORDS))
async def test_each_reason_code_is_receipted_and_quarantined(hub: Hub, code: str) -> None:
    record = BAD_RECORDS[code](hub.keys["zs-aic"], SigningKey.generate())
    marker = uuid.uuid4().hex.encode()
    record = type(record)(record.topic, (record.key or b"") + marker if code == "CASE_MISMATCH"
                          else record.key, record.value, record.event_id)
    # A record without a readable event id is known by its reason, among receipts sent after
    # it (the hub is shared with other modules, which send bad records too).
    since = await end_offsets(hub.process.bootstrap, "linkage.receipts.zs-aic")
    await produce(hub.process.bootstrap, [record])
    hub_key = hub.process.hub_key().public_key

    def ours(message: object) -> bool:
        if message.offset < since.get(message.partition, 0):  # type: ignore[attr-defined]
            return False
        receipt = open_receipt(message.value, hub_key)  # type: ignore[attr-defined]
        return receipt.reason == code and (record.event_id is None or
                                           receipt.event_id == record.event_id)

    [message] = (await wait_for(hub.process.bootstrap, "linkage.receipts.zs-aic", ours))[-1:]
    receipt = open_receipt(message.value, hub_key)
    assert receipt.status == "rejected"
    assert receipt.detail
    assert receipt.ledger_index is None
    assert message.key == (record.event_id.encode() if record.event_id else None)
    quarantined = await wait_for(hub.process.bootstrap, "linkage.quarantine",
                                 lambda m: m.value == record.value)
    headers = dict(quarantined[0].headers)
    assert headers["linkage-reason"] == code.encode()
    conn = await asyncpg.connect(hub.process.database_url)
    try:
        in_ledger = await conn.fetchval("SELECT count(*) FROM ledger WHERE record = $1", record.value)
        stored = await conn.fetchval(
            "SELECT count(*) FROM ingress_outcomes WHERE status = 'rejected' AND reason = $1"
            " AND record = $2", code, record.value)
    finally:
        await conn.close()
    assert in_ledger == 0
    assert stored == 1


async def test_revoked_key_is_refused(hub: Hub, tmp_path: Path) -> None:
    key = SigningKey.generate()
    key.write_pair(tmp_path, "zs-customs")
    keyid = hub.process.cli("agency", "add-key", "zs-customs",
                            str(tmp_path / "zs-customs.pub.pem")).stdout.strip()
    assert keyid == key.keyid
    hub.process.cli("agency", "revoke-key", keyid)
    record = valid(key, "zs-customs", "case.opened")
    await produce(hub.process.bootstrap, [record])
    hub_key = hub.process.hub_key().public_key
    [message] = await wait_for(hub.process.bootstrap, "linkage.receipts.zs-customs",
                               lambda m: m.key == record.event_id.encode())
    receipt = open_receipt(message.value, hub_key)
    assert (receipt.status, receipt.reason) == ("rejected", "KEY_REVOKED")


async def test_duplicate_is_receipted_as_such(hub: Hub, aic: Connector) -> None:
    record = valid(hub.keys["zs-aic"], "zs-aic", "case.opened")
    await produce(hub.process.bootstrap, [record, record])
    hub_key = hub.process.hub_key().public_key
    messages = await wait_for(hub.process.bootstrap, "linkage.receipts.zs-aic",
                              lambda m: m.key == record.event_id.encode(), count=2)
    statuses = [open_receipt(m.value, hub_key) for m in messages]
    assert [r.status for r in statuses] == ["accepted", "duplicate"]
    assert statuses[0].ledger_index == statuses[1].ledger_index
    conn = await asyncpg.connect(hub.process.database_url)
    try:
        count = await conn.fetchval("SELECT count(*) FROM ledger WHERE event_id = $1",
                                    uuid.UUID(record.event_id))
    finally:
        await conn.close()
    assert count == 1


async def test_database_refuses_update_delete_truncate_on_the_ledger(hub: Hub, aic: Connector) -> None:
    event_id = await aic.publish("case.opened", "APPEND-ONLY", sample_data("case.opened"))
    await aic.wait_for_receipt(event_id, timeout=60)
    owner = await asyncpg.connect(hub.process.database_url)
    try:
        for sql in ("UPDATE ledger SET case_id = 'x'", "DELETE FROM ledger",
                    "TRUNCATE ledger", "UPDATE ledger_nodes SET level = 0",
                    "DELETE FROM ledger_nodes"):
            with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
                await owner.execute(sql)
        await owner.execute("SET ROLE linkage_hub")
        for sql in ("UPDATE ledger SET case_id = 'x'", "DELETE FROM ledger"):
            with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError, match="permission"):
                await owner.execute(sql)
    finally:
        await owner.close()


async def test_malformed_flood_does_not_stop_good_records(hub: Hub, aic: Connector) -> None:
    junk = [type(r)(r.topic, b"J", bytes([i % 256]) * (i + 1), None)
            for i, r in enumerate([valid(hub.keys["zs-aic"], "zs-aic", "case.opened")] * 50)]
    await produce(hub.process.bootstrap, junk)
    event_id = await aic.publish("case.opened", "AFTER-JUNK", sample_data("case.opened"))
    entry = await aic.wait_for_receipt(event_id, timeout=60)
    assert entry.status == "accepted"
    assert hub.process.process is not None and hub.process.process.poll() is None


async def test_revocation_takes_effect_on_a_running_worker(hub: Hub, tmp_path: Path) -> None:
    key = SigningKey.generate()
    key.write_pair(tmp_path, "zs-customs")
    keyid = hub.process.cli("agency", "add-key", "zs-customs",
                            str(tmp_path / "zs-customs.pub.pem")).stdout.strip()
    hub_key = hub.process.hub_key().public_key

    async def outcome(record: object) -> tuple[str, str | None]:
        event_id = record.event_id  # type: ignore[attr-defined]
        [message] = await wait_for(hub.process.bootstrap, "linkage.receipts.zs-customs",
                                   lambda m: m.key == event_id.encode(), timeout=60)
        receipt = open_receipt(message.value, hub_key)
        return receipt.status, receipt.reason

    before = valid(key, "zs-customs", "case.opened")
    await produce(hub.process.bootstrap, [before])
    assert await outcome(before) == ("accepted", None)
    hub.process.cli("agency", "revoke-key", keyid)
    # Sent at once: the worker's registry snapshot may still call the key active, but every
    # batch re-reads revocations under the ledger's append lock, so nothing slips in (and
    # `ledger verify` over the shared hub finds no record signed after revocation).
    after = valid(key, "zs-customs", "case.opened")
    await produce(hub.process.bootstrap, [after])
    assert await outcome(after) == ("rejected", "KEY_REVOKED")
