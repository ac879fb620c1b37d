"""The connector's fast codecs equal the general paths they replace (schemas.signing's
EnvelopeSigner, schemas.dsse's canonical_envelope, connectors/events.py): signed envelopes byte
for byte, event bytes byte for byte, and every receipt — the hub's own, forged, damaged or
merely unusual — judged the same way."""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

import pybase64
import pytest
from aiokafka import ConsumerRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from connectors.connector import Connector
from connectors.events import _uuid_text, build_event, event_source, new_event_id, new_event_ids
from connectors.outbox import ReceiptRow
from schemas.dsse import EVENT_PAYLOAD_TYPE, RECEIPT_PAYLOAD_TYPE, canonical_envelope, envelope_head
from schemas.envelope_signer import EnvelopeSigner
from schemas.events import EVENT_TYPES
from schemas.receipt import Receipt, ReceiptStatus
from schemas.signing import SigningKey
from tests.records import damaged, sample_data

AGENCY, HUB, OTHER = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
SHANGHAI, ODD = timezone(timedelta(hours=8)), timezone(-timedelta(hours=3, minutes=30, seconds=7))
FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

json_leaf = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text()
             | st.floats() | st.integers(2**63, 2**80))
json_value = st.recursive(
    json_leaf, lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


def reference_event(agency_id: str, type_name: str, case_id: str, data: dict[str, Any],
                    event_id: str, time: datetime, validate: bool) -> bytes:
    """build_event as it was: the data validated from json.dumps, the whole event dumped."""
    spec = EVENT_TYPES[type_name]
    if validate:
        spec.model.model_validate_json(json.dumps(data))
    event = {"specversion": "1.0", "id": event_id, "source": event_source(agency_id),
             "type": spec.ce_type, "subject": case_id, "time": time.isoformat(),
             "datacontenttype": "application/json", "data": data}
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def outcome(function: Any, *args: Any, **kwargs: Any) -> object:
    """The value, or the type of the exception raised."""
    try:
        return function(*args, **kwargs)
    except Exception as exc:  # the type is what is compared
        return type(exc)


@FAST
@given(payload=st.binary(max_size=2048), payload_type=st.text(max_size=40))
def test_the_envelope_signer_writes_sign_envelopes_bytes(payload: bytes,
                                                          payload_type: str) -> None:
    expected = outcome(lambda: AGENCY.sign_envelope(payload_type, payload).to_json_bytes())
    assert outcome(lambda: EnvelopeSigner(AGENCY, payload_type)(payload)) == expected


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=70_000))
def test_the_signers_base64_is_the_standard_librarys(raw: bytes) -> None:
    """pybase64's encoder (SIMD paths for long inputs, a scalar tail) writes what
    `base64.b64encode` writes, at every length an envelope's payload may have."""
    assert pybase64.b64encode(raw) == base64.b64encode(raw)


@FAST
@given(data=st.dictionaries(st.text(max_size=10), json_value, max_size=6),
       case_id=st.text(max_size=20), agency_id=st.text(max_size=12),
       event_id=st.text(min_size=1, max_size=40),
       offset=st.integers(-10**6, 10**6), zone=st.sampled_from([None, UTC, SHANGHAI, ODD]),
       micro=st.integers(0, 999_999))
def test_event_bytes_equal_dumping_the_whole_event(data: dict[str, Any], case_id: str,
                                                   agency_id: str, event_id: str,
                                                   offset: int, zone: tzinfo | None,
                                                   micro: int) -> None:
    """Every member as json.dumps writes it: escapes in the ids, the agency, the case id;
    times naive, in UTC, at other offsets, with and without microseconds."""
    time = (datetime(2026, 11, 27) + timedelta(seconds=offset, microseconds=micro % 2 * micro)
            ).replace(tzinfo=zone)
    expected = outcome(reference_event, agency_id, "case.opened", case_id, data, event_id, time,
                       False)
    got = outcome(build_event, agency_id, "case.opened", case_id, data, event_id=event_id,
                  time=time, validate=False)
    assert got == expected if isinstance(expected, type) else got == (event_id, expected)


@pytest.mark.parametrize("type_name", sorted(EVENT_TYPES))
def test_valid_events_of_every_type_are_the_same_bytes(type_name: str) -> None:
    time, event_id = datetime.now(UTC), str(uuid.uuid4())
    data = sample_data(type_name)
    assert build_event("zs-aic", type_name, "AIC-1", data, event_id=event_id, time=time) == (
        event_id, reference_event("zs-aic", type_name, "AIC-1", data, event_id, time, True))


def test_data_json_cannot_write_is_refused_as_before() -> None:
    """What the careful encoder refuses, the event builder refuses with the same error:
    circular data, too deep data, objects JSON has no form for; odd keys it writes alike."""
    circular: dict[str, Any] = {"a": []}
    circular["a"].append(circular)
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    for data in (circular, {"deep": deep}, {"x": object()}, {1.5: "key"}, {(1,): "key"}):
        expected = outcome(reference_event, "zs-aic", "case.opened", "C", data, "e",
                           datetime(2026, 11, 27, tzinfo=UTC), False)
        got = outcome(build_event, "zs-aic", "case.opened", "C", data, event_id="e",
                      time=datetime(2026, 11, 27, tzinfo=UTC), validate=False)
        assert got is expected if isinstance(expected, type) else got == ("e", expected)
        assert isinstance(expected, type) == (data.get("a") is not None or "deep" in data
                                              or "x" in data or (1,) in data)


