"""C2SP tlog-checkpoint text (origin, tree size, root hash) and its signing as a signed note.

Spec: https://c2sp.org/tlog-checkpoint. The note text is::

    <origin>\\n<decimal tree size>\\n<base64 root hash>\\n[<extension line>\\n ...]

The hub's origin is ``<deployment>.linkage-hub/ledger`` and its key name matches it.
Parsing here is text only; signatures are handled by :mod:`audit.note`.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass

from audit.errors import VerificationError
from audit.merkle import EMPTY_ROOT, HASH_SIZE
from audit.note import open_note, sign_note
from audit.note_keys import NoteSigner, NoteVerifier
from schemas.b64 import strict_b64decode

__all__ = [
    "ORIGIN_SUFFIX",
    "Checkpoint",
    "open_checkpoint",
    "origin_for",
    "parse_checkpoint",
    "sign_checkpoint",
]

ORIGIN_SUFFIX = ".linkage-hub/ledger"
_MAX_SIZE = 2**64 - 1
_SIZE = re.compile(r"0|[1-9][0-9]*")


def origin_for(deployment: str) -> str:
    """The checkpoint origin (and hub key name) of a deployment."""
    origin = f"{deployment}{ORIGIN_SUFFIX}"
    if not deployment or any(c.isspace() or c == "+" for c in origin):
        raise ValueError(f"invalid deployment name {deployment!r}")
    return origin


def _bad(what_zh: str, what_en: str) -> VerificationError:
    return VerificationError(
        "malformed_checkpoint", f"检查点格式错误：{what_zh}", f"malformed checkpoint: {what_en}"
    )


def _line_ok(line: str) -> bool:
    return bool(line) and not any(ord(c) < 0x20 for c in line)


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed tree head: origin, tree size and RFC 9162 root hash."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _line_ok(self.origin):
            raise ValueError("origin must be a non-empty line")
        if not 0 <= self.size <= _MAX_SIZE:
            raise ValueError("tree size out of range")
        if len(self.root_hash) != HASH_SIZE:
            raise ValueError(f"root hash must be {HASH_SIZE} bytes")
        if self.size == 0 and self.root_hash != EMPTY_ROOT:
            raise ValueError("an empty tree has root SHA-256('')")
        if not all(_line_ok(e) for e in self.extensions):
            raise ValueError("extension lines must be non-empty lines")

    @property
    def root_b64(self) -> str:
        return base64.b64encode(self.root_hash).decode("ascii")

    def to_text(self) -> str:
        """The checkpoint note text, ending in a newline."""
        return "".join(
            f"{line}\n" for line in (self.origin, str(self.size), self.root_b64, *self.extensions)
        )

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Strictly parse checkpoint note text (no signatures)."""
        return parse_checkpoint(text)


def parse_checkpoint(text: str) -> Checkpoint:
    """Strictly parse checkpoint note text: exact decimal size, canonical base64 root."""
    if not text.endswith("\n"):
        raise _bad("必须以换行结尾", "must end in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise _bad("至少需要三行", "needs at least three lines")
    origin, size_s, root_s, *extensions = lines
    if not all(_line_ok(line) for line in lines):
        raise _bad("存在空行或控制字符", "empty line or control character")
    if not _SIZE.fullmatch(size_s) or int(size_s) > _MAX_SIZE:
        raise _bad("树大小不是规范的十进制数", "tree size is not a canonical decimal")
    try:
        root = strict_b64decode(root_s)
    except ValueError:
        root = b""
    if len(root) != HASH_SIZE:
        raise _bad(
            "根哈希不是 32 字节的标准 base64", "root hash is not 32 bytes of standard base64"
        )
    try:
        return Checkpoint(origin, int(size_s), root, tuple(extensions))
    except ValueError as exc:
        raise _bad(str(exc), str(exc)) from exc


def sign_checkpoint(checkpoint: Checkpoint, *signers: NoteSigner) -> str:
    """The checkpoint as a signed note (the hub signs with a key named after the origin)."""
    return sign_note(checkpoint.to_text(), *signers)


def open_checkpoint(
    note: str | bytes,
    verifiers: NoteVerifier | Iterable[NoteVerifier],
    *,
    origin: str | None = None,
) -> Checkpoint:
    """Verify a signed checkpoint note and parse it; optionally require its origin."""
    vs = [verifiers] if isinstance(verifiers, NoteVerifier) else list(verifiers)
    checkpoint = parse_checkpoint(open_note(note, vs).text)
    if origin is not None and checkpoint.origin != origin:
        raise VerificationError(
            "wrong_origin",
            f"检查点来源为 {checkpoint.origin}，应为 {origin}",
            f"checkpoint origin is {checkpoint.origin}, expected {origin}",
        )
    return checkpoint
