"""RFC 9162 §2.1 Merkle tree maths: hashing, incremental append, proof building and checking.

Storage model: only *perfect* subtrees are stored. Node ``(level, index)`` is the hash of
leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0 holds the leaf hashes. A
tree of size ``n`` is covered by the perfect subtrees given by the set bits of ``n`` (its
"right edge", see :func:`perfect_subtrees`), so any root or proof hash, including the
non-perfect subtrees on the right border, is a fold of O(log n) perfect nodes.

Proof builders take one batch callback ``get_nodes(ids) -> {id: hash}`` and call it
exactly once, so a database can answer each proof with one query. Nothing here does I/O.

Verifiers follow the RFC 9162 algorithms (§2.1.3.2 inclusion, §2.1.4.2 consistency)
literally and raise :class:`audit.errors.VerificationError` on any failure.

References: https://www.rfc-editor.org/rfc/rfc9162.html#section-2.1 (and RFC 6962 §2.1).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

from audit.errors import LedgerError, VerificationError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "GetNodes",
    "NodeId",
    "consistency_node_ids",
    "consistency_proof",
    "inclusion_node_ids",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "perfect_subtrees",
    "right_edge",
    "root_at",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH({}) = SHA-256 of the empty string: the root of the empty tree."""

NodeId = tuple[int, int]
"""``(level, index)`` of a perfect subtree."""

GetNodes = Callable[[Sequence[NodeId]], Mapping[NodeId, bytes]]
"""Batch fetch of perfect nodes; may return extra entries, must not omit requested ones."""


def leaf_hash(leaf: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d)."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Interior node hash SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes, by the RFC 9162 §2.1.1 recursive definition."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = 1 << ((n - 1).bit_length() - 1)  # largest power of two smaller than n
    return node_hash(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))


def perfect_subtrees(start: int, end: int) -> list[NodeId]:
    """Perfect subtrees covering leaves ``[start, end)``, left to right, largest first.

    ``start`` must be a multiple of the largest power of two not above ``end - start``;
    that holds for every subtree the RFC 9162 recursion produces, and for ``start == 0``.
    """
    if not 0 <= start <= end:
        raise ValueError(f"bad leaf range [{start}, {end})")
    ids: list[NodeId] = []
    pos, rem = start, end - start
    for level in range(rem.bit_length() - 1, -1, -1):
        if rem >> level & 1:
            if pos % (1 << level):
                raise ValueError(f"leaf range [{start}, {end}) is not subtree-aligned")
            ids.append((level, pos >> level))
            pos += 1 << level
    return ids


def right_edge(size: int) -> list[NodeId]:
    """The perfect subtrees whose fold is the root of a tree of ``size`` leaves."""
    return perfect_subtrees(0, size)


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Hash of a right-border subtree from its perfect pieces (left to right, largest first)."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


