"""Transfer documents (SC Art 6): a content-addressed store behind a small port, the type
checked by content (magic bytes), a size limit, and the hash checked again at every read.

`DocumentStore` is the port (put / get by SHA-256); `FolderStore` keeps each document at
`<root>/<aa>/<sha256>` (default root LINKAGE_HOME/documents). A write goes to a temporary
file in `<root>/tmp`, is fsynced, then renamed into place: a crash leaves at most a stray
temporary file, never a half-written document under its hash. An object store implements
the same two methods. `get` re-hashes what it read: a file changed on disk is
`DocumentTampered`, never served.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024

# Content types accepted, by their leading bytes (never by the file's name).
MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)


class DocumentRefused(Exception):
    """An upload the store will not take; zh and en say why."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.code, self.zh, self.en = code, zh, en


class DocumentTampered(Exception):
    """The stored bytes no longer hash to their name."""


def sniff(content: bytes) -> str | None:
    """The media type of a PDF or image by its magic bytes, else None."""
    return next((media for magic, media in MAGIC if content.startswith(magic)), None)


def check_upload(content: bytes, limit: int = MAX_DOCUMENT_BYTES) -> str:
    """The media type of an acceptable upload, or DocumentRefused with the reason."""
    if not content:
        raise DocumentRefused("empty", "文件为空", "the file is empty")
    if len(content) > limit:
        raise DocumentRefused("too_large", f"文件超过 {limit // (1024 * 1024)} MiB 上限",
                              f"the file exceeds the {limit // (1024 * 1024)} MiB limit")
    media = sniff(content)
    if media is None:
        raise DocumentRefused("wrong_type", "只接受 PDF 或图片（PNG、JPEG、TIFF），按文件内容判断",
                              "only PDF or images (PNG, JPEG, TIFF) are accepted, judged by "
                              "the content")
    return media


@dataclass(frozen=True)
class StoredDocument:
    sha256: str
    media_type: str
    size: int


class DocumentStore(Protocol):
    """The port: content in, its SHA-256 out; a SHA-256 in, checked content out."""

    def put(self, content: bytes) -> StoredDocument: ...

    def get(self, sha256: str) -> bytes | None: ...


class FolderStore:
    """Documents as files named by their SHA-256 under one folder."""

    def __init__(self, root: Path, limit: int = MAX_DOCUMENT_BYTES) -> None:
        self.root = root
        self.limit = limit

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a lowercase hex SHA-256")
        return self.root / sha256[:2] / sha256

    def put(self, content: bytes) -> StoredDocument:
        media = check_upload(content, self.limit)
        digest = hashlib.sha256(content).hexdigest()
        final = self.path(digest)
        if final.exists() and self._intact(final, digest):
            return StoredDocument(digest, media, len(content))
        staging = self.root / "tmp"
        staging.mkdir(parents=True, exist_ok=True, mode=0o700)
        final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temp = tempfile.mkstemp(dir=staging, prefix="upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, final)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return StoredDocument(digest, media, len(content))

    @staticmethod
    def _intact(path: Path, digest: str) -> bool:
        return hashlib.sha256(path.read_bytes()).hexdigest() == digest

    def get(self, sha256: str) -> bytes | None:
        path = self.path(sha256)
        if not path.exists():
            return None
        content = path.read_bytes()
        if hashlib.sha256(content).hexdigest() != sha256:
            raise DocumentTampered(sha256)
        return content
