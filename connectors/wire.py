"""The connector's hot-path codecs: its signed event envelopes, and the hub's receipts read fast.

Per event the connector signs one envelope and checks one receipt; around those two Ed25519
operations, pydantic's general-purpose envelope model cost about as much again (issue 14:
the connector's CPU per event). These functions produce and accept exactly what the pydantic
paths of `schemas.dsse` do, byte for byte and outcome for outcome
(tests/unit/test_connector_wire.py checks them against each other with hypothesis):

* `EnvelopeSigner` (schemas/envelope_signer.py, where the rules runner signs alerts with it)
  writes `SigningKey.sign_envelope(...).to_json_bytes()`, with the key id and the constant
  parts of the JSON and of DSSE's PAE computed once per key.
* `canonical_receipt` recognises the one form the hub writes (pydantic's compact JSON of an
  envelope with one signature, standard padded base64) and returns its payload and
  signature; anything else, however valid, goes to the general
  pydantic reader, so an unusual receipt is judged exactly as before.
"""

from __future__ import annotations

import binascii

from schemas.dsse import RECEIPT_PAYLOAD_TYPE
from schemas.envelope_signer import EnvelopeSigner

_RECEIPT_HEAD = b'{"payloadType":"%b","payload":"' % RECEIPT_PAYLOAD_TYPE.encode("ascii")
_KEYID = b'","signatures":[{"keyid":"'
_SIG = b'","sig":"'
_TAIL = b'"}]}'
_SIG_LENGTH = 88
"""One Ed25519 signature (64 bytes) in padded standard base64."""


def canonical_receipt(value: bytes) -> tuple[bytes, bytes] | None:
    """(payload, signature) of a receipt envelope in the hub's own form; None for any other
    bytes (which the caller must then read with the general parser).

    The hub's form, as pydantic writes it: no white space, no escapes, the members in the
    model's order, one signature, payload and signature in padded standard base64 (checked
    by binascii's strict mode), a key id of ASCII letters and digits. Each part is located
    by the literal text around it; the two base64 fields and the key id cannot contain a
    quote, so the first quote after each opening one closes it.
    """
    if not value.startswith(_RECEIPT_HEAD) or not value.endswith(_TAIL):
        return None
    payload_end = value.find(_KEYID, len(_RECEIPT_HEAD))
    keyid_end = value.find(_SIG, payload_end + len(_KEYID))
    sig_start = keyid_end + len(_SIG)
    if payload_end < 0 or keyid_end < 0 or len(value) - len(_TAIL) - sig_start != _SIG_LENGTH:
        return None
    keyid = value[payload_end + len(_KEYID):keyid_end]
    if keyid and not (keyid.isascii() and keyid.isalnum()):
        return None
    payload, signature = value[len(_RECEIPT_HEAD):payload_end], value[sig_start:-len(_TAIL)]
    if not (_padded(payload) and _padded(signature)):
        return None
    try:
        return (binascii.a2b_base64(payload, strict_mode=True),
                binascii.a2b_base64(signature, strict_mode=True))
    except binascii.Error:
        return None


def _padded(text: bytes) -> bool:
    """Whole quads with at most two `=` at the end: what strict mode alone lets through
    otherwise (`QUJD=`, `QUJD====`) the DSSE reader refuses."""
    return len(text) % 4 == 0 and b"=" not in text[:-2]


__all__ = ["EnvelopeSigner", "canonical_receipt"]
