"""The ingress verifier's fast paths (streams/verification.py: the signers' compact envelope read
without pydantic, the event validated with its data by one typed model) decide every record
exactly as the general path: same verified event, or same reason, detail and event id — for
valid records of every type and for hostile ones (edited values, other spellings, damage)."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import streams.verification as verification
from schemas.cloudevent import CloudEvent
from schemas.dsse import EVENT_PAYLOAD_TYPE, Envelope
from schemas.envelope_signer import EnvelopeSigner
from schemas.events import EVENT_TYPES, Role
from schemas.signing import KeyRecord, SigningKey
from streams.verification import RegistrySnapshot, Rejected, VerifiedEvent, verify_record
from tests.records import BAD_RECORDS, HOSTILE_RECORDS, damaged, event_dict, sender_of

AIC, PSB, PROC, REVOKED, STRANGER = (SigningKey.generate() for _ in range(5))
AGENCY_KEYS = {"zs-aic": AIC, "zs-psb": PSB, "zs-procuratorate": PROC}
NOW = datetime.now(UTC)
REGISTRY = RegistrySnapshot(
    {AIC.keyid: KeyRecord(AIC.keyid, "zs-aic", Role.ADMINISTRATIVE, AIC.public_key),
     PSB.keyid: KeyRecord(PSB.keyid, "zs-psb", Role.POLICE, PSB.public_key),
     PROC.keyid: KeyRecord(PROC.keyid, "zs-procuratorate", Role.PROCURATORATE,
                           PROC.public_key),
     REVOKED.keyid: KeyRecord(REVOKED.keyid, "zs-aic", Role.ADMINISTRATIVE, REVOKED.public_key,
                              NOW - timedelta(hours=1))},
    {role: frozenset(n for n, s in EVENT_TYPES.items() if role in s.roles) for role in Role})
SIGNERS = {key.keyid: EnvelopeSigner(key, EVENT_PAYLOAD_TYPE)
           for key in (AIC, PSB, PROC, REVOKED, STRANGER)}
CHECKS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def general_path_only() -> Iterator[None]:
    """The verifier with its fast paths declining everything."""
    saved = (verification.canonical_envelope, verification._typed_event,
             verification._one_signature)
    verification.canonical_envelope = lambda value, head: None  # type: ignore[assignment]
    verification._typed_event = lambda document, payload: None  # type: ignore[assignment]
    verification._one_signature = lambda *args: None  # type: ignore[assignment]
    try:
        yield
    finally:
        (verification.canonical_envelope, verification._typed_event,
         verification._one_signature) = saved


def decision(topic: str, key: bytes | None, value: bytes) -> object:
    try:
        v = verify_record(topic, key, value, REGISTRY, NOW)
    except Rejected as rejected:
        return ("rejected", rejected.reason, rejected.detail, rejected.event_id)
    event = v.event
    return ("verified", v.event_id, v.agency_id, v.case_id, v.spec.name, v.keyid, v.value,
            event.time, event.time.utcoffset(), event.model_dump(exclude={"data"}),
            event.model_extra)


def judged_alike(topic: str, key: bytes | None, value: bytes) -> object:
    fast = decision(topic, key, value)
    with general_path_only():
        general = decision(topic, key, value)
    assert fast == general
    return fast


# -- what hostile events are made of ---------------------------------------------------------

TIMES = st.sampled_from([
    "2026-11-27T10:00:00+08:00", "2026-11-27T10:00:00Z", "2026-11-27T10:00:00z",
    "2026-11-27t10:00:00Z", "2026-11-27T10:00:00.123456789+08:00", "2026-11-27T10:00:00.1Z",
    "2026-11-27 10:00:00+08:00", "2026-11-27T10:00:00", "2026-11-27T10:00:00+24:00",
    "2026-11-27T10:00:60Z", "2026-02-30T10:00:00Z", "1899-12-31T23:59:59Z",
    "2999-12-31T23:59:59-14:00", "3000-01-01T00:00:00Z", "2026-11-27", "20261127T100000Z",
    "2026-11-27T10:00:00-00:00", "2026-11-27T10:00+08:00", "", "now",
]) | st.datetimes(min_value=datetime(1899, 6, 1), max_value=datetime(3000, 6, 1),
                  timezones=st.sampled_from([UTC, None])).map(lambda d: d.isoformat())
NEAR = st.integers(-10**6, 10**6).map(lambda s: (NOW + timedelta(seconds=s)).isoformat())
"""Valid times around now: in the past, within the skew allowed, beyond it."""
STRINGS = st.text(max_size=12) | st.sampled_from([
    "", " ", "\x00", "\n", "1.0", "86000.00", "86000.001", "-1.00", "01.00", "1e3", "zs-aic",
    "zs-psb", "ZS-AIC", "urn:linkage:agency:zs-aic", "urn:linkage:agency:zs-psb",
    "cn.linkage.case.opened.v1", "application/json", str(uuid.uuid4()),
    str(uuid.uuid4()).upper(), "{" + str(uuid.uuid4()) + "}", "ab" * 32, "x" * 129,
    "trademark_counterfeiting", "person", "organization", "transfer_letter",
    *(spec.ce_type for spec in EVENT_TYPES.values())]) | TIMES
NUMBERS = st.integers(-(2**64), 2**64) | st.floats(allow_nan=False) | st.sampled_from(
    [0, -1, 2, 2**63 - 1, 2**63, 2.0, 0.5, -0.0, 1e300])
LEAVES = st.none() | st.booleans() | NUMBERS | STRINGS
VALUES = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(STRINGS, inner, max_size=3), max_leaves=8)


def paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a member or element of the document, itself included."""
    found = [prefix]
    if isinstance(document, dict):
        for name, value in document.items():
            found += paths(value, (*prefix, name))
    elif isinstance(document, list):
        for i, value in enumerate(document):
            found += paths(value, (*prefix, i))
    return found


