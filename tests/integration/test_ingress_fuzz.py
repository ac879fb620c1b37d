"""Fuzz of the verification and storage path on real PostgreSQL (issue 7): no record, however
built, stops ingress. The processor runs in process against a real database with an
in-memory publisher (no broker needed); after every generated batch of hostile records, a
valid record of each of two agencies must be accepted within a bound, and no hostile record
may be parked (that would be a record the database refused: a value not made storable at
the edge). The count of cases and the worst time are printed (run with -s) and written to
$LINKAGE_FUZZ_REPORT when set.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.adapters.ingress_store import PostgresIngressStore
from hub.adapters.postgres import create_pool, migrate
from hub.adapters.registry_store import PostgresRegistry
from schemas.dsse import EVENT_PAYLOAD_TYPE, pae
from schemas.receipt import ReceiptStatus
from schemas.signing import SigningKey, public_pem
from streams.ingress import IngressProcessor, Outcome
from streams.ports import IngressRecord
from tests.ingress_harness import MemoryPublisher
from tests.records import event_dict, sample_data, signed, valid
from tests.support import tcp_database

pytestmark = pytest.mark.integration

AIC, PSB, HUB = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
BOUND_SECONDS = 5.0
EXAMPLES = int(os.environ.get("LINKAGE_FUZZ_EXAMPLES", "300"))

# -- strategies -----------------------------------------------------------------------------

NASTY_CHARS = st.sampled_from(["\x00", "\ud800", "\udfff", "\x7f", "\n", "\u202e", "😀", "案"])
texts = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(NASTY_CHARS, st.characters()), max_size=40).map("".join),
    st.integers(0, 3).map(lambda n: "x" * (10 ** (n + 2))),
)
numbers = st.one_of(st.integers(), st.integers(min_value=2**63 - 2, max_value=2**200),
                    st.integers(max_value=-(2**63) + 1, min_value=-(2**200)),
                    st.floats(allow_nan=True, allow_infinity=True))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, texts),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(texts, inner, max_size=4)),
    max_leaves=20)


@st.composite
def rfc3339_times(draw: st.DrawFn) -> str:
    """Times from year 1 to 9999 with any offset, and strings that only look like times."""
    when = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
    minutes = draw(st.integers(-14 * 60, 14 * 60))
    text = when.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat()
    return draw(st.sampled_from([text, text.replace("+", "-"), text[:19], text + "Z",
                                 "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999-14:00"]))


def deep(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


@st.composite
def hostile_events(draw: st.DrawFn) -> tuple[bytes, str]:
    """(event bytes, case key) of an event that is valid but for what the fuzzer changes."""
    type_name = draw(st.sampled_from(["case.opened", "penalty.decided", "case.assessed"]))
    case = draw(st.one_of(st.just(f"F-{uuid.uuid4().hex[:8]}"), texts))
    event = event_dict("zs-aic", type_name, "placeholder")
    event["subject"] = case
    data = dict(sample_data(type_name))
    for _ in range(draw(st.integers(0, 3))):
        data[draw(st.sampled_from([*data, "extra"]))] = draw(
            st.one_of(json_values, rfc3339_times(), texts))
    event["data"] = data
    for _ in range(draw(st.integers(0, 3))):
        field = draw(st.sampled_from(["id", "source", "type", "subject", "time",
                                      "specversion", "datacontenttype", "data"]))
        event[field] = draw(st.one_of(texts, json_values, rfc3339_times(),
                                      st.just(str(uuid.uuid4()).upper())))
    text = json.dumps(event, ensure_ascii=draw(st.booleans()), allow_nan=True)
    trick = draw(st.sampled_from(["none", "duplicate", "deep", "nan", "bigint"]))
    if trick == "duplicate":
        text = text.replace('"id": ', '"id": "x", "id": ', 1)
    elif trick == "deep":
        text = text.replace('"data": {', f'"data": {{"d": {deep(draw(st.integers(60, 3000)))}, ', 1)
    elif trick == "nan":
        text = text.replace('"data": {', '"data": {"n": NaN, ', 1)
    elif trick == "bigint":
        text = text.replace('"data": {', f'"data": {{"n": {"9" * draw(st.integers(19, 5000))}, ', 1)
    return text.encode("utf-8", "surrogatepass"), case if isinstance(case, str) else ""


def b64(data: bytes, url: bool) -> str:
    text = base64.b64encode(data).decode()
    return text.replace("+", "-").replace("/", "_").rstrip("=") if url else text


@st.composite
def hostile_records(draw: st.DrawFn) -> tuple[str, bytes | None, bytes]:
    """(topic, key, value) of one record an attacker with write access could send."""
    kind = draw(st.sampled_from(["bytes", "json", "envelope", "signed"]))
    topic = draw(st.sampled_from(["linkage.ingress.zs-aic", "linkage.ingress.zs-psb",
                                  "linkage.ingress.zs-nobody"]))
    key = draw(st.one_of(st.none(), st.binary(max_size=200),
                         texts.map(lambda t: t.encode("utf-8", "surrogatepass"))))
    if kind == "bytes":
        return topic, key, draw(st.binary(max_size=300))
    if kind == "json":
        value = json.dumps(draw(json_values), allow_nan=True).encode("utf-8", "surrogatepass")
        if draw(st.booleans()):
            value = deep(draw(st.integers(50, 100_000))).encode()
        return topic, key, value
    event, case = draw(hostile_events())
    signer = draw(st.sampled_from([AIC, PSB, SigningKey.generate()]))
    url = draw(st.booleans())
    signatures: list[dict[str, Any]] = [
        {"keyid": signer.keyid, "sig": b64(signer.sign(pae(EVENT_PAYLOAD_TYPE, event)), url)}]
    payload_type: Any = EVENT_PAYLOAD_TYPE
    if kind == "envelope":
        signatures += draw(st.lists(st.fixed_dictionaries(
            {"keyid": st.one_of(texts, st.just(AIC.keyid)), "sig": st.one_of(texts, numbers)}),
            max_size=20))
        payload_type = draw(st.one_of(st.just(EVENT_PAYLOAD_TYPE), texts, json_values))
    envelope = {"payloadType": payload_type, "payload": b64(event, url), "signatures": signatures}
    value = json.dumps(envelope, allow_nan=True).encode()
    if key is None or draw(st.booleans()):
        key = case.encode("utf-8", "surrogatepass")
    return topic, key, value


# -- the database and the processor ----------------------------------------------------------


class Rig:
    """A processor on a fresh PostgreSQL database, run on its own event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.offset = 0
        self.cases = 0
        self.worst = 0.0
        dsn = tcp_database()
        self.loop.run_until_complete(migrate(dsn))
        self.pool = self.loop.run_until_complete(create_pool(dsn, max_size=2))
        owner = self.loop.run_until_complete(create_pool(dsn, max_size=1, restricted=False))
        registry = PostgresRegistry(owner)
        self.loop.run_until_complete(registry.seed())
        for agency, key in (("zs-aic", AIC), ("zs-psb", PSB)):
            self.loop.run_until_complete(registry.add_key(agency, public_pem(key.public_key)))
        self.loop.run_until_complete(owner.close())
        self.store = PostgresIngressStore(self.pool)
        self.processor = IngressProcessor(self.store, HUB, PostgresRegistry(self.pool).snapshot)

    def record(self, topic: str, key: bytes | None, value: bytes) -> IngressRecord:
        self.offset += 1
        return IngressRecord(topic, 0, self.offset, key, value)

    def close(self) -> None:
        self.loop.run_until_complete(self.pool.close())
        self.loop.close()


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    running = Rig()
    yield running
    running.close()
    report = (f"fuzz: {running.cases} cases, worst time from a hostile batch to the next "
              f"accepted record {running.worst * 1000:.0f} ms")
    print("\n" + report)
    if path := os.environ.get("LINKAGE_FUZZ_REPORT"):
        with open(path, "a", encoding="utf-8") as out:
            out.write(report + "\n")


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(batch=st.lists(hostile_records(), min_size=1, max_size=4))
def test_no_record_however_built_stops_ingress(
        rig: Rig, batch: list[tuple[str, bytes | None, bytes]]) -> None:
    rig.cases += len(batch)
    hostile = [rig.record(*r) for r in batch]
    good = [valid(AIC, "zs-aic", "case.opened"), valid(PSB, "zs-psb", "transfer.accepted")]
    records = hostile + [rig.record(g.topic, g.key, g.value) for g in good]
    publisher = MemoryPublisher()
    started = time.monotonic()
    settled = rig.loop.run_until_complete(rig.processor.process(records, publisher))
    rig.worst = max(rig.worst, time.monotonic() - started)
    assert all(isinstance(s, Outcome) for s in settled), [s for s in settled
                                                          if not isinstance(s, Outcome)]
    outcomes = [s for s in settled if isinstance(s, Outcome)]
    assert [o.status for o in outcomes[-2:]] == [ReceiptStatus.ACCEPTED] * 2
    assert time.monotonic() - started < BOUND_SECONDS
    for o in outcomes[:-2]:
        receipts = [v for t, k, v, _ in publisher.sent if t.startswith("linkage.receipts.")]
        assert o.receipted == o.record.topic.endswith(("zs-aic", "zs-psb"))
        assert receipts, "every record of a registered agency gets a receipt"
        assert o.detail is None or ("Traceback" not in o.detail and len(o.detail) <= 300)


