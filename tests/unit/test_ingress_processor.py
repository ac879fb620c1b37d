"""The ingress processor in process (no servers): outcomes, receipts, refused batches, parking."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

import streams.ingress as ingress
from schemas.dsse import pae
from schemas.receipt import ReceiptStatus
from schemas.signing import SigningKey
from streams.errors import StoreUnavailable
from streams.ingress import Outcome, Parked
from streams.ingress_memory import InMemoryIngressStore
from streams.ports import IngressRecord, StoredOutcome
from tests.ingress_harness import (
    MemoryPublisher,
    Offsets,
    hub_raw,
    independent_receipt,
    processor,
    sha256_hex,
)
from tests.records import HOSTILE_RECORDS, Record, event_dict, signed, url_safe, valid

AIC, PSB, HUB = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
KEYS = {"zs-aic": AIC, "zs-psb": PSB}


def receipts(publisher: MemoryPublisher, agency: str = "zs-aic") -> list[dict[str, object]]:
    return [independent_receipt(v, hub_raw(HUB))
            for _, v, _ in publisher.on(f"linkage.receipts.{agency}")]


async def run(store: InMemoryIngressStore, records: list[IngressRecord],
              publisher: MemoryPublisher | None = None, **registry: object
              ) -> tuple[list[Outcome | Parked], MemoryPublisher]:
    publisher = publisher or MemoryPublisher()
    settled = await processor(store, KEYS, HUB, **registry).process(records, publisher)
    return settled, publisher


async def test_an_accepted_record_is_ledgered_published_and_receipted_with_its_hash() -> None:
    store, offsets = InMemoryIngressStore(), Offsets()
    record = valid(AIC, "zs-aic", "case.opened")
    [outcome], publisher = await run(store, [offsets.record(record)])
    assert isinstance(outcome, Outcome) and outcome.status is ReceiptStatus.ACCEPTED
    assert (await store.ledger.tree_head()).size == 1
    assert publisher.on("linkage.events") == [(record.key, record.value, [])]
    [receipt] = receipts(publisher)
    assert receipt["status"] == "accepted" and receipt["event_id"] == record.event_id
    assert receipt["record_sha256"] == sha256_hex(record.value)


async def test_a_resend_with_other_content_is_a_duplicate_bound_to_its_own_bytes() -> None:
    store, offsets = InMemoryIngressStore(), Offsets()
    first = valid(AIC, "zs-aic", "case.opened")
    event = json.loads(base64.b64decode(json.loads(first.value)["payload"]))
    event["data"]["summary"] = "另一个内容 / other content"
    second = signed(AIC, "zs-aic", event)
    _, publisher = await run(store, [offsets.record(first), offsets.record(second)])
    accepted, duplicate = receipts(publisher)
    assert (accepted["status"], duplicate["status"]) == ("accepted", "duplicate")
    assert duplicate["record_sha256"] == sha256_hex(second.value) != accepted["record_sha256"]
    assert "different content" in str(duplicate["detail"])
    assert duplicate["ledger_index"] == accepted["ledger_index"]


async def test_a_key_revoked_after_the_registry_snapshot_is_refused_not_ledgered() -> None:
    store, offsets = InMemoryIngressStore(), Offsets()
    store.revoked[AIC.keyid] = datetime.now(UTC) - timedelta(seconds=1)  # the snapshot says active
    record = valid(AIC, "zs-aic", "case.opened")
    [outcome], publisher = await run(store, [offsets.record(record)])
    assert isinstance(outcome, Outcome)
    assert (outcome.status, outcome.reason) == (ReceiptStatus.REJECTED, "KEY_REVOKED")
    assert (await store.ledger.tree_head()).size == 0
    [receipt] = receipts(publisher)
    assert receipt["reason"] == "KEY_REVOKED" and receipt["event_id"] == record.event_id


async def test_a_key_revoked_after_the_record_was_received_does_not_undo_it() -> None:
    store, offsets = InMemoryIngressStore(), Offsets()
    store.revoked[AIC.keyid] = datetime.now(UTC) + timedelta(hours=1)
    [outcome], _ = await run(store, [offsets.record(valid(AIC, "zs-aic", "case.opened"))])
    assert isinstance(outcome, Outcome) and outcome.status is ReceiptStatus.ACCEPTED


async def test_a_redelivered_record_gets_the_same_receipt_again() -> None:
    store = InMemoryIngressStore()
    record = Offsets().record(valid(AIC, "zs-aic", "case.opened"))
    _, first = await run(store, [record])
    _, again = await run(store, [record])
    assert first.on("linkage.receipts.zs-aic") == again.on("linkage.receipts.zs-aic")
    assert (await store.ledger.tree_head()).size == 1


@pytest.mark.parametrize("name", sorted(HOSTILE_RECORDS))
async def test_a_hostile_record_is_rejected_storably_and_the_next_record_is_accepted(
        name: str) -> None:
    builder, reason = HOSTILE_RECORDS[name]
    store, offsets = InMemoryIngressStore(), Offsets()
    hostile = builder(AIC, SigningKey.generate())
    after = [valid(AIC, "zs-aic", "case.opened"), valid(PSB, "zs-psb", "transfer.accepted")]
    settled, publisher = await run(store, [offsets.record(r) for r in [hostile, *after]])
    assert [s.status for s in settled if isinstance(s, Outcome)] == [
        ReceiptStatus.REJECTED, ReceiptStatus.ACCEPTED, ReceiptStatus.ACCEPTED]
    [rejection, accepted] = receipts(publisher)
    assert rejection["reason"] == reason and accepted["status"] == "accepted"
    assert rejection["record_sha256"] == sha256_hex(hostile.value)
    assert rejection["event_id"] == hostile.event_id or name == "deep_event"
    detail = str(rejection["detail"])
    assert len(detail) <= 300 and "\x00" not in detail
    assert "Error(" not in detail and "Traceback" not in detail
    [(_, quarantined, headers)] = publisher.on("linkage.quarantine")
    assert quarantined == hostile.value and dict(headers)["linkage-reason"] == reason.encode()


async def test_signatures_of_two_agencies_in_either_order_are_judged_by_the_topics_agency() -> None:
    for order in ((PSB, AIC), (AIC, PSB)):
        record = valid(AIC, "zs-aic", "case.opened")
        envelope = json.loads(record.value)
        payload = base64.b64decode(envelope["payload"])
        envelope["signatures"] = [  # the same payload signed by both agencies, in this order
            {"keyid": k.keyid, "sig": base64.b64encode(
                k.sign(pae(envelope["payloadType"], payload))).decode()} for k in order]
        hostile = Record(record.topic, record.key, json.dumps(envelope).encode(), record.event_id)
        [outcome], _ = await run(InMemoryIngressStore(), [Offsets().record(hostile)])
        assert isinstance(outcome, Outcome) and outcome.status is ReceiptStatus.ACCEPTED, order


async def test_url_safe_base64_without_padding_is_accepted() -> None:
    record = url_safe(valid(AIC, "zs-aic", "case.opened"))
    assert b"-" in record.value or b"_" in record.value or b"=" not in record.value
    [outcome], _ = await run(InMemoryIngressStore(), [Offsets().record(record)])
    assert isinstance(outcome, Outcome) and outcome.status is ReceiptStatus.ACCEPTED


async def test_an_unregistered_agencys_topic_gets_a_quarantined_outcome_but_no_receipt() -> None:
    record = valid(AIC, "zs-aic", "case.opened")
    stray = Record("linkage.ingress.zs-nobody", record.key, record.value, record.event_id)
    store = InMemoryIngressStore()
    [outcome], publisher = await run(store, [Offsets().record(stray)])
    assert isinstance(outcome, Outcome) and outcome.status is ReceiptStatus.REJECTED
    assert outcome.reason == "SOURCE_MISMATCH" and not outcome.receipted
    assert [t for t, *_ in publisher.sent] == ["linkage.quarantine"]
    assert len(store.outcomes) == 1


async def test_a_refused_record_is_parked_and_the_rest_of_its_batch_is_settled() -> None:
    bad = valid(AIC, "zs-aic", "case.opened")

    def refuse(o: StoredOutcome) -> bool:
        return o.event_id == bad.event_id

    store, offsets = InMemoryIngressStore(refuse=refuse), Offsets()
    good = [valid(AIC, "zs-aic", "case.opened") for _ in range(6)]
    batch = [offsets.record(r) for r in [*good[:3], bad, *good[3:]]]
    settled, publisher = await run(store, batch)
    assert [type(s).__name__ for s in settled] == ["Outcome"] * 3 + ["Parked"] + ["Outcome"] * 3
    [parked] = await store.parked()
    assert parked.record == batch[3] and parked.reason == "store_refused"
    assert "23514" in parked.evidence
    assert [r["event_id"] for r in receipts(publisher)] == [r.event_id for r in good]
    assert [e.event_id for e in await store.ledger.entries()] == [r.event_id for r in good]

    store.refuse = None  # the cause is fixed: a retry gives the record its true outcome
    [retried], publisher = await run(store, [parked.record])
    assert isinstance(retried, Outcome) and retried.status is ReceiptStatus.ACCEPTED
    assert receipts(publisher)[0]["event_id"] == bad.event_id


async def test_a_crash_inside_verification_parks_the_record_instead_of_blaming_the_agency(
        monkeypatch: pytest.MonkeyPatch) -> None:
    victim = valid(AIC, "zs-aic", "case.opened")
    real = ingress.verify_record

    def crashing(topic: str, key: bytes | None, value: bytes | None, *args: object) -> object:
        if value == victim.value:
            raise ZeroDivisionError("a hub bug")
        return real(topic, key, value, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(ingress, "verify_record", crashing)
    store, offsets = InMemoryIngressStore(), Offsets()
    after = valid(AIC, "zs-aic", "case.opened")
    settled, publisher = await run(store, [offsets.record(victim), offsets.record(after)])
    assert isinstance(settled[0], Parked) and settled[0].parked.reason == "hub_bug"
    assert "ZeroDivisionError" in settled[0].parked.evidence
    assert [r["status"] for r in receipts(publisher)] == ["accepted"]
    assert publisher.on("linkage.quarantine") == []


async def test_an_unavailable_store_raises_for_the_caller_to_retry() -> None:
    class Down(InMemoryIngressStore):
        def unit(self):  # type: ignore[no-untyped-def, override]
            raise StoreUnavailable("connection refused")

    with pytest.raises(StoreUnavailable):
        await run(Down(), [Offsets().record(valid(AIC, "zs-aic", "case.opened"))])


async def test_past_and_future_times_per_the_contract() -> None:
    now = datetime.now(UTC)
    cases = {"1969-07-20T20:17:40Z": "accepted", "1900-01-01T00:00:00Z": "accepted",
             "1899-12-31T23:59:59Z": "MALFORMED_EVENT",
             (now + timedelta(minutes=4)).isoformat(): "accepted",
             (now + timedelta(minutes=6)).isoformat(): "CLOCK_SKEW",
             "2999-12-31T23:59:59Z": "CLOCK_SKEW", "3000-01-01T00:00:00Z": "MALFORMED_EVENT"}
    offsets = Offsets()
    records = [signed(AIC, "zs-aic", event_dict("zs-aic", "case.opened", f"T-{i}", time=t))
               for i, t in enumerate(cases)]
    _, publisher = await run(InMemoryIngressStore(), [offsets.record(r) for r in records])
    assert [r["reason"] or r["status"] for r in receipts(publisher)] == list(cases.values())


def test_an_ingress_record_is_a_frozen_value_with_its_hash_and_key() -> None:
    """IngressRecord's written-out __init__ (issue 14) keeps the dataclass's behaviour."""
    import dataclasses
    import hashlib

    record = IngressRecord("linkage.ingress.zs-aic", 1, 7, b"K", b"value", 5)
    digest = hashlib.sha256(b"value").digest()
    assert record.record_hash == digest
    assert record.record_key == ("linkage.ingress.zs-aic", 1, 7, digest)
    assert IngressRecord("t", 0, 0, None, None).record_hash == hashlib.sha256(b"").digest()
    same = IngressRecord("linkage.ingress.zs-aic", 1, 7, b"K", b"value", 5)
    assert record == same and hash(record) == hash(same) and record != dataclasses.replace(
        record, offset=8)
    moved = dataclasses.replace(record, value=b"other")
    assert moved.record_hash == hashlib.sha256(b"other").digest()
    assert moved.record_key[3] == moved.record_hash
    assert repr(record) == ("IngressRecord(topic='linkage.ingress.zs-aic', partition=1, "
                            "offset=7, key=b'K', value=b'value', timestamp_ms=5)")
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.offset = 9  # type: ignore[misc]
