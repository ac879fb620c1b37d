"""HTTP ingress (contract section 8) on the real stack: every reason code of the Kafka ingress
cases, hostile records, duplicates, 202 then GET, 429, a body over the broker's limit, and
the same ledger state and receipt bytes as the Kafka path. Receipts are checked without the
hub's code (tests.ingress_harness.independent_receipt)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from schemas.signing import SigningKey
from tests.ingress_harness import independent_receipt, raw_public_from_pem
from tests.kafka_io import produce, wait_for
from tests.records import BAD_RECORDS, HOSTILE_RECORDS, Record, valid
from tests.web.conftest import Stack, eventually

pytestmark = pytest.mark.integration


def agency_of(record: Record) -> str:
    return record.topic.removeprefix("linkage.ingress.")


def hub_raw(stack: Stack) -> bytes:
    return raw_public_from_pem((stack.hub.process.home / "keys" / "hub.pub.pem").read_text())


async def post(stack: Stack, record: Record, **params: Any) -> httpx.Response:
    async with stack.client() as http:
        return await http.post(f"/api/v1/ingress/{agency_of(record)}", content=record.value,
                               headers={"Content-Type": "application/json"}, params=params)


def receipt_of(stack: Stack, answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    receipt = independent_receipt(answer.content, hub_raw(stack))
    return receipt


# CASE_MISMATCH needs a record key other than the subject, which HTTP ingress never sends
# (the key is the subject by definition): it cannot happen here, so it is not listed.
HTTP_REASONS = sorted(set(BAD_RECORDS) - {"CASE_MISMATCH"})


@pytest.mark.parametrize("reason", HTTP_REASONS)
async def test_each_reason_code_is_the_kafka_outcome(stack: Stack, reason: str) -> None:
    record = BAD_RECORDS[reason](stack.hub.keys["zs-aic"], SigningKey.generate())
    receipt = receipt_of(stack, await post(stack, record))
    assert (receipt["status"], receipt["reason"]) == ("rejected", reason)
    assert receipt["record_sha256"] == hashlib.sha256(record.value).hexdigest()
    assert receipt["event_id"] == record.event_id
    # Quarantined like any rejection: the bytes, unchanged, with the reason beside them.
    [held] = await wait_for(stack.hub.process.bootstrap, "linkage.quarantine",
                            lambda m: m.value == record.value, timeout=60)
    assert dict(held.headers)["linkage-reason"] == reason.encode()


async def test_a_revoked_key_is_refused(stack: Stack, tmp_path: Path) -> None:
    key = SigningKey.generate()
    key.write_pair(tmp_path, "zs-customs")
    assert stack.cli("agency", "add-key", "zs-customs",
                     str(tmp_path / "zs-customs.pub.pem")).returncode == 0
    assert stack.cli("agency", "revoke-key", key.keyid).returncode == 0
    receipt = receipt_of(stack, await post(stack, valid(key, "zs-customs", "case.opened")))
    assert (receipt["status"], receipt["reason"]) == ("rejected", "KEY_REVOKED")


@pytest.mark.parametrize("name", sorted(HOSTILE_RECORDS))
async def test_hostile_records_get_their_rejection(stack: Stack, name: str) -> None:
    builder, reason = HOSTILE_RECORDS[name]
    record = builder(stack.hub.keys["zs-aic"], SigningKey.generate())
    receipt = receipt_of(stack, await post(stack, record))
    assert (receipt["status"], receipt["reason"]) == ("rejected", reason)


async def test_accepted_then_duplicate_same_ledger_and_bytes_as_kafka(stack: Stack) -> None:
    record = valid(stack.hub.keys["zs-aic"], "zs-aic", "case.opened")
    assert record.event_id and record.key
    answer = await post(stack, record)
    accepted = receipt_of(stack, answer)
    assert accepted["status"] == "accepted" and accepted["ledger_index"] is not None
    # The receipt on Kafka is the very same signed bytes.
    [on_kafka] = await wait_for(stack.hub.process.bootstrap, "linkage.receipts.zs-aic",
                                lambda m: m.key == record.event_id.encode(), timeout=60)
    assert on_kafka.value == answer.content
    # The event was re-published unchanged and is on the case's timeline at that index.
    case_id = record.key.decode()
    [event] = await wait_for(stack.hub.process.bootstrap, "linkage.events",
                             lambda m: m.key == record.key, timeout=60)
    assert event.value == record.value

    async def on_timeline() -> list[dict[str, Any]]:
        case = await stack.get("sup", f"/api/v1/cases/{case_id}")
        return [e for e in case.json().get("timeline", [])] if case.status_code == 200 else []

    timeline = await eventually(on_timeline, what="the case on the timeline")
    assert [(e["event_id"], e["ledger_index"]) for e in timeline] == [
        (record.event_id, accepted["ledger_index"])]
    # Sent again over HTTP, then over Kafka: duplicates naming the same ledger entry.
    again = receipt_of(stack, await post(stack, record))
    assert (again["status"], again["ledger_index"]) == ("duplicate", accepted["ledger_index"])
    await produce(stack.hub.process.bootstrap, [record])
    receipts = await wait_for(stack.hub.process.bootstrap, "linkage.receipts.zs-aic",
                              lambda m: m.key == record.event_id.encode(), count=3, timeout=60)
    statuses = sorted(independent_receipt(m.value, hub_raw(stack))["status"] for m in receipts)
    assert statuses == ["accepted", "duplicate", "duplicate"]
    # GET answers the acceptance, not a later duplicate.
    async with stack.client() as http:
        got = await http.get(f"/api/v1/receipts/{record.event_id}")
    assert got.content == answer.content


async def test_202_then_get(stack: Stack) -> None:
    record = valid(stack.hub.keys["zs-aic"], "zs-aic", "case.opened")
    async with stack.client() as http:
        unknown = await http.get(f"/api/v1/receipts/{record.event_id}")
        assert unknown.status_code == 404 and unknown.json()["error"] == "no_receipt"
    answer = await post(stack, record, wait=0)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"event_id": record.event_id}
    assert answer.headers["location"] == f"/api/v1/receipts/{record.event_id}"

    async def receipted() -> httpx.Response | None:
        async with stack.client() as http:
            got = await http.get(answer.headers["location"])
        return got if got.status_code == 200 else None

    got = await eventually(receipted, what="the receipt")
    receipt = independent_receipt(got.content, hub_raw(stack))
    assert receipt["status"] == "accepted" and receipt["event_id"] == record.event_id


async def test_unknown_agency_and_bad_ids(stack: Stack) -> None:
    async with stack.client() as http:
        answer = await http.post("/api/v1/ingress/zs-nobody", content=b"{}")
        assert answer.status_code == 404 and answer.json()["error"] == "unknown_agency"
        assert (await http.get("/api/v1/receipts/not-a-uuid")).status_code == 422


async def test_a_body_over_the_broker_limit_is_refused_unread(stack: Stack) -> None:
    async with stack.client() as http:
        answer = await http.post("/api/v1/ingress/zs-aic", content=b"x" * (9 * 1024 * 1024))
    assert answer.status_code == 413 and answer.json()["error"] == "too_large"


async def test_rate_limit_answers_429_with_retry_after(stack: Stack) -> None:
    """The stack's web process allows bursts of 30 records per agency (conftest)."""
    answers: list[httpx.Response] = []
    async with stack.client() as http:
        for _ in range(5):
            answers += await asyncio.gather(*[
                http.post("/api/v1/ingress/zs-customs", content=b"{not json",
                          params={"wait": 0}) for _ in range(40)])
            if any(a.status_code == 429 for a in answers):
                break
    limited = [a for a in answers if a.status_code == 429]
    assert limited, [a.status_code for a in answers]
    assert int(limited[0].headers["retry-after"]) >= 1
    assert limited[0].json()["error"] == "rate_limited"
    assert {a.status_code for a in answers} <= {202, 200, 429}
    # Another agency is not held back by zs-customs' limit.
    receipt = receipt_of(stack, await post(stack, valid(stack.hub.keys["zs-aic"], "zs-aic",
                                                        "case.opened")))
    assert receipt["status"] == "accepted"
    assert json.loads(limited[0].content)["message_zh"]


def test_the_readme_curl_example_is_accepted(stack: Stack) -> None:
    """examples/http_ingress.sh (openssl + curl, no SDK), as the README shows it."""
    script = Path(__file__).resolve().parents[2] / "examples" / "http_ingress.sh"
    keys = stack.hub.keys_dir
    done = subprocess.run(["sh", str(script), str(keys / "zs-aic.key.pem"),
                           str(keys / "zs-aic.pub.pem"), stack.base],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    receipt = independent_receipt(done.stdout.strip().encode(), hub_raw(stack))
    assert receipt["status"] == "accepted", receipt