class CompactRange:
    """The append state of a tree: the hashes of its right-edge perfect subtrees.

    ``hashes`` are ordered left to right (highest level first), one per set bit of ``size``;
    ``(size, hashes)`` is all a writer must persist to resume appending.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0:
            raise ValueError("size must be >= 0")
        if len(hashes) != size.bit_count():
            raise ValueError(
                f"a range of size {size} needs {size.bit_count()} hashes, got {len(hashes)}"
            )
        for h in hashes:
            _check_hash(h, "compact range hash")
        self._size = size
        self._hashes = list(hashes)

    @classmethod
    def from_list(cls, size: int, hashes: Sequence[bytes]) -> CompactRange:
        """Restore from :meth:`to_list` output."""
        return cls(size, hashes)

    @classmethod
    def from_nodes(cls, size: int, get_nodes: GetNodes) -> CompactRange:
        """Restore the state at ``size`` from the node store (one batch fetch)."""
        ids = right_edge(size)
        return cls(size, _fetch(get_nodes, ids) if ids else [])

    @property
    def size(self) -> int:
        return self._size

    @property
    def node_ids(self) -> list[NodeId]:
        """Ids of :meth:`to_list`'s hashes, same order."""
        return right_edge(self._size)

    def to_list(self) -> list[bytes]:
        """The right-edge hashes, highest level first (pair with :attr:`size`)."""
        return list(self._hashes)

    def copy(self) -> CompactRange:
        return CompactRange(self._size, self._hashes)

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return the perfect nodes it completes, leaf node first."""
        h = _check_hash(leaf_hash, "leaf hash")
        level, index = 0, self._size
        created = [(level, index, h)]
        bits = self._size
        while bits & 1:  # a finished sibling of the same level sits at the end: merge
            h = node_hash(self._hashes.pop(), h)
            level, index, bits = level + 1, index >> 1, bits >> 1
            created.append((level, index, h))
        self._hashes.append(h)
        self._size += 1
        return created

    def extend(self, leaf_hashes: Iterable[bytes]) -> list[tuple[int, int, bytes]]:
        """Append several leaf hashes; return every node created, in creation order."""
        created: list[tuple[int, int, bytes]] = []
        for h in leaf_hashes:
            created.extend(self.append(h))
        return created

    def root(self) -> bytes:
        """Root hash of the tree of :attr:`size` leaves."""
        return _fold(self._hashes) if self._hashes else EMPTY_ROOT

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, hashes={len(self._hashes)})"


# ---------------------------------------------------------------------------------------------
# Proof building from perfect nodes.
#
# A proof is planned as a list of "pieces": each piece is the perfect-node ids whose fold is
# one proof hash (a single id, or several for the one right-border subtree that may be
# non-perfect). All ids are then fetched in one batch.


def _path(level: int, index: int, size: int) -> list[list[NodeId]]:
    """Sibling hashes, bottom up, of node ``(level, index)`` in a tree of ``size`` leaves.

    For ``level == 0`` this is the RFC 9162 inclusion path of leaf ``index``. Below the
    level where the node's path and the last leaf's path meet, every sibling exists (the
    right one at the meeting level may be a truncated right-border subtree); above it only
    left siblings exist, one per set bit of the remaining index.
    """
    last = (size - 1) >> level
    inner = (index ^ last).bit_length()
    pieces: list[list[NodeId]] = []
    for k in range(inner):
        lv = level + k
        start = ((index >> k) ^ 1) << lv
        pieces.append(perfect_subtrees(start, min(start + (1 << lv), size)))
    for k in range(inner, index.bit_length()):
        if index >> k & 1:
            pieces.append([(level + k, (index >> k) ^ 1)])
    return pieces


def _fetch(get_nodes: GetNodes, ids: Sequence[NodeId]) -> list[bytes]:
    wanted = list(dict.fromkeys(ids))
    got = get_nodes(wanted)
    missing = [i for i in wanted if i not in got]
    if missing:
        raise LedgerError(
            "missing_nodes",
            f"节点存储缺少完美子树节点：{missing[:8]}",
            f"node store lacks perfect subtree nodes: {missing[:8]}",
        )
    return [_check_hash(got[i], f"node {i}") for i in ids]


def _inclusion_pieces(index: int, tree_size: int) -> list[list[NodeId]]:
    if not 0 <= index < tree_size:
        raise ValueError(f"leaf index {index} not in tree of size {tree_size}")
    return _path(0, index, tree_size)


def _consistency_pieces(first: int, second: int) -> list[list[NodeId]]:
    if not 0 <= first <= second:
        raise ValueError(f"need 0 <= first <= second, got {first}, {second}")
    if first in (0, second):
        return []
    # The proof is the path of the node at level tz(first) that ends at leaf first-1,
    # preceded by that node itself unless it is the whole first tree (first a power of 2).
    level = (first & -first).bit_length() - 1
    index = (first - 1) >> level
    pieces = _path(level, index, second)
    if index:
        pieces.insert(0, [(level, index)])
    return pieces


def inclusion_node_ids(index: int, tree_size: int) -> list[NodeId]:
    """The perfect nodes :func:`inclusion_proof` will ask ``get_nodes`` for (to prefetch)."""
    return list(dict.fromkeys(i for p in _inclusion_pieces(index, tree_size) for i in p))


def consistency_node_ids(first: int, second: int) -> list[NodeId]:
    """The perfect nodes :func:`consistency_proof` will ask ``get_nodes`` for (to prefetch)."""
    return list(dict.fromkeys(i for p in _consistency_pieces(first, second) for i in p))


def _resolve(pieces: list[list[NodeId]], get_nodes: GetNodes) -> list[bytes]:
    flat = [i for piece in pieces for i in piece]
    if not flat:
        return []
    hashes = iter(_fetch(get_nodes, flat))
    return [_fold([next(hashes) for _ in piece]) for piece in pieces]


def inclusion_proof(index: int, tree_size: int, get_nodes: GetNodes) -> list[bytes]:
    """RFC 9162 §2.1.3.1 inclusion proof for leaf ``index`` in the tree of ``tree_size``."""
    return _resolve(_inclusion_pieces(index, tree_size), get_nodes)


def consistency_proof(first: int, second: int, get_nodes: GetNodes) -> list[bytes]:
    """RFC 9162 §2.1.4.1 consistency proof from tree size ``first`` to ``second``.

    Empty when ``first`` is 0 or equals ``second`` (nothing to prove).
    """
    return _resolve(_consistency_pieces(first, second), get_nodes)


def root_at(tree_size: int, get_nodes: GetNodes) -> bytes:
    """Root hash of the tree of ``tree_size`` leaves, from its right-edge perfect nodes."""
    if tree_size < 0:
        raise ValueError("tree size must be >= 0")
    if tree_size == 0:
        return EMPTY_ROOT
    return _fold(_fetch(get_nodes, right_edge(tree_size)))


# ---------------------------------------------------------------------------------------------
# Verification (RFC 9162 §2.1.3.2 and §2.1.4.2).


def _check_hash(h: bytes, what: str) -> bytes:
    if not isinstance(h, bytes) or len(h) != HASH_SIZE:
        raise VerificationError(
            "bad_hash_length",
            f"{what} 不是 {HASH_SIZE} 字节的哈希",
            f"{what} is not a {HASH_SIZE}-byte hash",
        )
    return h


def verify_inclusion(
    leaf_hash: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``tree_size`` with ``root``."""
    _check_hash(leaf_hash, "leaf hash")
    _check_hash(root, "root hash")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof[{i}]")
    if not 0 <= index < tree_size:
        raise VerificationError(
            "index_out_of_range",
            f"叶子索引 {index} 不在大小为 {tree_size} 的树内",
            f"leaf index {index} is outside a tree of size {tree_size}",
            index=index,
        )
    fn, sn, r = index, tree_size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise _proof_size_error("inclusion", index)
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise _proof_size_error("inclusion", index)
    if r != root:
        raise VerificationError(
            "root_mismatch",
            f"包含证明算出的根与树根不符（索引 {index}，树大小 {tree_size}）",
            f"inclusion proof does not lead to the root (index {index}, size {tree_size})",
            index=index,
        )


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``second`` leaves with ``second_root`` extends the first tree."""
    _check_hash(first_root, "first root")
    _check_hash(second_root, "second root")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof[{i}]")
    if not 0 <= first <= second:
        raise VerificationError(
            "size_shrunk",
            f"树大小从 {first} 变为 {second}，不是追加",
            f"tree size went from {first} to {second}: not an append",
        )
    if first == second or first == 0:
        expected = second_root if first else EMPTY_ROOT
        if proof:
            raise _proof_size_error("consistency", None)
        if first_root != expected:
            raise VerificationError(
                "root_mismatch",
                f"大小为 {first} 的树根不符",
                f"root of the tree of size {first} does not match",
            )
        return
    if not proof:
        raise _proof_size_error("consistency", None)
    path = list(proof)
    if first & (first - 1) == 0:  # first is a power of two: its root is a proof node
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise _proof_size_error("consistency", None)
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise _proof_size_error("consistency", None)
    if fr != first_root or sr != second_root:
        raise VerificationError(
            "root_mismatch",
            f"一致性证明与树根不符（{first} → {second}）",
            f"consistency proof does not match the roots ({first} -> {second})",
        )


def _proof_size_error(kind: str, index: int | None) -> VerificationError:
    zh = "包含" if kind == "inclusion" else "一致性"
    return VerificationError(
        "wrong_proof_size",
        f"{zh}证明的哈希个数不对",
        f"{kind} proof has the wrong number of hashes",
        index=index,
    )
