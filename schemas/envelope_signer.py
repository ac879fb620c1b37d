"""DSSE envelopes signed and written as JSON bytes directly (connectors' events, hub alerts).

Around the Ed25519 signature, pydantic's general-purpose envelope model cost about as much
again (issue 14). `EnvelopeSigner` writes exactly `SigningKey.sign_envelope(...).to_json_bytes()`,
byte for byte, with the key id and the constant parts of the JSON and of DSSE's PAE computed
once per key (tests/unit/test_connector_wire.py checks it against the pydantic path with
hypothesis). Moved here from connectors/wire.py so the hub's rules runner signs alerts and the
ingress worker receipts with it (streams may not import connectors).
"""

from __future__ import annotations

import base64

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
        return b"%b%b%b%b\"}]}" % (self._head, base64.b64encode(payload), self._middle,
                                   base64.b64encode(signature))
