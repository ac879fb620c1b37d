"""Keys of C2SP signed notes: key IDs, verifier keys (vkeys), Ed25519 signers and verifiers.

Specs: https://c2sp.org/signed-note (key IDs, ``name+hexid+base64`` verifier keys) and
https://c2sp.org/tlog-cosignature (signature type 0x04, the ``cosignature/v1`` message).
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from schemas.b64 import strict_b64decode

SIG_ED25519 = 0x01
"""Signature type byte of plain Ed25519 note signatures (signed-note)."""
SIG_COSIGNATURE_V1 = 0x04
"""Signature type byte of timestamped Ed25519 cosignatures (tlog-cosignature)."""

_COSIG_HEADER = "cosignature/v1\n"
_MAX_TIMESTAMP = 2**63 - 1
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")


def valid_key_name(name: str) -> bool:
    return (
        bool(name)
        and "+" not in name
        and not any(c.isspace() or ord(c) < 0x20 or c == "\x7f" for c in name)
    )


def _check_name(name: str) -> str:
    if not valid_key_name(name):
        raise ValueError(f"invalid key name {name!r}: must be non-empty, no spaces, no '+'")
    return name


def key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """4-byte key ID: ``SHA-256(name || 0x0A || sig_type || public_key)[:4]``."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


def cosignature_message(checkpoint_text: str, timestamp: int) -> bytes:
    """The message an Ed25519 cosigner signs: header, time line, then the checkpoint text."""
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise ValueError("cosignature timestamp out of range")
    return f"{_COSIG_HEADER}time {timestamp}\n{checkpoint_text}".encode()


@runtime_checkable
class NoteSigner(Protocol):
    """Signs note text; ``sign`` returns the signature bytes that follow the key ID."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def sign(self, text: str) -> bytes: ...


@runtime_checkable
class NoteVerifier(Protocol):
    """Checks a signature (the bytes after the key ID) over note text."""

    @property
    def name(self) -> str: ...

    @property
    def key_id(self) -> bytes: ...

    def verify(self, text: str, signature: bytes) -> bool: ...


class _Ed25519Key:
    """Shared parts of the Ed25519-based verifiers: name, raw key, key ID, vkey encoding."""

    sig_type: int = SIG_ED25519

    def __init__(self, name: str, public_key: bytes) -> None:
        if len(public_key) != 32:
            raise ValueError("Ed25519 public key must be 32 bytes")
        self._name = _check_name(name)
        self._public_key = public_key
        self._key = Ed25519PublicKey.from_public_bytes(public_key)
        self._key_id = key_id(name, self.sig_type, public_key)

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> bytes:
        return self._key_id

    @property
    def public_key(self) -> bytes:
        return self._public_key

    def vkey(self) -> str:
        """Verifier key for publishing: ``name+hexkeyid+base64(type || pubkey)``."""
        material = base64.b64encode(bytes([self.sig_type]) + self._public_key).decode("ascii")
        return f"{self._name}+{self._key_id.hex()}+{material}"

    def _verify_raw(self, message: bytes, signature: bytes) -> bool:
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.vkey()!r})"


class Ed25519Verifier(_Ed25519Key):
    """Verifier for plain Ed25519 note signatures (type 0x01)."""

    def verify(self, text: str, signature: bytes) -> bool:
        return len(signature) == 64 and self._verify_raw(text.encode(), signature)


class CosignatureVerifier(_Ed25519Key):
    """Verifier for tlog-cosignature/v1 Ed25519 cosignatures (type 0x04)."""

    sig_type = SIG_COSIGNATURE_V1

    @staticmethod
    def timestamp(signature: bytes) -> int:
        """The POSIX timestamp inside a cosignature (the bytes after the key ID)."""
        if len(signature) != 72:
            raise ValueError("cosignature must be 8 + 64 bytes")
        return int.from_bytes(signature[:8], "big")

    def verify(self, text: str, signature: bytes) -> bool:
        if len(signature) != 72:
            return False
        ts = int.from_bytes(signature[:8], "big")
        if ts > _MAX_TIMESTAMP:
            return False
        return self._verify_raw(cosignature_message(text, ts), signature[8:])


class _Ed25519SignerBase:
    """Shared parts of the signers: name, private key, matching verifier, key strings."""

    def __init__(self, private_key: Ed25519PrivateKey, verifier: _Ed25519Key) -> None:
        self._private_key = private_key
        self._key = verifier

    @property
    def name(self) -> str:
        return self._key.name

    @property
    def key_id(self) -> bytes:
        return self._key.key_id

    @property
    def public_key(self) -> bytes:
        return self._key.public_key

    def vkey(self) -> str:
        """The verifier key to publish for this signer."""
        return self._key.vkey()

    def skey(self) -> str:
        """Private key string ``PRIVATE+KEY+name+hexkeyid+base64(type || seed)`` (keep secret)."""
        seed = self._private_key.private_bytes_raw()
        material = base64.b64encode(bytes([self._key.sig_type]) + seed).decode("ascii")
        return f"PRIVATE+KEY+{self.name}+{self.key_id.hex()}+{material}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.vkey()!r})"


def _now() -> int:
    return int(time.time())


def _public(private_key: Ed25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes_raw()


def _parse_skey(skey: str, sig_type: int) -> tuple[str, Ed25519PrivateKey]:
    parts = skey.split("+", 4)  # the base64 key material may itself contain "+"
    if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"] or not _HEX8.fullmatch(parts[3]):
        raise ValueError("malformed private key string")
    name = _check_name(parts[2])
    raw = strict_b64decode(parts[4])
    if len(raw) != 33 or raw[0] != sig_type:
        raise ValueError("private key string is not an Ed25519 key of the expected type")
    private_key = Ed25519PrivateKey.from_private_bytes(raw[1:])
    if key_id(name, sig_type, _public(private_key)).hex() != parts[3].lower():
        raise ValueError("private key string has the wrong key ID")
    return name, private_key


class Ed25519Signer(_Ed25519SignerBase):
    """Signs notes with Ed25519 (type 0x01); the hub's checkpoint signer."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self._verifier = Ed25519Verifier(name, _public(private_key))
        super().__init__(private_key, self._verifier)

    @classmethod
    def generate(cls, name: str) -> Ed25519Signer:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Ed25519Signer:
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_skey(cls, skey: str) -> Ed25519Signer:
        return cls(*_parse_skey(skey, SIG_ED25519))

    def verifier(self) -> Ed25519Verifier:
        return self._verifier

    def sign(self, text: str) -> bytes:
        return self._private_key.sign(text.encode())


