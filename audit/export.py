"""A self-contained ledger export directory, and its offline verification (no database).

Layout (format ``linkage-hub-ledger-export/1``)::

    manifest.json          format, origin, tree_size, root_hash (base64), exported_at
    checkpoint.note        the signed checkpoint covering exactly the exported entries
    checkpoints.jsonl      every earlier signed checkpoint: {"tree_size", "root_hash", "note"}
    cosignatures.jsonl     witnesses' cosignature lines: {"tree_size", "witness", "key_id", "line"}
    entries.jsonl          one entry per line: LedgerEntry.summary() fields + "record" (base64)
    nodes.jsonl            the hub's perfect-subtree hashes: [level, index, base64 hash]
    hub.pub.pem            the hub's Ed25519 public key (SubjectPublicKeyInfo PEM)
    hub.vkey               the same key as a C2SP note verifier key string
    agency_keys.json       the agency keys the entries' signatures are checked against

:func:`verify_export_dir` checks the final checkpoint's signature, every entry (through
:func:`audit.offline_verify.verify_export`, which pins a root mismatch to the first bad
leaf using ``nodes.jsonl``), each entry's listed leaf hash, an optional per-entry check
(agency signatures), and that every earlier checkpoint is signed and matches the root of
its prefix of the entries.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.checkpoint import Checkpoint, open_checkpoint
from audit.errors import VerificationError
from audit.ledger import LedgerEntry
from audit.merkle import CompactRange, NodeId, leaf_hash
from audit.note_keys import Ed25519Verifier, NoteVerifier, parse_vkey
from audit.offline_verify import verify_export
from schemas.b64 import strict_b64decode

__all__ = ["FORMAT", "EntryCheck", "ExportReport", "ExportWriter", "verify_export_dir"]

FORMAT = "linkage-hub-ledger-export/1"

EntryCheck = Callable[[LedgerEntry], None]
"""Per-entry check on the full entry (e.g. agency signatures); raises VerificationError."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return strict_b64decode(text)


def entry_to_json(entry: LedgerEntry) -> dict[str, Any]:
    return {**entry.summary(), "record": _b64(entry.record)}


def entry_from_json(doc: Mapping[str, Any]) -> LedgerEntry:
    return LedgerEntry(
        ledger_index=int(doc["ledger_index"]), event_id=doc["event_id"], agency_id=doc["agency"],
        case_id=doc["case_id"], event_type=doc["type"],
        event_time=datetime.fromisoformat(doc["event_time"]),
        received_at=datetime.fromisoformat(doc["received_at"]), keyid=doc["keyid"],
        record=_unb64(doc["record"]), leaf_hash=_unb64(doc["leaf_hash"]),
    )


def _jsonl(handle: IO[str], doc: Any) -> None:
    handle.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")


