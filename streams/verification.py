"""Pure verification of one ingress record: envelope, key, signature, event, schema, rules.

Checks run in a fixed order and the first failure decides the reason code:
size → envelope → payload type → key (unknown / revoked) → signature → event → source →
type → permission → case key → schema → clock. The signature is checked before anything
inside the payload is trusted. See docs/contract-notes.md for the reading of each code.

Both the envelope and the event are read as strict JSON first (schemas/strict_json.py), so
what a model accepts is also storable; every detail is `bounded_text`, because it echoes
values of a hostile record into PostgreSQL, a Kafka header and a signed receipt.

Fast paths (design decision, issue 14: around the one Ed25519 verify, parsing cost the
ingress worker about as much again). Each one only ever *accepts* — whatever it declines goes
to the general path, which then finds the reason and message exactly as before, so a bad
record is judged as it always was (tests/unit/test_verification_fast_path.py checks the two
with hypothesis, valid and hostile records alike):

* the envelope in the signers' own compact form is read without pydantic
  (schemas.dsse.canonical_envelope); any other spelling goes through the `Envelope` model;
* the event (after the strict-JSON read) is validated with its data in one pass of pydantic
  over the bytes, by a model per event type (schemas.events.typed_event_model), instead of
  the CloudEvent model, a re-serialisation of the data and the data's model. If that model
  refuses it, the general path decides (MALFORMED_EVENT, SOURCE_MISMATCH, ..., SCHEMA_INVALID,
  in order).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from pydantic import BaseModel, ValidationError

from schemas.cloudevent import SOURCE_PREFIX, CloudEvent, event_type_name, readable_event_id
from schemas.dsse import (
    EVENT_PAYLOAD_TYPE,
    Envelope,
    canonical_envelope,
    envelope_head,
    pae,
)
from schemas.events import EVENT_TYPES, EventTypeSpec, Role, typed_event_model
from schemas.reasons import Reason, bounded_text
from schemas.signing import KeyRecord, verify_signature
from schemas.strict_json import StrictJsonError, loads_strict
from schemas.topics import topic_agency

MAX_RECORD_BYTES = 1024 * 1024
MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_SIGNATURES = 16
"""More signatures than this make an envelope malformed (each costs a verification)."""


@dataclass(frozen=True)
class RegistrySnapshot:
    """What verification needs from the registry: keys by id, event types by role."""

    keys: Mapping[str, KeyRecord]
    permissions: Mapping[Role, frozenset[str]] = field(default_factory=dict)
    agencies: frozenset[str] | None = None
    """The registered agencies' ids; None when unknown (then every topic's agency counts)."""

    def registered(self, agency_id: str | None) -> bool:
        return agency_id is not None and (self.agencies is None or agency_id in self.agencies)

    def permits(self, role: Role, type_name: str) -> bool:
        return type_name in self.permissions.get(role, frozenset())


class Rejected(Exception):
    """A record the hub refuses: a contract reason code, a detail, the event id if readable."""

    def __init__(self, reason: Reason, detail: str, event_id: str | None = None) -> None:
        detail = bounded_text(detail)
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.event_id = event_id

    def with_event_id(self, event_id: str | None) -> Rejected:
        return Rejected(self.reason, self.detail, event_id)


def key_revoked(keyid: str, revoked_at: datetime, event_id: str | None = None) -> Rejected:
    """The KEY_REVOKED rejection, wherever the revocation is found (snapshot or store)."""
    return Rejected(Reason.KEY_REVOKED, f"keyid {keyid} revoked at {revoked_at.isoformat()}",
                    event_id)


class VerifiedEvent(NamedTuple):
    """A record that passed every check; `value` is the record's bytes exactly as received.

    A NamedTuple, immutable like the frozen dataclass it was: one is made per record, and a
    frozen dataclass's `__init__` sets each field through `object.__setattr__` (~1 µs of
    the ingress worker per record against ~0.3; issue 14)."""

    value: bytes
    event: CloudEvent
    spec: EventTypeSpec
    keyid: str
    event_id: str
    """`event.event_id`, read once (settling a record reads it about seven times)."""
    agency_id: str
    """`event.agency`."""
    event_time: datetime
    """`event.time` as the same instant in UTC (`datetime.UTC`): what the ledger stores.

    Design decision (issue 14, session 10): pydantic-core gives a parsed time its own tzinfo
    (`TzInfo`), whose `utcoffset` costs ~0.45 µs a call from C (timeit), and comparing or
    subtracting times of two tzinfos, and asyncpg's encoding of a timestamptz (two
    comparisons with its infinities, a conversion to UTC), call it again: ~4 calls a record.
    Converting once here (~0.36 µs) leaves the clock-skew check and the ledger COPY working
    on `datetime.UTC` times, which need no such call."""

    @property
    def case_id(self) -> str:
        return self.event.subject


def json_pointer(loc: tuple[int | str, ...]) -> str:
    """RFC 6901 pointer for a pydantic error location."""
    parts = (str(p).replace("~", "~0").replace("/", "~1") for p in loc)
    return "".join("/" + p for p in parts)


def first_error(exc: ValidationError, prefix: tuple[str, ...] = ()) -> tuple[str, str]:
    """(pointer, message) of the first validation error."""
    err = exc.errors(include_url=False)[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    return json_pointer(prefix + loc), str(err["msg"])


def _parse_envelope(value: bytes) -> Envelope:
    try:
        envelope = Envelope.model_validate(loads_strict(value))
    except StrictJsonError as exc:
        raise Rejected(Reason.MALFORMED_ENVELOPE, str(exc)) from None
    except ValidationError as exc:
        pointer, msg = first_error(exc)
        raise Rejected(Reason.MALFORMED_ENVELOPE, f"{pointer or '/'}: {msg}") from None
    if len(envelope.signatures) > MAX_SIGNATURES:
        raise Rejected(Reason.MALFORMED_ENVELOPE,
                       f"/signatures: more than {MAX_SIGNATURES} signatures")
    return envelope


def _read_envelope(value: bytes) -> tuple[bytes, Sequence[tuple[str, bytes]]]:
    """(payload, [(keyid, signature)]) of an event envelope; raises MALFORMED_ENVELOPE or
    BAD_PAYLOAD_TYPE. The signers' compact form is read without pydantic (module docstring)."""
    canonical = canonical_envelope(value, _EVENT_HEAD)
    if canonical is not None:
        payload, keyid, signature = canonical
        return payload, ((keyid, signature),)
    envelope = _parse_envelope(value)
    if envelope.payload_type != EVENT_PAYLOAD_TYPE:
        raise Rejected(Reason.BAD_PAYLOAD_TYPE, f"payloadType {envelope.payload_type!r}")
    return envelope.payload_bytes(), [(s.keyid, s.signature_bytes()) for s in envelope.signatures]


