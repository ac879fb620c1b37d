"""Hostile records end to end on the real broker (issue 7): each gets its rejection receipt,
and valid records of two agencies sent right after it are accepted. Receipts are read by an
independent verifier (hashlib over the bytes sent, PyNaCl over the DSSE PAE with the hub's
public key from its PEM). A record the database refuses is parked, listed and retried."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from schemas.signing import SigningKey
from tests.eventually import eventually
from tests.ingress_harness import independent_receipt, raw_public_from_pem
from tests.integration.conftest import Hub
from tests.kafka_io import produce, wait_for
from tests.records import HOSTILE_RECORDS, Record, event_dict, sample_data, signed, valid

pytestmark = pytest.mark.integration


def sha(value: bytes) -> str:
    return hashlib.sha256(value).hexdigest()


async def receipts_for(hub: Hub, agency: str, records: list[Record],
                       timeout: float = 60.0) -> dict[str, dict[str, Any]]:
    """The hub's receipts for exactly these records' bytes, by record_sha256, verified."""
    hub_raw = raw_public_from_pem((hub.process.home / "keys" / "hub.pub.pem").read_text())
    wanted = {sha(r.value) for r in records}

    def judged(message: Any) -> dict[str, Any]:
        return independent_receipt(message.value, hub_raw)

    found = await wait_for(hub.process.bootstrap, f"linkage.receipts.{agency}",
                           lambda m: judged(m).get("record_sha256") in wanted,
                           timeout=timeout, count=len(wanted))
    return {judged(m)["record_sha256"]: judged(m) for m in found}


@pytest.mark.parametrize("name", sorted(HOSTILE_RECORDS))
async def test_a_hostile_record_is_receipted_and_two_agencies_go_on(hub: Hub, name: str) -> None:
    builder, reason = HOSTILE_RECORDS[name]
    hostile = builder(hub.keys["zs-aic"], SigningKey.generate())
    aic = valid(hub.keys["zs-aic"], "zs-aic", "case.opened")
    psb = valid(hub.keys["zs-psb"], "zs-psb", "transfer.accepted")
    await produce(hub.process.bootstrap, [hostile, aic, psb])
    by_hash = await receipts_for(hub, "zs-aic", [hostile, aic])
    rejection, accepted = by_hash[sha(hostile.value)], by_hash[sha(aic.value)]
    assert (rejection["status"], rejection["reason"]) == ("rejected", reason)
    assert rejection["event_id"] == hostile.event_id or name == "deep_event"
    assert accepted["status"] == "accepted" and accepted["event_id"] == aic.event_id
    [other] = (await receipts_for(hub, "zs-psb", [psb])).values()
    assert other["status"] == "accepted" and other["event_id"] == psb.event_id


async def test_a_record_the_database_refuses_is_parked_then_retried_to_its_true_outcome(
        hub: Hub) -> None:
    marker = f"PARK-{SigningKey.generate().keyid[:12]}"
    owner = await asyncpg.connect(hub.process.database_url)
    try:  # a constraint stands in for whatever makes the database refuse one record
        await owner.execute(f"ALTER TABLE ingress_outcomes ADD CONSTRAINT refuse_{marker[5:]}"
                            f" CHECK (detail IS NULL OR detail NOT ILIKE '%{marker}%')")
        refused = signed(hub.keys["zs-aic"], "zs-aic", event_dict(
            "zs-aic", "case.opened", f"C-{marker}", type=f"cn.linkage.{marker.lower()}.v1"))
        after = valid(hub.keys["zs-aic"], "zs-aic", "case.opened")
        await produce(hub.process.bootstrap, [refused, after])
        assert (await receipts_for(hub, "zs-aic", [after]))[sha(after.value)]["status"] == (
            "accepted")
        listed = json.loads(hub.process.cli("parked", "list", "--json").stdout)
        [parked] = [p for p in listed if marker[5:] in p["evidence"]]
        assert parked["reason"] == "store_refused" and "23514" in parked["evidence"]
        still = hub.process.cli("parked", "retry", str(parked["parked_id"]), check=False)
        assert still.returncode == 3, still.stdout + still.stderr
        await owner.execute(f"ALTER TABLE ingress_outcomes DROP CONSTRAINT refuse_{marker[5:]}")
        retried = hub.process.cli("parked", "retry", str(parked["parked_id"]))
        assert "rejected UNKNOWN_TYPE" in retried.stdout
    finally:
        await owner.execute(
            f"ALTER TABLE ingress_outcomes DROP CONSTRAINT IF EXISTS refuse_{marker[5:]}")
        await owner.close()
    rejection = (await receipts_for(hub, "zs-aic", [refused]))[sha(refused.value)]
    assert (rejection["status"], rejection["reason"]) == ("rejected", "UNKNOWN_TYPE")
    listed = json.loads(hub.process.cli("parked", "list", "--all", "--json").stdout)
    assert [p["outcome"] for p in listed if p["parked_id"] == parked["parked_id"]] == ["rejected"]


async def test_forged_rejections_and_resends_reach_each_sender_as_what_was_judged(
        hub: Hub, tmp_path: Path) -> None:
    case = f"SHA-{SigningKey.generate().keyid[:8]}"
    first = hub.connector("zs-aic", tmp_path / "first.sqlite")
    await first.start()
    try:
        event_id = await first.publish("case.opened", case, sample_data("case.opened"))
        assert (await first.wait_for_receipt(event_id, timeout=60)).status == "accepted"
        # Anyone may send other bytes naming that id and get a signed rejection for them.
        forged = signed(SigningKey.generate(), "zs-aic",
                        event_dict("zs-aic", "case.opened", case, id=event_id))
        await produce(hub.process.bootstrap, [forged])
        rejection = (await receipts_for(hub, "zs-aic", [forged]))[sha(forged.value)]
        assert (rejection["event_id"], rejection["reason"]) == (event_id, "UNKNOWN_KEY")
        *_, message = await wait_for(hub.process.bootstrap, "linkage.receipts.zs-aic",
                                     lambda m: m.key == event_id.encode(), count=2)
        await eventually(lambda: first.outbox.receipt_positions().get(message.partition, 0)
                         > message.offset)
        entry = first.outbox.get(event_id)
        assert entry is not None and entry.status == "accepted"
    finally:
        await first.stop()
    # A re-send of that id with other content (a fresh outbox reads every receipt of the id).
    second = hub.connector("zs-aic", tmp_path / "second.sqlite")
    await second.start()
    try:
        second.enqueue("case.opened", case, dict(sample_data("case.opened"), summary="改"),
                       event_id=event_id)
        entry = await second.wait_for_receipt(event_id, timeout=60)
        assert entry.status == "duplicate" and "different content" in (entry.detail or "")
    finally:
        await second.stop()