class ExportWriter:
    """Writes an export directory; entries and nodes are streamed in, in ledger order."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._entries = (directory / "entries.jsonl").open("w", encoding="utf-8")
        self._nodes = (directory / "nodes.jsonl").open("w", encoding="utf-8")

    def __enter__(self) -> ExportWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._entries.close()
        self._nodes.close()

    def entries(self, entries: Iterable[LedgerEntry]) -> None:
        for e in entries:
            _jsonl(self._entries, entry_to_json(e))

    def nodes(self, nodes: Mapping[NodeId, bytes]) -> None:
        for (level, index), h in nodes.items():
            _jsonl(self._nodes, [level, index, _b64(h)])

    def finish(self, *, checkpoint_note: str, checkpoints: Sequence[tuple[int, bytes, str]],
               cosignatures: Sequence[Mapping[str, Any]], hub_public_pem: str, hub_vkey: str,
               agency_keys: Sequence[Mapping[str, Any]], checkpoint: Checkpoint) -> None:
        """Write everything but entries and nodes; ``checkpoint`` is the parsed final note."""
        d = self.directory
        (d / "checkpoint.note").write_text(checkpoint_note, encoding="utf-8")
        with (d / "checkpoints.jsonl").open("w", encoding="utf-8") as f:
            for size, root, note in checkpoints:
                _jsonl(f, {"tree_size": size, "root_hash": _b64(root), "note": note})
        with (d / "cosignatures.jsonl").open("w", encoding="utf-8") as f:
            for c in cosignatures:
                _jsonl(f, dict(c))
        (d / "hub.pub.pem").write_text(hub_public_pem, encoding="ascii")
        (d / "hub.vkey").write_text(hub_vkey + "\n", encoding="ascii")
        (d / "agency_keys.json").write_text(
            json.dumps(list(agency_keys), ensure_ascii=False, indent=2), encoding="utf-8")
        (d / "manifest.json").write_text(json.dumps({
            "format": FORMAT, "origin": checkpoint.origin, "tree_size": checkpoint.size,
            "root_hash": checkpoint.root_b64, "exported_at": datetime.now(UTC).isoformat(),
        }, indent=2), encoding="utf-8")


@dataclass(frozen=True)
class ExportReport:
    """What an offline verification covered."""

    checkpoint: Checkpoint
    checkpoints: int
    cosignatures: int
    key_from_export: bool

    def summary(self) -> str:
        cp = self.checkpoint
        trust_zh = "（公钥取自导出本身，请与枢纽公布的公钥核对）" if self.key_from_export else ""
        trust_en = (" (hub key taken from the export itself: compare it with the published key)"
                    if self.key_from_export else "")
        return (f"导出校验通过：{cp.size} 个条目，根 {cp.root_b64}，"
                f"{self.checkpoints} 个检查点，{self.cosignatures} 个联署{trust_zh}\n"
                f"export OK: {cp.size} entries, root {cp.root_b64}, {self.checkpoints} "
                f"checkpoints, {self.cosignatures} cosignatures{trust_en}")


def _read_jsonl(path: Path) -> Iterator[Any]:
    if not path.exists():
        return
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


class _Entries:
    """Streams ``entries.jsonl`` into verify_export and checks each entry when asked."""

    def __init__(self, path: Path, check: EntryCheck | None,
                 checkpoints: Mapping[int, bytes]) -> None:
        self._path = path
        self._check = check
        self._checkpoints = checkpoints
        self._current: LedgerEntry | None = None
        self._prefix = CompactRange()

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        for doc in _read_jsonl(self._path):
            self._current = entry_from_json(doc)
            yield self._current.ledger_index, self._current.record

    def check(self, index: int, leaf: bytes) -> None:
        entry = self._current
        assert entry is not None and entry.ledger_index == index
        h = leaf_hash(leaf)
        if h != entry.leaf_hash:
            raise VerificationError(
                "leaf_hash_mismatch", f"条目 {index} 的记录与其 leaf_hash 不符",
                f"entry {index}: the record does not match its leaf_hash", index=index)
        if self._check is not None:
            self._check(entry)
        self._prefix.append(h)
        want = self._checkpoints.get(self._prefix.size)
        if want is not None and want != self._prefix.root():
            raise VerificationError(
                "checkpoint_root_mismatch",
                f"大小为 {self._prefix.size} 的已签名检查点与条目前缀的根不符",
                f"the signed checkpoint of size {self._prefix.size} does not match the root "
                "of that prefix of the entries")


def _lazy_nodes(path: Path) -> Callable[[Sequence[NodeId]], Mapping[NodeId, bytes]]:
    """A node getter that reads ``nodes.jsonl`` only if a root mismatch needs locating."""
    cache: dict[NodeId, bytes] = {}

    def get(ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        if not cache:
            for level, index, h in _read_jsonl(path):
                cache[(int(level), int(index))] = _unb64(h)
        return {i: cache[i] for i in ids if i in cache}

    return get


def _hub_verifier(directory: Path, trusted: NoteVerifier | str | None) -> tuple[NoteVerifier, bool]:
    exported = parse_vkey((directory / "hub.vkey").read_text(encoding="ascii").strip())
    if not isinstance(exported, Ed25519Verifier):
        raise VerificationError("bad_key", "hub.vkey 不是检查点签名密钥",
                                "hub.vkey is not a checkpoint signing key")
    verifier = parse_vkey(trusted) if isinstance(trusted, str) else trusted
    pem_path = directory / "hub.pub.pem"
    if pem_path.exists():
        key = serialization.load_pem_public_key(pem_path.read_bytes())
        if not isinstance(key, Ed25519PublicKey) or key.public_bytes_raw() != exported.public_key:
            raise VerificationError("key_mismatch", "hub.pub.pem 与 hub.vkey 不是同一把密钥",
                                    "hub.pub.pem and hub.vkey are not the same key")
    if verifier is None:
        return exported, True
    return verifier, False


def verify_export_dir(
    directory: Path,
    *,
    hub_verifier: NoteVerifier | str | None = None,
    check_entry: EntryCheck | None = None,
) -> ExportReport:
    """Verify an export directory offline; raise VerificationError at the first bad index.

    ``hub_verifier`` is the trusted hub key; without it the export's own ``hub.vkey`` is
    used, which only shows the export is self-consistent (the report says so).
    """
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise VerificationError("unknown_format", f"未知导出格式 {manifest.get('format')!r}",
                                f"unknown export format {manifest.get('format')!r}")
    verifier, from_export = _hub_verifier(directory, hub_verifier)
    origin = manifest["origin"]
    history: dict[int, bytes] = {}
    for doc in _read_jsonl(directory / "checkpoints.jsonl"):
        size = int(doc["tree_size"])
        try:
            cp = open_checkpoint(doc["note"], verifier, origin=origin)
        except VerificationError as exc:
            raise VerificationError(exc.reason, f"大小为 {size} 的检查点：{exc.message_zh}",
                                    f"checkpoint of size {size}: {exc.message_en}") from exc
        if cp.size != size:
            raise VerificationError("checkpoint_row_mismatch",
                                    f"检查点记录的大小 {size} 与注记不符",
                                    f"checkpoint listed as size {size} says {cp.size}")
        history[size] = cp.root_hash
    stream = _Entries(directory / "entries.jsonl", check_entry, history)
    final = verify_export(stream, (directory / "checkpoint.note").read_text(encoding="utf-8"),
                          verifier, check_entry=stream.check,
                          node_hashes=_lazy_nodes(directory / "nodes.jsonl"), origin=origin)
    beyond = [s for s in history if s > final.size]
    if beyond:
        raise VerificationError("checkpoint_beyond_export",
                                f"检查点大小 {min(beyond)} 超出导出的 {final.size} 个条目",
                                f"checkpoint of size {min(beyond)} is beyond the {final.size} "
                                "exported entries", index=final.size)
    if history.get(final.size, final.root_hash) != final.root_hash:
        raise VerificationError("fork", f"大小 {final.size} 有两个不同的已签名根",
                                f"two different signed roots for size {final.size}")
    if 0 in history and history[0] != CompactRange().root():
        raise VerificationError("checkpoint_root_mismatch", "大小为 0 的检查点根不对",
                                "the checkpoint of size 0 has the wrong root")
    cosignatures = sum(1 for _ in _read_jsonl(directory / "cosignatures.jsonl"))
    return ExportReport(final, len(history), cosignatures, from_export)