_EVENT_HEAD = envelope_head(EVENT_PAYLOAD_TYPE)


def _check_signature(payload: bytes, signatures: Sequence[tuple[str, bytes]],
                     keys: Mapping[str, KeyRecord], now: datetime,
                     agency_id: str | None) -> KeyRecord:
    """The key that signed: any active key of the topic's agency is enough, in any position.

    Keys of other agencies are tried only after the topic agency's keys, so that a record
    also signed by another agency is judged by its own agency's signature; a record signed
    only by another agency's key goes on to SOURCE_MISMATCH.
    """
    if len(signatures) == 1:  # what connectors send
        signed = _one_signature(payload, signatures[0], keys, now)
        if signed is not None:
            return signed
    known = [(signature, keys[keyid]) for keyid, signature in dict.fromkeys(signatures)
             if keyid in keys]
    if not known:
        ids = ", ".join(keyid or "(empty)" for keyid, _ in signatures)
        raise Rejected(Reason.UNKNOWN_KEY, f"keyid {ids}")
    known.sort(key=lambda pair: pair[1].agency_id != agency_id)
    usable = [(s, k) for s, k in known if not k.revoked_by(now)]
    if not usable:
        record = known[0][1]
        assert record.revoked_at is not None
        raise key_revoked(record.keyid, record.revoked_at)
    message = pae(EVENT_PAYLOAD_TYPE, payload)
    for signature, record in usable:
        if verify_signature(record.raw_public, signature, message):
            return record
    raise Rejected(Reason.BAD_SIGNATURE, f"keyid {usable[0][1].keyid}")


def _one_signature(payload: bytes, signature: tuple[str, bytes],
                   keys: Mapping[str, KeyRecord], now: datetime) -> KeyRecord | None:
    """The signer of a record with one signature by a known, active key that verifies;
    BAD_SIGNATURE when that key's signature does not verify (what the general path raises
    then, so a bad signature is not verified twice); None for an unknown or revoked key,
    which `_check_signature`'s general path then judges. It decides exactly as the general
    path decides with one signature, without its de-duplication, sorting and filtering
    (~2 µs; tests/unit/test_verification_fast_path.py compares the two)."""
    keyid, sig = signature
    record = keys.get(keyid)
    if record is None or record.revoked_by(now):
        return None
    if verify_signature(record.raw_public, sig, pae(EVENT_PAYLOAD_TYPE, payload)):
        return record
    raise Rejected(Reason.BAD_SIGNATURE, f"keyid {record.keyid}")


