"""C2SP signed notes: the note format, signing a note, and opening it with known keys.

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
from collections.abc import Iterable
from dataclasses import dataclass

from audit.errors import VerificationError
from audit.note_keys import NoteSigner, NoteVerifier, valid_key_name
from schemas.b64 import strict_b64decode

MAX_SIGNATURES = 100
"""Notes with more signature lines are rejected (the spec requires accepting at least 16)."""

_SIG_PREFIX = "— "


def _malformed(what_zh: str, what_en: str) -> VerificationError:
    return VerificationError(
        "malformed_note", f"签名注记格式错误：{what_zh}", f"malformed note: {what_en}"
    )


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
            raw = strict_b64decode(blob)
        except ValueError:
            raw = b""
        if not sep or not valid_key_name(name) or len(raw) < 5:
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
