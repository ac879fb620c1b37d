"""DSSE v1 envelope wire format and its pre-authentication encoding (PAE).

Spec: https://github.com/secure-systems-lab/dsse/blob/master/envelope.md and protocol.md.
"""

from __future__ import annotations

import base64
import binascii

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