@pytest.mark.parametrize("bad", [
    {"assessed_at": "not a time", "marks_count": 2},
    {"assessed_at": "2026-11-27T00:00:00+00:00", "marks_count": float("nan")},
    {"assessed_at": "2026-11-27T00:00:00+00:00", "marks_count": 2, "x": "\ud800"},
    {"marks_count": 2},
])
def test_invalid_data_is_refused_as_before(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        build_event("zs-aic", "case.assessed", "AIC-1", bad)
    with pytest.raises(ValidationError):
        reference_event("zs-aic", "case.assessed", "AIC-1", bad, "e", datetime.now(UTC), True)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=16, max_size=16), st.sampled_from([4, 7]))
def test_event_ids_are_the_uuid_modules_text(raw: bytes, version: int) -> None:
    expected = uuid.UUID(bytes=raw, version=4).int & ~(0xF << 76) | version << 76
    assert _uuid_text(raw, version) == str(uuid.UUID(int=expected))


@pytest.mark.parametrize("draw", [lambda: [new_event_id() for _ in range(2000)],
                                  lambda: new_event_ids(2000)])
def test_new_event_ids_are_canonical_time_ordered_uuids(draw: Any) -> None:
    before = time.time_ns() // 1_000_000
    ids = draw()
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == 2000
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert before <= parsed.int >> 80 <= after  # the Unix time in milliseconds
    later = new_event_ids(1)[0]
    assert all(text[:13] <= later[:13] for text in ids)  # ordered by time, as text too


# -- receipts ---------------------------------------------------------------------------------

receipts = st.builds(
    Receipt, event_id=st.none() | st.uuids().map(str) | st.text(max_size=30),
    status=st.sampled_from(ReceiptStatus), reason=st.none() | st.text(max_size=30),
    detail=st.none() | st.text(max_size=60),
    ledger_index=st.none() | st.integers(0, 2**63 - 1),
    leaf_hash=st.none() | st.text(max_size=50),
    received_at=st.datetimes(min_value=datetime(1970, 1, 2), timezones=st.just(UTC)),
    record_sha256=st.none() | st.text("0123456789abcdef", min_size=64, max_size=64))


def canonical_receipt(value: bytes) -> tuple[bytes, str, bytes] | None:
    return canonical_envelope(value, envelope_head(RECEIPT_PAYLOAD_TYPE))


def hub_envelope(receipt: Receipt, key: SigningKey = HUB) -> bytes:
    return key.sign_model(RECEIPT_PAYLOAD_TYPE, receipt)


def connector(tmp_path: Path) -> Connector:
    return Connector("zs-aic", AGENCY, bootstrap="127.0.0.1:1",
                     outbox_path=tmp_path / "outbox.sqlite", hub_public_key=HUB.public_key)


def judged_alike(c: Connector, value: bytes) -> object:
    """open_receipt's outcome, asserted equal to the general reader's; and the outbox row
    the receipts loop makes of the message (`_receipt_row`, which skips the model) asserted
    equal to the row of that receipt."""
    fast, slow = outcome(c.open_receipt, value), outcome(c._open_envelope, value)
    assert fast == slow
    message = ConsumerRecord("linkage.receipts.zs-aic", 1, 41, 0, 0, None, value, None, 0,
                             len(value), ())
    row = outcome(c._receipt_row, message)
    if isinstance(fast, Receipt):
        assert row == ReceiptRow(1, 42, fast.event_id, fast.status.value, fast.reason,
                                 fast.detail, fast.ledger_index, fast.leaf_hash,
                                 fast.record_sha256)
    elif fast is None:
        assert row == ReceiptRow(1, 42, None, "", None, None, None, None)
    else:  # the same exception
        assert row == fast
    return fast


def variants(value: bytes) -> list[bytes]:
    """Other spellings of the same envelope, which take the general reader."""
    document = json.loads(value)
    unpadded = dict(document, payload=document["payload"].rstrip("="))
    url_safe = dict(document, payload=base64.urlsafe_b64encode(
        base64.b64decode(document["payload"])).decode())
    extra = dict(document, extra=1)
    twice = dict(document, signatures=[*document["signatures"], *document["signatures"]])
    return [json.dumps(document).encode(), json.dumps(unpadded).encode(),
            json.dumps(url_safe).encode(), json.dumps(extra).encode(),
            json.dumps(twice).encode(), value.replace(b'"keyid":"', b'"keyid":"\\u0041')]


UNREADABLE_SIGNED = (
    b'{"event_id":"e","status":"lost","reason":null,"detail":null,'
    b'"ledger_index":1,"leaf_hash":null,"received_at":"2026-11-27T00:00:00Z"}',
    b'{"event_id":"e","status":"accepted","reason":null,"detail":null,'
    b'"ledger_index":1,"leaf_hash":null,"received_at":"2026-11-27T00:00:00"}',
    b'{"event_id":"e","status":"accepted"}',
    b'not json')