def edited(document: Any, path: tuple[Any, ...], how: str, value: Any) -> Any:
    """The document with the thing at `path` replaced, removed, or given a new member."""
    if not path:
        return value if how == "replace" else document
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if how == "replace":
        parent[last] = value
    elif how == "remove":
        del parent[last]
    elif isinstance(parent[last], dict):
        parent[last]["extra"] = value
    return document


def text_of(event: Any, style: str) -> bytes:
    if style == "compact":
        return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
    if style == "ascii":
        return json.dumps(event).encode()
    if style == "indented":
        return json.dumps(event, indent=1).encode()
    text = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    if style == "duplicate_id" and text.startswith('{"specversion"'):
        return ('{"id":"x",' + text[1:]).encode()
    if style == "nan":
        return text.replace('"data":{', '"data":{"n":NaN,', 1).encode()
    return text.encode()


def envelope_spelling(value: bytes, spelling: str) -> bytes:
    document = json.loads(value)
    if spelling == "canonical":
        return value
    if spelling == "spaced":
        return json.dumps(document).encode()
    if spelling == "url_safe":
        for name in ("payload",):
            document[name] = base64.urlsafe_b64encode(
                base64.b64decode(document[name])).decode().rstrip("=")
        return json.dumps(document, separators=(",", ":")).encode()
    if spelling == "two_signatures":
        other = json.loads(SIGNERS[STRANGER.keyid](base64.b64decode(document["payload"])))
        document["signatures"] = other["signatures"] + document["signatures"]
        return json.dumps(document, separators=(",", ":")).encode()
    if spelling == "extra_member":
        document["extra"] = 1
        return json.dumps(document, separators=(",", ":")).encode()
    if spelling == "escaped_keyid":
        return value.replace(b'"keyid":"', b'"keyid":"\\u0061', 1)
    return value


def record_of(type_name: str, data: st.DataObject, how: str, value: Any, style: str,
              signer: str = "own", spelling: str = "canonical", record_key: str = "subject",
              topic_agency: str = "own") -> tuple[str, bytes | None, bytes]:
    """(topic, key, value) of an event of this type, edited, signed and spelt as told."""
    agency = sender_of(type_name)
    event = event_dict(agency, type_name, f"CASE-{uuid.uuid4().hex[:6]}")
    if how != "none":
        everywhere = paths(event)
        in_data = [p for p in everywhere if p[:1] == ("data",)]
        path = data.draw(st.sampled_from(in_data) | st.sampled_from(in_data)
                         | st.sampled_from(everywhere)
                         | st.sampled_from([(n,) for n in ("time", "type", "id", "subject")]))
        event = edited(event, path, how, value)
    key = {"own": AGENCY_KEYS[agency], "other_agency": PSB if agency != "zs-psb" else AIC,
           "revoked": REVOKED, "stranger": STRANGER}[signer]
    envelope = envelope_spelling(SIGNERS[key.keyid](text_of(event, style)), spelling)
    subject = event.get("subject") if isinstance(event, dict) else None
    key_bytes = {"subject": str(subject).encode(), "other": b"OTHER", "none": None}[record_key]
    topic = f"linkage.ingress.{agency if topic_agency == 'own' else topic_agency}"
    return topic, key_bytes, envelope