def test_the_known_hostile_records_and_a_signed_event_with_nul_in_its_source(rig: Rig) -> None:
    """The three records of the issue, signed by a registered key, each get their outcome."""
    nul_source = signed(AIC, "zs-aic", event_dict("zs-aic", "case.opened", "N-1",
                                                  source="urn:linkage:agency:zs-aic\u0000"))
    year_one = signed(AIC, "zs-aic", event_dict("zs-aic", "case.opened", "N-2",
                                                time="0001-01-01T00:00:00+14:00"))
    envelope = json.loads(valid(AIC, "zs-aic", "case.opened").value)
    envelope["signatures"][0]["keyid"] = "ab\u0000cd"
    records = [rig.record(r.topic, r.key, r.value) for r in (nul_source, year_one)]
    records.append(rig.record("linkage.ingress.zs-aic", b"K", json.dumps(envelope).encode()))
    settled = rig.loop.run_until_complete(rig.processor.process(records, MemoryPublisher()))
    assert [(s.status, s.reason) for s in settled if isinstance(s, Outcome)] == [
        (ReceiptStatus.REJECTED, "MALFORMED_EVENT"), (ReceiptStatus.REJECTED, "MALFORMED_EVENT"),
        (ReceiptStatus.REJECTED, "MALFORMED_ENVELOPE")]
    now = datetime.now(UTC)
    assert all(s.received_at <= now for s in settled if isinstance(s, Outcome))
