"""Standalone verification of an exported ledger against a signed checkpoint, without a database.

Input: entries ``(index, leaf bytes)`` in ledger order, the checkpoint note and the hub's
verifier key. The checkpoint signature is checked first; then the entries must be
exactly indexes ``0 .. size-1`` in order, each passes the optional ``check_entry``
callback (e.g. DSSE envelope signatures), and their RFC 9162 root must equal the
checkpoint's. Failures raise :class:`VerificationError` with ``index`` set to the first
bad ledger index.

A root mismatch alone does not say which leaf is wrong. If the export also carries the
hub's perfect-subtree node hashes (``node_hashes``, the ``ledger_nodes`` table), they are
authenticated top-down against the signed root and used to find the first bad leaf.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from audit.checkpoint import Checkpoint, open_checkpoint
from audit.errors import LedgerError, VerificationError
from audit.merkle import CompactRange, GetNodes, leaf_hash, node_hash, right_edge, root_of
from audit.note_keys import NoteVerifier, parse_vkey

__all__ = ["CheckEntry", "verify_export"]

CheckEntry = Callable[[int, bytes], None]
"""Per-entry check; raises :class:`VerificationError` to reject the entry."""


def verify_export(
    entries: Iterable[tuple[int, bytes]],
    checkpoint_note: str | bytes,
    hub_verifier: NoteVerifier | str,
    *,
    check_entry: CheckEntry | None = None,
    node_hashes: GetNodes | None = None,
    origin: str | None = None,
) -> Checkpoint:
    """Verify an export covering exactly the checkpoint's tree; return the checkpoint.

    ``hub_verifier`` is a verifier or its published key string. Entries beyond the
    checkpoint size are rejected: they would not be covered by any signature.
    """
    verifier = parse_vkey(hub_verifier) if isinstance(hub_verifier, str) else hub_verifier
    checkpoint = open_checkpoint(checkpoint_note, verifier, origin=origin)
    size = checkpoint.size
    tree = CompactRange()
    leaf_hashes: list[bytes] | None = [] if node_hashes is not None else None
    for index, leaf in entries:
        expected = tree.size
        if index != expected:
            if index > expected:
                zh, en = (
                    f"缺少条目 {expected}（下一个是 {index}）",
                    f"entry {expected} is missing (next is {index})",
                )
            else:
                zh, en = (
                    f"条目 {index} 出现在位置 {expected}",
                    f"entry {index} found at position {expected}",
                )
            raise VerificationError("index_not_contiguous", zh, en, index=expected)
        if expected >= size:
            raise VerificationError(
                "beyond_checkpoint",
                f"条目 {index} 超出检查点大小 {size}",
                f"entry {index} is beyond the checkpoint size {size}",
                index=index,
            )
        if check_entry is not None:
            try:
                check_entry(index, leaf)
            except VerificationError as exc:
                if exc.index is None:
                    exc.index = index
                raise
        h = leaf_hash(leaf)
        tree.append(h)
        if leaf_hashes is not None:
            leaf_hashes.append(h)
    if tree.size < size:
        raise VerificationError(
            "truncated",
            f"导出只有 {tree.size} 个条目，检查点大小为 {size}",
            f"export has {tree.size} entries but the checkpoint size is {size}",
            index=tree.size,
        )
    if tree.root() != checkpoint.root_hash:
        bad = None
        if leaf_hashes is not None and node_hashes is not None:
            bad = _first_bad_leaf(leaf_hashes, checkpoint.root_hash, node_hashes)
        where_zh = f"，第一个错误条目为 {bad}" if bad is not None else ""
        where_en = f"; first bad entry is {bad}" if bad is not None else ""
        raise VerificationError(
            "root_mismatch",
            f"重算的根与检查点不符{where_zh}",
            f"recomputed root does not match the checkpoint{where_en}",
            index=bad,
        )
    return checkpoint


def _first_bad_leaf(leaf_hashes: list[bytes], root: bytes, get_nodes: GetNodes) -> int | None:
    """Descend the exported node hashes, each checked against its parent, to the first bad leaf.

    Returns None when the exported nodes themselves do not match the signed root.
    """

    def fetch(ids: list[tuple[int, int]]) -> list[bytes] | None:
        try:
            got = get_nodes(ids)
            return [got[i] for i in ids]
        except (KeyError, LedgerError):
            return None

    def recomputed(level: int, index: int) -> bytes:
        return root_of(leaf_hashes[index << level : (index + 1) << level])

    edge = right_edge(len(leaf_hashes))
    trusted = fetch(edge)
    if trusted is None or CompactRange(len(leaf_hashes), trusted).root() != root:
        return None
    for (level, index), want in zip(edge, trusted, strict=True):
        if recomputed(level, index) == want:
            continue
        while level > 0:
            level, left, right = level - 1, 2 * index, 2 * index + 1
            children = fetch([(level, left), (level, right)])
            if children is None or node_hash(*children) != want:
                return None
            if recomputed(level, left) != children[0]:
                index, want = left, children[0]
            else:
                index, want = right, children[1]
        return index
    return None