STYLES = st.sampled_from(["compact", "compact", "compact", "ascii", "indented", "duplicate_id",
                          "nan"])


@CHECKS
@given(type_name=st.sampled_from(sorted(EVENT_TYPES)), data=st.data(),
       how=st.sampled_from(["none", "replace", "replace", "remove", "add"]), value=VALUES,
       style=STYLES)
def test_events_edited_anywhere_are_judged_as_by_the_general_path(
        type_name: str, data: st.DataObject, how: str, value: Any, style: str) -> None:
    judged_alike(*record_of(type_name, data, how, value, style))


@CHECKS
@given(type_name=st.sampled_from(sorted(EVENT_TYPES)), data=st.data(),
       how=st.sampled_from(["none", "none", "replace", "remove"]), value=VALUES, style=STYLES,
       signer=st.sampled_from(["own", "own", "other_agency", "revoked", "stranger"]),
       spelling=st.sampled_from(["canonical", "canonical", "spaced", "url_safe",
                                 "two_signatures", "extra_member", "escaped_keyid"]),
       record_key=st.sampled_from(["subject", "subject", "other", "none"]),
       topic_agency=st.sampled_from(["own", "own", "zs-psb"]))
def test_other_signers_spellings_and_routes_are_judged_as_by_the_general_path(
        type_name: str, data: st.DataObject, how: str, value: Any, style: str, signer: str,
        spelling: str, record_key: str, topic_agency: str) -> None:
    judged_alike(*record_of(type_name, data, how, value, style, signer, spelling, record_key,
                            topic_agency))


@CHECKS
@given(type_name=st.sampled_from(sorted(EVENT_TYPES)),
       ce_type=st.none() | st.sampled_from(sorted(s.ce_type for s in EVENT_TYPES.values()))
       | STRINGS, time=st.none() | NEAR | TIMES, sender=st.sampled_from(sorted(AGENCY_KEYS)))
def test_types_times_and_senders_swapped_are_judged_as_by_the_general_path(
        type_name: str, ce_type: str | None, time: str | None, sender: str) -> None:
    """Another type's name (NOT_PERMITTED, UNKNOWN_TYPE, SCHEMA_INVALID), any time
    (CLOCK_SKEW, MALFORMED_EVENT), any sending agency."""
    event = event_dict(sender, type_name, "CASE-1")
    event.update({"type": ce_type} if ce_type is not None else {},
                 **({"time": time} if time is not None else {}))
    judged_alike(*record_of_bytes(sender, text_of(event, "compact")))


def record_of_bytes(agency: str, event: bytes) -> tuple[str, bytes, bytes]:
    return f"linkage.ingress.{agency}", b"CASE-1", SIGNERS[AGENCY_KEYS[agency].keyid](event)


@pytest.mark.parametrize("name", sorted(BAD_RECORDS) + sorted(HOSTILE_RECORDS))
def test_every_known_bad_record_is_judged_as_by_the_general_path(name: str) -> None:
    build = BAD_RECORDS[name] if name in BAD_RECORDS else HOSTILE_RECORDS[name][0]
    record = build(AIC, STRANGER)
    expected = name if name in BAD_RECORDS else HOSTILE_RECORDS[name][1]
    judged = judged_alike(record.topic, record.key, record.value)
    assert judged[:2] == ("rejected", expected)  # type: ignore[index]
    try:  # the same event in the connector's compact form, where it has one
        event = json.loads(base64.b64decode(json.loads(record.value)["payload"]))
        compact = text_of(event, "compact")
    except (ValueError, KeyError, TypeError, RecursionError):  # (a surrogate cannot be UTF-8)
        return
    judged_alike(record.topic, record.key, SIGNERS[AIC.keyid](compact))


@CHECKS
@given(type_name=st.sampled_from(sorted(EVENT_TYPES)), position=st.integers(0, 10**5),
       byte=st.integers(0, 255), edit=st.sampled_from(["replace", "insert", "delete"]))
def test_damaged_envelopes_are_judged_as_by_the_general_path(
        type_name: str, position: int, byte: int, edit: str) -> None:
    agency = sender_of(type_name)
    event = event_dict(agency, type_name, "CASE-1")
    value = SIGNERS[AGENCY_KEYS[agency].keyid](text_of(event, "compact"))
    judged_alike(f"linkage.ingress.{agency}", b"CASE-1", damaged(value, position, byte, edit))