def _parse_event(payload: bytes) -> tuple[CloudEvent, EventTypeSpec | None]:
    """The event, and its type's spec when the fast path validated it with its data (an
    instance of its type's `typed_event_model`); otherwise only read as a JSON object."""
    try:
        document = loads_strict(payload)
    except StrictJsonError as exc:
        raise Rejected(Reason.MALFORMED_EVENT, str(exc)) from None
    typed = _typed_event(document, payload)
    if typed is not None:
        return typed
    try:
        return CloudEvent.model_validate_json(payload), None
    except ValidationError as exc:
        pointer, msg = first_error(exc)
        raise Rejected(Reason.MALFORMED_EVENT, f"{pointer}: {msg}") from None


def _typed_event(document: Any, payload: bytes) -> tuple[CloudEvent, EventTypeSpec] | None:
    """The event validated with its data by its type's model, and the type's spec; None when
    its type is not one of the catalogue's or anything in it is invalid (the general path
    then decides). The model fixes `type` to the spec's, so the spec is the one `_verify`
    would find from the event's type.

    Design decision (issue 14, session 9): the narrowed model is tried first. Its id
    (`CanonicalEventId`, what connectors write) and time (`InnerTime`) are subsets of the
    typed model's `EventId` and `BoundedTime` that pydantic-core checks without calling
    Python, with the same values, so what it accepts the typed model accepts alike; what it
    refuses (an id in another form, a time at the range's ends, anything invalid) the typed
    model then judges as before. The two Python validators and the Python datetime each hands
    them cost the typed model's validation about half its time (8.7 against 16.2 µs for a
    case.assessed event, timeit, a loaded machine)."""
    ce_type = document.get("type") if isinstance(document, dict) else None
    name = event_type_name(ce_type) if isinstance(ce_type, str) else None
    spec = EVENT_TYPES.get(name) if name else None
    if spec is None:
        return None
    try:
        return typed_event_model(spec.name, narrowed=True).model_validate_json(payload), spec
    except ValidationError:
        pass
    try:
        return typed_event_model(spec.name).model_validate_json(payload), spec
    except ValidationError:
        return None


def validate_data(spec: EventTypeSpec, data: Mapping[str, Any]) -> BaseModel:
    """Validate an event's data against its type's schema (strict JSON mode)."""
    try:
        return spec.model.model_validate_json(json.dumps(data))
    except ValidationError as exc:
        pointer, msg = first_error(exc, ("data",))
        raise Rejected(Reason.SCHEMA_INVALID, f"{pointer}: {msg}") from None


def verify_record(
    topic: str,
    key: bytes | None,
    value: bytes | None,
    registry: RegistrySnapshot,
    now: datetime,
) -> VerifiedEvent:
    """Verify one ingress record; raises Rejected with the first failing reason."""
    value = value or b""
    if len(value) > MAX_RECORD_BYTES:
        raise Rejected(Reason.TOO_LARGE, f"{len(value)} bytes > {MAX_RECORD_BYTES}",
                       readable_event_id(value))
    try:
        return _verify(topic, key, value, registry, now)
    except Rejected as rejection:
        raise rejection.with_event_id(readable_event_id(value)) from rejection


def _verify(
    topic: str, key: bytes | None, value: bytes, registry: RegistrySnapshot, now: datetime
) -> VerifiedEvent:
    payload, signatures = _read_envelope(value)
    topic_agency_id = topic_agency(topic)
    signer = _check_signature(payload, signatures, registry.keys, now, topic_agency_id)
    event, spec = _parse_event(payload)
    agency = event.agency
    if not topic_agency_id == signer.agency_id == (
            agency if event.source.startswith(SOURCE_PREFIX) else event.source):
        raise Rejected(
            Reason.SOURCE_MISMATCH,
            f"topic {topic}, source {event.source}, key of {signer.agency_id}",
        )
    if spec is None:
        name = event_type_name(event.type)
        spec = EVENT_TYPES.get(name) if name else None
    if spec is None:
        raise Rejected(Reason.UNKNOWN_TYPE, f"type {event.type!r}")
    if not registry.permits(signer.role, spec.name):
        raise Rejected(Reason.NOT_PERMITTED, f"{spec.name} not allowed for role {signer.role}")
    if key is None or key != event.subject.encode("utf-8"):
        shown = key.decode("utf-8", "replace") if key is not None else "(none)"
        raise Rejected(Reason.CASE_MISMATCH, f"key {shown!r} != subject {event.subject!r}")
    if type(event) is CloudEvent:  # not validated with its data by _parse_event's fast path
        validate_data(spec, event.data)
    event_time = event.time.astimezone(UTC)
    if event_time - now > MAX_CLOCK_SKEW:
        raise Rejected(Reason.CLOCK_SKEW, f"time {event.time.isoformat()} > now {now.isoformat()}")
    return VerifiedEvent(value, event, spec, signer.keyid, event.event_id, agency, event_time)
