"""C2SP signed notes with Ed25519 keys, and C2SP tlog-cosignature/v1 (timestamped) cosignatures.

Specs:
  * https://c2sp.org/signed-note (note format, key IDs, verifier keys ``name+hexid+base64``)
  * https://c2sp.org/tlog-cosignature (signature type 0x04, ``cosignature/v1`` message)

A note is ``text`` (ending in a newline), a blank line, then lines
``"— <key name> base64(4-byte key ID || signature)"``. Key ID =
``SHA-256(name || 0x0A || type || public key)[:4]``. Opening a note verifies every
signature from a known (name, key ID) and ignores unknown ones; a bad signature from a
known key rejects the whole note, and so does the absence of any known signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from audit.errors import VerificationError

__all__ = [
    "MAX_SIGNATURES",
    "SIG_COSIGNATURE_V1",
    "SIG_ED25519",
    "CosignatureSigner",
    "CosignatureVerifier",
    "Ed25519Signer",
    "Ed25519Verifier",
    "Note",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "cosignature_message",
    "key_id",
    "open_note",
    "parse_note",
    "parse_vkey",
    "sign_note",
    "signature_line",
]

SIG_ED25519 = 0x01
"""Signature type byte of plain Ed25519 note signatures (signed-note)."""
SIG_COSIGNATURE_V1 = 0x04
"""Signature type byte of timestamped Ed25519 cosignatures (tlog-cosignature)."""
MAX_SIGNATURES = 100
"""Notes with more signature lines are rejected (the spec requires accepting at least 16)."""

_SIG_PREFIX = "— "
_COSIG_HEADER = "cosignature/v1\n"
_MAX_TIMESTAMP = 2**63 - 1
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")


def _malformed(what_zh: str, what_en: str) -> VerificationError:
    return VerificationError(
        "malformed_note", f"签名注记格式错误：{what_zh}", f"malformed note: {what_en}"
    )


def _valid_name(name: str) -> bool:
    return (
        bool(name)
        and "+" not in name
        and not any(c.isspace() or ord(c) < 0x20 or c == "\x7f" for c in name)
    )


def _check_name(name: str) -> str:
    if not _valid_name(name):
        raise ValueError(f"invalid key name {name!r}: must be non-empty, no spaces, no '+'")
    return name


def _b64decode(s: str) -> bytes:
    """Strict standard base64 (RFC 4648 §4): alphabet, padding and canonical form."""
    try:
        raw = base64.b64decode(s.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise ValueError("not standard base64") from exc
    if base64.b64encode(raw).decode("ascii") != s:
        raise ValueError("non-canonical base64")
    return raw


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
    raw = _b64decode(parts[4])
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
    if len(parts) != 3 or not _HEX8.fullmatch(parts[1]) or not _valid_name(parts[0]):
        raise ValueError("malformed verifier key")
    name = parts[0]
    raw = _b64decode(parts[2])
    if len(raw) != 33:
        raise ValueError("verifier key is not an Ed25519 key")
    if key_id(name, raw[0], raw[1:]).hex() != parts[1].lower():
        raise ValueError("verifier key has the wrong key ID")
    if raw[0] == SIG_ED25519:
        return Ed25519Verifier(name, raw[1:])
    if raw[0] == SIG_COSIGNATURE_V1:
        return CosignatureVerifier(name, raw[1:])
    raise ValueError(f"unsupported verifier key type 0x{raw[0]:02x}")


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key ID, and the signature bytes after the ID."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        blob = base64.b64encode(self.key_id + self.signature).decode("ascii")
        return f"{_SIG_PREFIX}{self.name} {blob}\n"


@dataclass(frozen=True)
class Note:
    """A parsed note: ``text`` (ends in newline) and its signatures.

    After :func:`open_note`, ``sigs`` are the verified signatures and ``unverified_sigs``
    those from unknown keys; after :func:`parse_note` every signature is unverified.
    """

    text: str
    sigs: tuple[NoteSignature, ...]
    unverified_sigs: tuple[NoteSignature, ...]

    def to_text(self) -> str:
        lines = "".join(s.line() for s in (*self.sigs, *self.unverified_sigs))
        return f"{self.text}\n{lines}"


def _check_chars(s: str) -> None:
    if any(ord(c) < 0x20 and c != "\n" for c in s):
        raise _malformed("含有控制字符", "contains control characters")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in s):
        raise _malformed("不是有效的 UTF-8", "not valid UTF-8")


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise _malformed("正文必须以换行结尾", "text must end in a newline")
    _check_chars(text)


def signature_line(text: str, signer: NoteSigner) -> str:
    """The line ``"— name base64(keyid || sig)\\n"`` that ``signer`` adds to a note of ``text``."""
    _check_text(text)
    return NoteSignature(signer.name, signer.key_id, signer.sign(text)).line()


def sign_note(text: str, *signers: NoteSigner) -> str:
    """Sign ``text`` with each signer, returning the complete signed note."""
    if not signers:
        raise ValueError("a signed note needs at least one signer")
    return text + "\n" + "".join(signature_line(text, s) for s in signers)


def parse_note(note: str | bytes) -> Note:
    """Split a signed note into text and signature lines, strictly, without verifying."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _malformed("不是有效的 UTF-8", "not valid UTF-8") from exc
    _check_chars(note)
    split = note.rfind("\n\n")
    if split < 0:
        raise _malformed("缺少签名块", "no signature block")
    text, block = note[: split + 1], note[split + 2 :]
    if not block or not block.endswith("\n"):
        raise _malformed("签名块必须以换行结尾", "signature block must end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise _malformed("签名过多", "too many signatures")
    sigs: list[NoteSignature] = []
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise _malformed("签名行必须以 “— ” 开头", "signature line must start with '— '")
        name, sep, blob = line[len(_SIG_PREFIX) :].partition(" ")
        try:
            raw = _b64decode(blob)
        except ValueError:
            raw = b""
        if not sep or not _valid_name(name) or len(raw) < 5:
            raise _malformed("签名行无效", "invalid signature line")
        sigs.append(NoteSignature(name, raw[:4], raw[4:]))
    return Note(text, (), tuple(sigs))


def open_note(note: str | bytes, verifiers: Iterable[NoteVerifier]) -> Note:
    """Parse ``note`` and verify it against ``verifiers`` (matched by key name and key ID).

    Raises :class:`VerificationError` if a known key's signature is bad (``bad_signature``)
    or if no known key signed the note (``unknown_signer``).
    """
    parsed = parse_note(note)
    known = {(v.name, v.key_id): v for v in verifiers}
    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    seen: set[tuple[str, bytes]] = set()
    for sig in parsed.unverified_sigs:
        ident = (sig.name, sig.key_id)
        verifier = known.get(ident)
        if verifier is None:
            if ident not in seen:
                unverified.append(sig)
        elif not verifier.verify(parsed.text, sig.signature):
            raise VerificationError(
                "bad_signature",
                f"密钥 {sig.name}+{sig.key_id.hex()} 的签名无效",
                f"invalid signature from key {sig.name}+{sig.key_id.hex()}",
            )
        elif ident not in seen:
            verified.append(sig)
        seen.add(ident)
    if not verified:
        raise VerificationError(
            "unknown_signer",
            "注记没有受信任密钥的签名",
            "note has no signature from a trusted key",
        )
    return Note(parsed.text, tuple(verified), tuple(unverified))
