"""DSSE PAE and Ed25519 signing checked against the specs and independent implementations."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st
from nacl.signing import SigningKey as NaclSigningKey
from securesystemslib import dsse as sslib_dsse
from securesystemslib.signer import CryptoSigner, SSlibKey

from schemas.dsse import EVENT_PAYLOAD_TYPE, Envelope, pae
from schemas.signing import (
    SigningKey,
    keyid_of,
    load_private_pem,
    load_public_pem,
    private_pem,
    public_pem,
    raw_public_bytes,
    verify_envelope_signature,
    verify_signature,
)


def test_pae_matches_the_dsse_spec_example() -> None:
    # secure-systems-lab/dsse protocol.md, "Test vector".
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


@given(st.text(max_size=40), st.binary(max_size=200))
def test_pae_lengths_are_byte_lengths(payload_type: str, payload: bytes) -> None:
    encoded = pae(payload_type, payload)
    type_bytes = payload_type.encode()
    assert encoded == b"DSSEv1 " + str(len(type_bytes)).encode() + b" " + type_bytes + b" " + (
        str(len(payload)).encode() + b" " + payload
    )


# RFC 8032 section 7.1, TEST 1 and TEST 2.
RFC8032 = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
]


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC8032)
def test_ed25519_rfc8032_vectors(secret: str, public: str, message: str, signature: str) -> None:
    key = SigningKey(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret)))
    assert key.sign(bytes.fromhex(message)).hex() == signature
    import hashlib

    assert key.keyid == hashlib.sha256(bytes.fromhex(public)).hexdigest()


def test_pem_round_trip_and_keyid() -> None:
    key = SigningKey.generate()
    again = load_private_pem(private_pem(key.private_key))
    assert keyid_of(again.public_key()) == key.keyid
    assert keyid_of(load_public_pem(public_pem(key.public_key))) == key.keyid
    assert private_pem(key.private_key).startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8
    assert public_pem(key.public_key).startswith("-----BEGIN PUBLIC KEY-----")  # SPKI


def test_envelope_signed_by_pynacl_verifies() -> None:
    nacl_key = NaclSigningKey.generate()
    payload = b'{"specversion":"1.0"}'
    sig = nacl_key.sign(pae(EVENT_PAYLOAD_TYPE, payload)).signature
    envelope = Envelope.model_validate_json(json.dumps({
        "payloadType": EVENT_PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": "k", "sig": base64.b64encode(sig).decode()}],
    }))
    public = load_public_pem(
        b"-----BEGIN PUBLIC KEY-----\n"
        + base64.b64encode(bytes.fromhex("302a300506032b6570032100") + bytes(nacl_key.verify_key))
        + b"\n-----END PUBLIC KEY-----\n")
    assert verify_envelope_signature(envelope, envelope.signatures[0].signature_bytes(), public)
    forged = envelope.model_copy(update={"payload": base64.b64encode(b"{}").decode()})
    assert not verify_envelope_signature(forged, envelope.signatures[0].signature_bytes(), public)


def test_envelope_signed_by_securesystemslib_verifies_and_vice_versa() -> None:
    private = Ed25519PrivateKey.generate()
    signer = CryptoSigner(private)
    payload = b'{"id":"1"}'
    theirs = sslib_dsse.Envelope(payload, EVENT_PAYLOAD_TYPE, {})
    theirs.sign(signer)
    ours = Envelope.model_validate(theirs.to_dict())
    sig = ours.signatures[0].signature_bytes()
    assert verify_envelope_signature(ours, sig, private.public_key())

    mine = SigningKey(private).sign_envelope(EVENT_PAYLOAD_TYPE, payload)
    back = sslib_dsse.Envelope.from_dict(json.loads(mine.to_json_bytes()))
    sslib_key = SSlibKey.from_crypto(private.public_key(), keyid=SigningKey(private).keyid)
    assert back.verify([sslib_key], 1)


def test_malformed_base64_is_refused() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Envelope.model_validate({"payloadType": "x", "payload": "@@@", "signatures": [{"sig": "AA=="}]})
    with pytest.raises(ValidationError):
        Envelope.model_validate({"payloadType": "x", "payload": "", "signatures": []})


def test_key_files_load_from_a_str_or_a_path(tmp_path: Path) -> None:
    key = SigningKey.generate()
    key_path, pub_path = key.write_pair(tmp_path, "zs-aic")
    assert SigningKey.from_file(str(key_path)).keyid == key.keyid  # as the README example
    assert SigningKey.from_file(key_path).keyid == key.keyid
    assert keyid_of(load_public_pem(pub_path.read_bytes())) == key.keyid


# -- libsodium behind the seam, against OpenSSL (cryptography) --------------------------------

seeds = st.binary(min_size=32, max_size=32)
messages = st.binary(max_size=600)
ORDER_L = 2**252 + 27742317777372353535851937790883648493


def _openssl_accepts(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _with_big_s(signature: bytes) -> bytes:
    """The same signature with S + L: the same point equation, a non-canonical S."""
    s = int.from_bytes(signature[32:], "little") + ORDER_L
    return signature[:32] + (s % 2**256).to_bytes(32, "little")


@given(seeds, messages)
def test_signatures_are_the_bytes_openssl_makes(seed: bytes, message: bytes) -> None:
    openssl = Ed25519PrivateKey.from_private_bytes(seed)
    signature = SigningKey(openssl).sign(message)
    assert signature == openssl.sign(message)
    assert verify_signature(openssl.public_key(), signature, message)
    raw = raw_public_bytes(openssl.public_key())  # the raw form KeyRecord.raw_public passes
    assert verify_signature(raw, signature, message)
    assert not verify_signature(raw, signature, message + b"!")


@given(seeds, messages, st.data())
def test_verification_agrees_with_openssl_on_honest_keys(seed: bytes, message: bytes,
                                                         data: st.DataObject) -> None:
    key = Ed25519PrivateKey.from_private_bytes(seed)
    good = key.sign(message)
    flip = data.draw(st.integers(0, 8 * 64 - 1))
    flipped = bytearray(good)
    flipped[flip // 8] ^= 1 << (flip % 8)
    other = data.draw(st.binary(max_size=600).filter(lambda m: m != message))
    for signature, signed in [(good, message), (bytes(flipped), message), (good, other),
                              (good[:63], message), (good + b"\x00", message),
                              (good[:-1], message), (_with_big_s(good), message),
                              (data.draw(st.binary(min_size=64, max_size=64)), message)]:
        assert verify_signature(key.public_key(), signature, signed) == _openssl_accepts(
            key.public_key(), signature, signed), (signature.hex(), signed.hex())


def test_the_small_order_key_forgery_openssl_accepts_is_refused() -> None:
    """Public key = the identity point, signature R = identity, S = 0: it satisfies the
    cofactorless equation for every message, and OpenSSL accepts it; libsodium refuses
    small-order keys (docs/contract-notes.md, "Ed25519")."""
    identity = Ed25519PublicKey.from_public_bytes(b"\x01" + bytes(31))
    forgery = b"\x01" + bytes(31) + bytes(32)
    assert _openssl_accepts(identity, forgery, b"any event")
    assert not verify_signature(identity, forgery, b"any event")