@pytest.mark.parametrize("type_name", sorted(EVENT_TYPES))
def test_connector_records_take_both_fast_paths(type_name: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A connector's record of every type is verified without the general readers."""
    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("the general path was taken")

    agency = sender_of(type_name)
    event = event_dict(agency, type_name, "CASE-1")
    value = SIGNERS[AGENCY_KEYS[agency].keyid](text_of(event, "compact"))
    monkeypatch.setattr(verification, "_parse_envelope", refuse)
    monkeypatch.setattr(verification, "validate_data", refuse)
    monkeypatch.setattr(Envelope, "model_validate", refuse)
    general_event = CloudEvent.model_validate_json.__func__  # type: ignore[attr-defined]

    def typed_only(cls: type[CloudEvent], *args: Any, **kwargs: Any) -> CloudEvent:
        assert cls is not CloudEvent, "the general event model was used"
        return general_event(cls, *args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(CloudEvent, "model_validate_json", classmethod(typed_only))
    signers: list[object] = []
    one_signature = verification._one_signature
    monkeypatch.setattr(verification, "_one_signature",
                        lambda *args: signers.append(one_signature(*args)) or signers[-1])
    verified = verify_record(f"linkage.ingress.{agency}", b"CASE-1", value, REGISTRY,
                             datetime.now(UTC))  # event_dict stamps the time now: NOW is as old as the module
    assert isinstance(verified, VerifiedEvent) and verified.spec.name == type_name
    assert len(signers) == 1 and isinstance(signers[0], KeyRecord)  # the signature's fast path


@CHECKS
@given(signer=st.sampled_from(["zs-aic", "zs-psb", "stranger", "revocable"]),
       revoked=st.none() | st.integers(-3, 3), damage=st.integers(-1, 63),
       topic_agency=st.sampled_from(["zs-aic", "zs-psb", None]), payload=st.binary(max_size=40))
def test_one_signature_is_checked_as_by_the_general_path(
        signer: str, revoked: int | None, damage: int, topic_agency: str | None,
        payload: bytes) -> None:
    """_check_signature with one signature: any key (known or not, revoked before, at or
    after now, or not), a good or a damaged signature, any topic: the same signer or the
    same rejection with the signature's fast path as without it."""
    revocable = KeyRecord(REVOKED.keyid, "zs-aic", Role.ADMINISTRATIVE, REVOKED.public_key,
                          None if revoked is None else NOW + timedelta(seconds=revoked))
    keys = {**REGISTRY.keys, REVOKED.keyid: revocable}
    key = {"zs-aic": AIC, "zs-psb": PSB, "stranger": STRANGER, "revocable": REVOKED}[signer]
    signature = bytearray(key.sign(verification.pae(EVENT_PAYLOAD_TYPE, payload)))
    if damage >= 0:
        signature[damage] ^= 1
    signatures = [(key.keyid, bytes(signature))]

    def judged() -> object:
        try:
            return verification._check_signature(payload, signatures, keys, NOW, topic_agency)
        except Rejected as rejected:
            return rejected.reason, rejected.detail

    fast = judged()
    with general_path_only():
        assert fast == judged()


def test_a_bad_single_signature_is_verified_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A damaged signature by a known, active key is rejected by the signature's fast path
    itself (BAD_SIGNATURE, naming the key): its Ed25519 check is not made a second time by
    the general path (a hostile sender's bad signatures cost one verify each)."""
    calls: list[bytes] = []
    verify = verification.verify_signature

    def counted(public: bytes, signature: bytes, message: bytes) -> bool:
        calls.append(signature)
        return verify(public, signature, message)

    monkeypatch.setattr(verification, "verify_signature", counted)
    payload = b'{"any": "payload"}'
    signature = bytearray(AIC.sign(verification.pae(EVENT_PAYLOAD_TYPE, payload)))
    signature[0] ^= 1
    with pytest.raises(Rejected) as rejected:
        verification._check_signature(payload, [(AIC.keyid, bytes(signature))], REGISTRY.keys,
                                      NOW, "zs-aic")
    assert (rejected.value.reason, rejected.value.detail) == (
        verification.Reason.BAD_SIGNATURE, f"keyid {AIC.keyid}")
    assert len(calls) == 1