def test_a_hub_signed_payload_the_model_refuses_is_refused_by_the_row_reader_too(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Only the hub can sign one, but the row reader must not be laxer than the model; both
    skip it with an error logged rather than raise (which stopped the receipts loop)."""
    c = connector(tmp_path)
    for payload in UNREADABLE_SIGNED:
        value = EnvelopeSigner(HUB, RECEIPT_PAYLOAD_TYPE)(payload)
        assert canonical_receipt(value) is not None
        caplog.clear()
        assert judged_alike(c, value) is None
        assert [r.levelname for r in caplog.records] == ["ERROR"] * 3
        for spelling in variants(value)[:1]:  # the general reader's path
            assert judged_alike(c, spelling) is None
    from_a_10_hub = EnvelopeSigner(HUB, RECEIPT_PAYLOAD_TYPE)(  # no record_sha256: None
        b'{"event_id":"e","status":"duplicate","reason":null,"detail":"d","ledger_index":1,'
        b'"leaf_hash":"aGFzaA==","received_at":"2026-11-27T00:00:00+08:00"}')
    assert judged_alike(c, from_a_10_hub) == Receipt(
        event_id="e", status=ReceiptStatus.DUPLICATE, reason=None, detail="d", ledger_index=1,
        leaf_hash="aGFzaA==", received_at=datetime(2026, 11, 27, tzinfo=SHANGHAI))
    c.outbox.close()


def test_an_unreadable_signed_receipt_does_not_stop_the_receipts_loop(tmp_path: Path) -> None:
    """The batch around it is applied and the position moves past it."""
    c = connector(tmp_path)
    good = hub_envelope(Receipt(event_id="e1", status=ReceiptStatus.DUPLICATE, reason=None,
                                detail="d", ledger_index=1, leaf_hash=None,
                                received_at=datetime(2026, 11, 27, tzinfo=UTC)))
    bad = EnvelopeSigner(HUB, RECEIPT_PAYLOAD_TYPE)(UNREADABLE_SIGNED[-1])
    messages = [ConsumerRecord("linkage.receipts.zs-aic", 0, offset, 0, 0, None, value, None,
                               0, len(value), ()) for offset, value in enumerate([bad, good])]
    c._apply_receipts(messages)
    assert c.outbox.receipt_positions() == {0: 2}
    c.outbox.close()


@FAST
@given(receipt=receipts)
def test_the_hubs_receipts_take_the_fast_path_and_read_as_before(tmp_path: Path,
                                                                 receipt: Receipt) -> None:
    c = connector(tmp_path)
    value = hub_envelope(receipt)
    assert canonical_receipt(value) is not None
    assert judged_alike(c, value) == receipt
    for other in variants(value):
        assert judged_alike(c, other) == receipt
    c.outbox.close()


@FAST
@given(receipt=receipts, position=st.integers(0, 10**4), byte=st.integers(0, 255),
       edit=st.sampled_from(["replace", "insert", "delete"]))
def test_damaged_receipts_are_judged_as_the_general_reader_judges_them(
        tmp_path: Path, receipt: Receipt, position: int, byte: int, edit: str) -> None:
    c = connector(tmp_path)
    judged_alike(c, damaged(hub_envelope(receipt), position, byte, edit))
    c.outbox.close()


def test_a_receipt_signed_by_another_key_is_ignored_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    c = connector(tmp_path)
    receipt = Receipt(event_id="e1", status=ReceiptStatus.ACCEPTED, reason=None, detail=None,
                      ledger_index=1, leaf_hash="aGFzaA==", received_at=datetime.now(UTC))
    forged = hub_envelope(receipt, OTHER)
    assert canonical_receipt(forged) is not None  # the fast path checks the signature itself
    with caplog.at_level(logging.WARNING):
        assert judged_alike(c, forged) is None
    assert "bad hub signature" in caplog.text
    not_a_receipt = EnvelopeSigner(HUB, EVENT_PAYLOAD_TYPE)(b"{}")
    assert canonical_receipt(not_a_receipt) is None
    assert judged_alike(c, not_a_receipt) is None
    c.outbox.close()


@pytest.mark.parametrize("payload", [b"QUJD=", b"QUJD====", b"QQ", b"Q===", b"QU==RA==",
                                     b"QUJD\\n", b"QU JD", b"QUJD-_=="])
def test_base64_the_dsse_reader_refuses_or_reads_otherwise_is_not_taken_fast(
        tmp_path: Path, payload: bytes) -> None:
    c = connector(tmp_path)
    value = hub_envelope(Receipt(event_id="e1", status=ReceiptStatus.ACCEPTED, reason=None,
                                 detail=None, ledger_index=1, leaf_hash=None,
                                 received_at=datetime.now(UTC)))
    document = json.loads(value)
    start = value.index(document["payload"].encode())
    damaged = value[:start] + payload + value[start + len(document["payload"]):]
    assert canonical_receipt(damaged) is None
    assert judged_alike(c, damaged) is None
    c.outbox.close()
