"""The ingress worker's cheaper codecs (issue 14, session 9) equal the careful ones they stand
in for, on valid and hostile input alike: the signers' envelope read with pybase64 and the
`=` found in place (schemas/dsse.py)."""

from __future__ import annotations

import base64
import binascii

import pybase64
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.b64 import dsse_b64decode
from schemas.dsse import EVENT_PAYLOAD_TYPE, Envelope, _padded, canonical_envelope, envelope_head

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