class CosignatureSigner(_Ed25519SignerBase):
    """Makes tlog-cosignature/v1 cosignatures (type 0x04), timestamped by ``clock``."""

    def __init__(
        self,
        name: str,
        private_key: Ed25519PrivateKey,
        clock: Callable[[], int] = _now,
    ) -> None:
        self._verifier = CosignatureVerifier(name, _public(private_key))
        super().__init__(private_key, self._verifier)
        self._clock = clock

    @classmethod
    def generate(cls, name: str, clock: Callable[[], int] = _now) -> CosignatureSigner:
        return cls(name, Ed25519PrivateKey.generate(), clock)

    @classmethod
    def from_seed(
        cls, name: str, seed: bytes, clock: Callable[[], int] = _now
    ) -> CosignatureSigner:
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed), clock)

    @classmethod
    def from_skey(cls, skey: str, clock: Callable[[], int] = _now) -> CosignatureSigner:
        return cls(*_parse_skey(skey, SIG_COSIGNATURE_V1), clock)

    def verifier(self) -> CosignatureVerifier:
        return self._verifier

    def sign_at(self, text: str, timestamp: int) -> bytes:
        """Cosign ``text`` (a checkpoint body) as of ``timestamp``: 8-byte time || signature."""
        sig = self._private_key.sign(cosignature_message(text, timestamp))
        return timestamp.to_bytes(8, "big") + sig

    def sign(self, text: str) -> bytes:
        return self.sign_at(text, self._clock())


def parse_vkey(vkey: str) -> Ed25519Verifier | CosignatureVerifier:
    """Parse a published verifier key ``name+hexkeyid+base64(type || pubkey)``.

    Accepts type 0x01 (note signatures) and 0x04 (cosignatures); the key ID must match.
    """
    parts = vkey.split("+", 2)  # the base64 key material may itself contain "+"
    if len(parts) != 3 or not _HEX8.fullmatch(parts[1]) or not valid_key_name(parts[0]):
        raise ValueError("malformed verifier key")
    name = parts[0]
    raw = strict_b64decode(parts[2])
    if len(raw) != 33:
        raise ValueError("verifier key is not an Ed25519 key")
    if key_id(name, raw[0], raw[1:]).hex() != parts[1].lower():
        raise ValueError("verifier key has the wrong key ID")
    if raw[0] == SIG_ED25519:
        return Ed25519Verifier(name, raw[1:])
    if raw[0] == SIG_COSIGNATURE_V1:
        return CosignatureVerifier(name, raw[1:])
    raise ValueError(f"unsupported verifier key type 0x{raw[0]:02x}")
