"""DSSE envelopes signed and written as JSON bytes directly (connectors' events, hub alerts).

Around the Ed25519 signature, pydantic's general-purpose envelope model cost about as much
again (issue 14). `EnvelopeSigner` writes exactly `SigningKey.sign_envelope(...).to_json_bytes()`,
byte for byte, with the key id and the constant parts of the JSON and of DSSE's PAE computed
once per key (tests/unit/test_connector_wire.py checks it against the pydantic path with
hypothesis). Moved here from connectors/wire.py so the hub's rules runner signs alerts and the
ingress worker receipts with it (streams may not import connectors).

Design decision (issue 14, session 8): the base64 is pybase64's (SIMD), the same standard
padded text as `base64.b64encode` (tests/unit/test_connector_wire.py): CPython 3.11's
encoder loops a byte at a time, ~23,500 instructions for a 1.2 KB alert payload against
~3,700 (callgrind), ~6 % of signing an alert. The signature stays libsodium's (PyNaCl): at
that payload OpenSSL's Ed25519 (`cryptography`) took ~501,000 instructions a signature
against libsodium's ~333,000, and 36-42 µs of CPU against 24-29 (schemas/signing.py).
"""

from __future__ import annotations

from pybase64 import b64encode

from schemas.dsse import envelope_head, json_string
from schemas.signing import SigningKey


class EnvelopeSigner:
    """DSSE envelopes of one payload type signed by one key, as JSON bytes."""

    def __init__(self, key: SigningKey, payload_type: str) -> None:
        self._sign = key.sign
        type_bytes = payload_type.encode("utf-8")
        self._pae_head = b"DSSEv1 %d %b " % (len(type_bytes), type_bytes)
        self._head = envelope_head(payload_type)
        self._middle = b'","signatures":[{"keyid":%b,"sig":"' % json_string(key.keyid)

    def __call__(self, payload: bytes) -> bytes:
        signature = self._sign(b"%b%d %b" % (self._pae_head, len(payload), payload))
        return b"%b%b%b%b\"}]}" % (self._head, b64encode(payload), self._middle,
                                   b64encode(signature))
