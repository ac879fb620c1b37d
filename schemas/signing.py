"""Ed25519 keys, key ids and DSSE envelope signing/verification (contract sections 1-2).

The one seam for the hub's Ed25519 (design decision, issue 14): keys are read, written and
identified through `cryptography` (PEM, PKCS#8, SubjectPublicKeyInfo), while signing and
verifying go through libsodium (PyNaCl's bindings), which on this machine verifies in ~54 µs
against OpenSSL's ~104 and signs in ~22 against ~33: per accepted event the hub verifies
once and signs a receipt, the connector signs once and verifies the receipt. Ed25519
signing is deterministic, so the signatures are the same bytes either way
(tests/unit/test_signing.py). Verification is RFC 8032's, with libsodium's stricter edges:
besides a non-canonical S (refused by both), it refuses public keys of small order and
non-canonical encodings of R and A, which no honest key or signer produces
(docs/contract-notes.md, "Ed25519").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path

import nacl.bindings
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.exceptions import BadSignatureError
from pydantic import BaseModel

from schemas.dsse import Envelope, pae
from schemas.events import Role


class KeyFormatError(ValueError):
    """A PEM file that is not an Ed25519 key of the expected kind."""


def raw_public_bytes(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def keyid_of(public_key: Ed25519PublicKey) -> str:
    """Lowercase hex SHA-256 of the 32 raw public-key bytes."""
    return hashlib.sha256(raw_public_bytes(public_key)).hexdigest()


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def private_pem(private_key: Ed25519PrivateKey) -> str:
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def load_public_pem(pem: str | bytes) -> Ed25519PublicKey:
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyFormatError("不是 PEM 公钥 / not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFormatError("公钥不是 Ed25519 / public key is not Ed25519")
    return key


def require_prime_order(public_key: Ed25519PublicKey) -> Ed25519PublicKey:
    """The key itself when it is a canonical point of the prime-order subgroup (every key an
    Ed25519 key generator makes); KeyFormatError otherwise. Registering a key checks this:
    verification refuses every signature under a small-order key (docs/contract-notes.md,
    "Ed25519"), so such a key is refused where an operator can see why."""
    if not nacl.bindings.crypto_core_ed25519_is_valid_point(raw_public_bytes(public_key)):
        raise KeyFormatError("公钥不是素数阶子群上的有效点（小阶或非规范编码）/ public key is not a "
                             "valid point of the prime-order subgroup (small order or "
                             "non-canonical)")
    return public_key


def load_private_pem(pem: str | bytes) -> Ed25519PrivateKey:
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFormatError("不是 PKCS#8 PEM 私钥 / not a PKCS#8 PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFormatError("私钥不是 Ed25519 / private key is not Ed25519")
    return key


@dataclass(frozen=True)
class SigningKey:
    """A private key with its key id, able to sign DSSE envelopes."""

    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: str | bytes) -> SigningKey:
        return cls(load_private_pem(pem))

    @classmethod
    def from_file(cls, path: str | Path) -> SigningKey:
        """The private key in a PKCS#8 PEM file."""
        return cls.from_pem(Path(path).read_bytes())

    # Cached: the hub signs every receipt, and deriving the public key and hashing it cost
    # ~8 µs a signature (2 % of the ingress worker's CPU). cached_property writes the
    # instance's __dict__ directly, which a frozen dataclass allows.
    @cached_property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @cached_property
    def keyid(self) -> str:
        return keyid_of(self.public_key)

    @cached_property
    def _sodium_secret(self) -> bytes:
        """libsodium's 64-byte secret key (seed + public key) of this key."""
        seed = self.private_key.private_bytes(serialization.Encoding.Raw,
                                              serialization.PrivateFormat.Raw,
                                              serialization.NoEncryption())
        return nacl.bindings.crypto_sign_seed_keypair(seed)[1]

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of message."""
        return nacl.bindings.crypto_sign(message, self._sodium_secret)[:SIGNATURE_BYTES]

    def sign_envelope(self, payload_type: str, payload: bytes) -> Envelope:
        """A DSSE envelope with one Ed25519 signature over PAE(payload_type, payload)."""
        return Envelope.build(payload_type, payload, self.keyid, self.sign(pae(payload_type, payload)))

    def sign_model(self, payload_type: str, model: BaseModel) -> bytes:
        """The JSON bytes of a DSSE envelope over a pydantic model's JSON (receipts, alerts)."""
        payload = model.model_dump_json().encode("utf-8")
        return self.sign_envelope(payload_type, payload).to_json_bytes()

    def write_pair(self, directory: Path, name: str) -> tuple[Path, Path]:
        """Write `<name>.key.pem` (mode 0600) and `<name>.pub.pem` into directory."""
        directory.mkdir(parents=True, exist_ok=True)
        key_path = directory / f"{name}.key.pem"
        pub_path = directory / f"{name}.pub.pem"
        key_path.touch(mode=0o600, exist_ok=True)
        key_path.write_text(private_pem(self.private_key))
        pub_path.write_text(public_pem(self.public_key))
        return key_path, pub_path


SIGNATURE_BYTES = 64


def verify_signature(public_key: Ed25519PublicKey | bytes, signature: bytes,
                     message: bytes) -> bool:
    """True when signature is a valid Ed25519 signature of message by public_key (a key, or
    its 32 raw bytes: `KeyRecord.raw_public` keeps them for the ingress path)."""
    if len(signature) != SIGNATURE_BYTES:  # libsodium reads the first 64 bytes as the signature
        return False
    raw = public_key if isinstance(public_key, bytes) else raw_public_bytes(public_key)
    try:
        nacl.bindings.crypto_sign_open(signature + message, raw)
    except BadSignatureError:
        return False
    return True


def verify_envelope_signature(
    envelope: Envelope, signature: bytes, public_key: Ed25519PublicKey | bytes
) -> bool:
    """True when `signature` is a valid Ed25519 signature over the envelope's PAE."""
    return verify_signature(public_key, signature, pae(envelope.payload_type, envelope.payload_bytes()))


@dataclass(frozen=True)
class KeyRecord:
    """What the registry knows of one agency key; `added_at` is None only where unknown
    (a ledger export written before key histories carried it)."""

    keyid: str
    agency_id: str
    role: Role
    public_key: Ed25519PublicKey
    revoked_at: datetime | None = None
    added_at: datetime | None = None

    @cached_property
    def raw_public(self) -> bytes:
        """The key's 32 raw bytes, derived once (each verify would derive them again)."""
        return raw_public_bytes(self.public_key)

    def revoked_by(self, when: datetime) -> bool:
        return self.revoked_at is not None and self.revoked_at <= when
