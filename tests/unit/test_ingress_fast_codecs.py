"""The ingress worker's cheaper codecs (issue 14, session 9) equal the careful ones they stand
in for, on valid and hostile input alike: the signers' envelope read with pybase64 and the
`=` found in place (schemas/dsse.py); the event validated by the narrowed typed model first
(streams/verification.py); the latency histogram observed once a batch and receipts' JSON written
by one format (streams/ingress.py); strict JSON scanned without `JSONDecoder.decode`'s wrapper
(schemas/strict_json.py)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pybase64
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram
from pydantic import ValidationError
from pydantic_core import to_json

from schemas import strict_json
from schemas.b64 import dsse_b64decode
from schemas.dsse import EVENT_PAYLOAD_TYPE, Envelope, _padded, canonical_envelope, envelope_head
from schemas.events import EVENT_TYPES, typed_event_model
from schemas.receipt import ReceiptStatus
from schemas.strict_json import MAX_DEPTH, StrictJsonError, loads_strict
from streams.ingress import _receipt_fields, observe_all, receipt_payload
from streams.ports import StoredOutcome
from tests.records import event_dict, sender_of

CHECKS = settings(max_examples=400, deadline=None)

HEAD = envelope_head(EVENT_PAYLOAD_TYPE)
B64ISH = st.text(alphabet="AQUJDRxyz09+/=-_ \n\\\"\x00é", max_size=30).map(
    lambda text: text.encode("utf-8"))
"""Texts near base64: its alphabets, padding anywhere, white space, escapes, quotes, non-ASCII."""


def model_reading(value: bytes) -> tuple[bytes, str, bytes] | None:
    """What the general reader (the `Envelope` model) makes of one-signature bytes."""
    try:
        envelope = Envelope.model_validate_json(value)
    except ValidationError:
        return None
    if envelope.payload_type != EVENT_PAYLOAD_TYPE or len(envelope.signatures) != 1:
        return None
    [signature] = envelope.signatures
    return envelope.payload_bytes(), signature.keyid, signature.signature_bytes()


def strict_binascii(text: bytes) -> bytes | None:
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except binascii.Error:
        return None


@CHECKS
@given(text=B64ISH | st.binary(max_size=24))
def test_the_fast_decode_of_padded_text_is_binascii_strict_modes(text: bytes) -> None:
    padded = len(text) % 4 == 0 and b"=" not in text[:-2]  # the check as it was written
    assert _padded(text) == padded
    if padded:
        try:
            fast: bytes | None = pybase64.b64decode(text, validate=True)
        except binascii.Error:
            fast = None
        assert fast == strict_binascii(text)


@CHECKS
@given(payload=B64ISH | st.binary(max_size=40).map(base64.b64encode),
       signature=st.binary(min_size=64, max_size=64), position=st.integers(0, 87),
       edit=st.sampled_from(["", "=", "-", "_", " ", "A", "\\", "\x00"]),
       keyid=st.sampled_from([b"k1", b"", b"k-1", b"\xc3\xa9"]))
def test_envelopes_read_fast_are_read_alike_by_the_model(
        payload: bytes, signature: bytes, position: int, edit: str, keyid: bytes) -> None:
    sig = bytearray(base64.b64encode(signature))
    if edit:
        sig[position] = ord(edit)
    value = (HEAD + payload + b'","signatures":[{"keyid":"' + keyid + b'","sig":"' + bytes(sig)
             + b'"}]}')
    fast = canonical_envelope(value, HEAD)
    careful = model_reading(value)
    if fast is not None:
        assert fast == careful
    raw = strict_binascii(payload)
    standard = (raw is not None and base64.b64encode(raw) == payload and not edit
                and keyid.isalnum())
    if standard:  # the signers' own form is never left to the model
        assert fast is not None and fast == careful
        assert fast[0] == dsse_b64decode(payload.decode())


# -- the event: the narrowed typed model first (streams/verification.py, _typed_event) -------

IDS = st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper()) | st.sampled_from(
    ["{12345678-1234-5678-1234-567812345678}", "urn:uuid:12345678-1234-5678-1234-567812345678",
     "12345678123456781234567812345678", "12345678-1234-5678-1234-567812345678\n",
     "12345678-1234-5678-1234-56781234567", "", "x"])
EVENT_TIMES = st.datetimes(min_value=datetime(1899, 12, 29), max_value=datetime(3000, 1, 3),
                           timezones=st.sampled_from([UTC, timezone(timedelta(hours=14)),
                                                      timezone(timedelta(hours=-14)),
                                                      timezone(timedelta(hours=8)), None])
                           ).map(lambda d: d.isoformat()) | st.sampled_from(
    ["1900-01-01T00:00:00Z", "1900-01-02T00:00:00Z", "2999-12-31T00:00:00Z",
     "2999-12-31T23:59:59.999999Z", "3000-01-01T00:00:00Z", "2026-11-27T10:00:00z",
     "2026-11-27 10:00:00+08:00", "2026-11-27T10:00:00"])


@CHECKS
@given(type_name=st.sampled_from(sorted(EVENT_TYPES)), event_id=IDS, time=EVENT_TIMES)
def test_what_the_narrowed_model_accepts_the_typed_model_accepts_alike(
        type_name: str, event_id: str, time: str) -> None:
    event = event_dict(sender_of(type_name), type_name, "CASE-1", id=event_id, time=time)
    text = json.dumps(event, ensure_ascii=False).encode()
    try:
        narrowed = typed_event_model(type_name, narrowed=True).model_validate_json(text)
    except ValidationError:
        return
    typed = typed_event_model(type_name).model_validate_json(text)
    assert narrowed.model_dump() == typed.model_dump()
    assert narrowed.time.utcoffset() == typed.time.utcoffset()


# -- the latency histogram, observed once a batch (streams/ingress.py, observe_all) ----------

BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


def histogram_samples(histogram: Histogram) -> dict[str, float]:
    return {s.name + str(sorted(s.labels.items())): s.value for m in histogram.collect()
            for s in m.samples if not s.name.endswith("_created")}


@settings(max_examples=100, deadline=None)  # two histograms a case: the slowest check here
@given(amounts=st.lists(st.sampled_from([0.0, *BOUNDS, 31.0]) | st.floats(0, 100),
                        max_size=40))
def test_observing_a_batch_at_once_equals_observing_each_amount(amounts: list[float]) -> None:
    registry = CollectorRegistry()
    each = Histogram("each", "each", buckets=BOUNDS, registry=registry)
    at_once = Histogram("at_once", "at once", buckets=BOUNDS, registry=registry)
    for amount in amounts:
        each.observe(amount)
    observe_all(at_once, amounts)
    one, other = histogram_samples(each), histogram_samples(at_once)
    assert one.keys() == {k.replace("at_once", "each") for k in other}
    for name, value in one.items():
        assert other[name.replace("each", "at_once")] == pytest.approx(value, rel=1e-12)


def test_a_labelled_histogram_is_refused_as_observe_refuses_it() -> None:
    labelled = Histogram("labelled", "l", ["agency"], registry=CollectorRegistry())
    with pytest.raises(ValueError):
        labelled.observe(1.0)
    with pytest.raises(ValueError):
        observe_all(labelled, [1.0])


# -- receipts' JSON (streams/ingress.py, receipt_payload) ------------------------------------

ZONES = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-3, minutes=-30))])
STORED = st.builds(
    StoredOutcome,
    key=st.tuples(st.just("linkage.ingress.zs-aic"), st.integers(0, 3), st.integers(0, 10**6),
                  st.binary(min_size=32, max_size=32)),
    status=st.sampled_from(ReceiptStatus),
    event_id=st.none() | st.uuids().map(str) | IDS | st.text(max_size=40),
    received_at=st.datetimes(min_value=datetime(1970, 1, 2), timezones=ZONES)
    | st.sampled_from([datetime(2026, 11, 28, 12, 0, tzinfo=UTC)]),
    reason=st.none() | st.sampled_from(["BAD_SIGNATURE", ""]) | st.text(max_size=20),
    detail=st.none() | st.sampled_from(["已于账本序号 3 接收 / already accepted", ""])
    | st.text(max_size=40),
    ledger_index=st.none() | st.integers(0, 2**63 - 1) | st.just(True),
    leaf_hash=st.none() | st.just(b"") | st.binary(min_size=32, max_size=32),
    record=st.none() | st.binary(max_size=20))


@CHECKS
@given(stored=STORED)
def test_receipt_json_is_pydantics_for_any_outcome(stored: StoredOutcome) -> None:
    careful = to_json(_receipt_fields(stored))
    assert receipt_payload(stored) == careful
    assert receipt_payload(stored) == careful  # the time's JSON remembered


def test_a_remembered_time_is_not_taken_for_an_equal_time_in_another_zone() -> None:
    utc = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
    shanghai = utc.astimezone(timezone(timedelta(hours=8)))
    assert utc == shanghai
    for at in (utc, shanghai, utc):
        stored = StoredOutcome(("t", 0, 1, b"h" * 32), ReceiptStatus.ACCEPTED,
                               "671d0144-1850-4afd-a7a2-e7c56a6bfbd7", at, None, None, 7,
                               b"l" * 32, None)
        assert receipt_payload(stored) == to_json(_receipt_fields(stored))


# -- strict JSON: the decoder's scanner called directly (schemas/strict_json.py) -------------

JSONISH = st.text(alphabet=st.sampled_from(list('{}[]":,01-9.eE ntrufalsNIy\\\\u0d8\x00\t\né😀')),
                  max_size=40)
DOCS = st.recursive(st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats()
                    | st.text(max_size=6), lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=12)


def read(data: bytes) -> tuple[str, Any]:
    try:
        return "ok", repr(loads_strict(data))
    except StrictJsonError as exc:
        return "error", str(exc)


def careful_read(data: bytes) -> tuple[str, Any]:
    """loads_strict with its direct scan failing: what `decode` alone makes of the bytes."""
    def failing(text: str, index: int) -> tuple[Any, int]:
        raise StopIteration(index)
    saved = strict_json._SCAN
    strict_json._SCAN = failing
    try:
        return read(data)
    finally:
        strict_json._SCAN = saved


@CHECKS
@given(text=JSONISH, document=DOCS, spelling=st.sampled_from(
    ["compact", "spaced", "ascii", "lead", "trail", "extra", "duplicate", "raw"]))
def test_the_direct_scan_reads_and_refuses_as_decode(text: str, document: Any,
                                                       spelling: str) -> None:
    dumped = json.dumps(document, ensure_ascii=spelling == "ascii",
                        separators=(", ", ": ") if spelling == "spaced" else (",", ":"))
    data = {"raw": text, "lead": " " + dumped, "trail": dumped + "\n", "extra": dumped + text,
            "duplicate": dumped.replace("{", '{"a":1,"a":2,', 1)}.get(spelling, dumped)
    encoded = data.encode("utf-8", "surrogatepass")
    assert read(encoded) == careful_read(encoded)


def test_deep_and_escaped_documents_are_still_walked() -> None:
    deep = b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)
    assert read(deep)[0] == careful_read(deep)[0] == "error"
    assert read(b'["\\u0000"]') == careful_read(b'["\\u0000"]')
    assert read(b'["\\u0000"]')[0] == "error"
