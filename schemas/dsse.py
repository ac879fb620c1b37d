"""DSSE v1 envelope wire format and its pre-authentication encoding (PAE).

Spec: https://github.com/secure-systems-lab/dsse/blob/master/envelope.md and protocol.md.

Two readers: the `Envelope` model reads any envelope; `canonical_envelope` reads, without
pydantic, only the one form this project's signers write (schemas/envelope_signer.py),
which is what the hub's hot paths see (the ingress worker reads every agency's event this
way, a connector every receipt). Anything else it declines, and the caller takes the model,
so the outcome for unusual or hostile bytes is the model's (tests/unit/test_connector_wire.py
and tests/unit/test_verification_fast_path.py check the two readers against each other).
"""

from __future__ import annotations

import base64
import binascii
import json

from pybase64 import b64decode
from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.b64 import dsse_b64decode

EVENT_PAYLOAD_TYPE = "application/cloudevents+json"
RECEIPT_PAYLOAD_TYPE = "application/vnd.linkage.receipt+json"
ALERT_PAYLOAD_TYPE = "application/vnd.linkage.alert+json"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSEv1 SP LEN(type) SP type SP LEN(body) SP body, lengths in ASCII decimal."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


class EnvelopeSignature(BaseModel):
    """One signature of a DSSE envelope."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    keyid: str = Field(default="")
    sig: str

    @field_validator("sig")
    @classmethod
    def _sig_is_base64(cls, value: str) -> str:
        try:
            dsse_b64decode(value)
        except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
            raise ValueError("sig is not base64 (standard or URL-safe)") from exc
        return value

    def signature_bytes(self) -> bytes:
        return dsse_b64decode(self.sig)


class Envelope(BaseModel):
    """A DSSE envelope: payloadType, base64 payload, one or more signatures."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    payload_type: str = Field(alias="payloadType")
    payload: str
    signatures: list[EnvelopeSignature] = Field(min_length=1)

    @field_validator("payload")
    @classmethod
    def _payload_is_base64(cls, value: str) -> str:
        try:
            dsse_b64decode(value)
        except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
            raise ValueError("payload is not base64 (standard or URL-safe)") from exc
        return value

    def payload_bytes(self) -> bytes:
        return dsse_b64decode(self.payload)

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode("utf-8")

    @classmethod
    def build(cls, payload_type: str, payload: bytes, keyid: str, sig: bytes) -> Envelope:
        # Built, not validated: the base64 is b64encode's own output, valid by construction,
        # and decoding it again cost a signer (every receipt, every alert) ~15 % of its time.
        return cls.model_construct(
            payload_type=payload_type,
            payload=base64.b64encode(payload).decode("ascii"),
            signatures=[EnvelopeSignature.model_construct(
                keyid=keyid, sig=base64.b64encode(sig).decode("ascii"))],
        )


def json_string(text: str) -> bytes:
    """A JSON string as pydantic writes it (UTF-8, not \\u-escaped)."""
    return json.dumps(text, ensure_ascii=False).encode("utf-8")


def envelope_head(payload_type: str) -> bytes:
    """The compact JSON of an envelope up to its payload's text, as pydantic writes it."""
    return b'{"payloadType":%b,"payload":"' % json_string(payload_type)


_KEYID = b'","signatures":[{"keyid":"'
_SIG = b'","sig":"'
_TAIL = b'"}]}'
_SIG_LENGTH = 88
"""One Ed25519 signature (64 bytes) in padded standard base64."""


def canonical_envelope(value: bytes, head: bytes) -> tuple[bytes, str, bytes] | None:
    """(payload, keyid, signature) of an envelope in the signers' own form, `head` being
    `envelope_head(payload_type)`; None for any other bytes, which the caller must then read
    with the `Envelope` model.

    The signers' form, as pydantic writes it: no white space, no escapes, the members in the
    model's order, one signature, payload and signature in padded standard base64 (checked
    by binascii's strict mode), a key id of ASCII letters and digits. Each part is located
    by the literal text around it; the two base64 fields and the key id cannot contain a
    quote, so the first quote after each opening one closes it. What is accepted here the
    model reads alike: the same payload type, payload bytes, key id and signature bytes.
    """
    if not value.startswith(head) or not value.endswith(_TAIL):
        return None
    payload_end = value.find(_KEYID, len(head))
    keyid_end = value.find(_SIG, payload_end + len(_KEYID))
    sig_start = keyid_end + len(_SIG)
    if payload_end < 0 or keyid_end < 0 or len(value) - len(_TAIL) - sig_start != _SIG_LENGTH:
        return None
    keyid = value[payload_end + len(_KEYID):keyid_end]
    if keyid and not (keyid.isascii() and keyid.isalnum()):
        return None
    payload, signature = value[len(head):payload_end], value[sig_start:-len(_TAIL)]
    if not (_padded(payload) and _padded(signature)):
        return None
    try:
        return (b64decode(payload, validate=True), keyid.decode("ascii"),
                b64decode(signature, validate=True))
    except binascii.Error:
        return None


_EQUALS = ord("=")


def _padded(text: bytes) -> bool:
    """Whole quads with at most two `=` at the end: what strict mode alone lets through
    otherwise (`QUJD=`, `QUJD====`) the DSSE reader refuses.

    Design decision (issue 14, session 9): `=` is looked for as an int, in place:
    `b"=" not in text[:-2]` copied the payload and first tried `b"="` as an int, which
    raised (and cleared) a TypeError inside bytes.__contains__ (~1,800 instructions, twice
    a record). The decode is pybase64's (SIMD) with `validate=True`, which for padded text
    accepts and refuses what binascii's strict mode does (tests/unit/test_connector_wire.py
    compares the two with hypothesis): ~5,000 instructions for an event's payload against
    binascii's ~14,600."""
    return len(text) % 4 == 0 and text.find(_EQUALS, 0, -2) < 0
