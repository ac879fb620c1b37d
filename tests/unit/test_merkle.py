"""RFC 9162 tree maths: reference vectors, naive-model equivalence and tamper properties."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.checkpoint import Checkpoint, sign_checkpoint
from audit.errors import VerificationError
from audit.memory import InMemoryLedger
from audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    NodeId,
    consistency_node_ids,
    consistency_proof,
    inclusion_node_ids,
    inclusion_proof,
    leaf_hash,
    node_hash,
    perfect_subtrees,
    root_at,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from audit.note_keys import Ed25519Signer
from audit.proofs import ConsistencyProof, InclusionProof, verify_inclusion_json

# --- Reference vectors ------------------------------------------------------------------------
# From the Certificate Transparency reference tests, as kept in transparency-dev/merkle
# proof/verify_test.go (originally google/certificate-transparency-go merkletree tests):
# the 8 standard leaves, the roots of the trees of sizes 1..8, and inclusion / consistency
# proofs. In that file inclusion vectors use 1-based leaf numbers; here they are 0-based.


def _h(s: str) -> bytes:
    return bytes.fromhex(s)


LEAVES = [
    b"",
    _h("00"),
    _h("10"),
    _h("2021"),
    _h("3031"),
    _h("40414243"),
    _h("5051525354555657"),
    _h("606162636465666768696a6b6c6d6e6f"),
]
ROOTS = [
    _h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    _h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    _h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    _h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    _h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    _h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    _h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    _h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
INCLUSION_VECTORS = [  # (leaf index, tree size, proof)
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (0, 1, []),
]
CONSISTENCY_VECTORS = [  # (first, second, proof)
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


# --- A naive model, straight from the RFC 9162 §2.1 recursive definitions -------------------


def mth(hs: Sequence[bytes]) -> bytes:
    n = len(hs)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hs[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + mth(hs[:k]) + mth(hs[k:])).digest()


def naive_path(m: int, hs: Sequence[bytes]) -> list[bytes]:
    n = len(hs)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*naive_path(m, hs[:k]), mth(hs[k:])]
    return [*naive_path(m - k, hs[k:]), mth(hs[:k])]


def _subproof(m: int, hs: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(hs)
    if m == n:
        return [] if b else [mth(hs)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*_subproof(m, hs[:k], b), mth(hs[k:])]
    return [*_subproof(m - k, hs[k:], False), mth(hs[:k])]


def naive_consistency(m: int, n: int, hs: Sequence[bytes]) -> list[bytes]:
    if m in (0, n):
        return []
    return _subproof(m, hs[:n], True)


class Store:
    """The in-memory ledger of these leaves, with every node fetch recorded."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.ledger = InMemoryLedger.of_records(leaves)
        self.calls: list[list[NodeId]] = []

    def get(self, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]:
        self.calls.append(list(ids))
        return self.ledger.get_nodes(ids)


def ok(fn: Callable[..., None], *args: Any) -> bool:
    """True if ``fn(*args)`` verifies, False if it raises VerificationError."""
    try:
        fn(*args)
    except VerificationError:
        return False
    return True


# --- Reference vector tests -------------------------------------------------------------------


def test_reference_roots() -> None:
    cr = CompactRange()
    store = Store(LEAVES)
    for size, leaf in enumerate(LEAVES, start=1):
        cr.append(leaf_hash(leaf))
        assert cr.root() == ROOTS[size - 1]
        assert root_of([leaf_hash(x) for x in LEAVES[:size]]) == ROOTS[size - 1]
        assert root_at(size, store.get) == ROOTS[size - 1]


def test_empty_tree() -> None:
    expected = _h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert CompactRange().root() == EMPTY_ROOT == expected
    assert root_of([]) == expected
    assert root_at(0, Store([]).get) == expected


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS)
def test_reference_inclusion(index: int, size: int, proof: list[str]) -> None:
    store = Store(LEAVES)
    want = [_h(p) for p in proof]
    assert inclusion_proof(index, size, store.get) == want
    verify_inclusion(leaf_hash(LEAVES[index]), index, size, want, ROOTS[size - 1])
    with pytest.raises(VerificationError):
        verify_inclusion(leaf_hash(b"WrongLeaf"), index, size, want, ROOTS[size - 1])


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY_VECTORS)
def test_reference_consistency(first: int, second: int, proof: list[str]) -> None:
    store = Store(LEAVES)
    want = [_h(p) for p in proof]
    assert consistency_proof(first, second, store.get) == want
    verify_consistency(first, second, ROOTS[first - 1], ROOTS[second - 1], want)
    if want:
        with pytest.raises(VerificationError):
            verify_consistency(first, second, ROOTS[second - 1], ROOTS[first - 1], want)


def test_consistency_edge_cases() -> None:
    r1, r2 = ROOTS[0], ROOTS[1]
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 5, EMPTY_ROOT, ROOTS[4], [])
    verify_consistency(3, 3, ROOTS[2], ROOTS[2], [])
    bad: list[tuple[int, int, bytes, bytes, list[bytes]]] = [
        (1, 1, r1, r2, []),  # same size, different roots
        (1, 0, r1, EMPTY_ROOT, []),  # shrink
        (2, 1, r2, r1, []),
        (1, 2, r1, r2, []),  # empty proof for a real extension
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]),  # equal sizes, non-empty proof
        (1, 1, r1, r1, [EMPTY_ROOT]),
        (0, 1, r1, r1, []),  # size-0 tree must have the empty root
    ]
    for first, second, a, b, proof in bad:
        assert not ok(verify_consistency, first, second, a, b, proof), (first, second)


def test_inclusion_edge_cases() -> None:
    h = leaf_hash(b"data")
    verify_inclusion(h, 0, 1, [], h)
    for index, size in [(0, 0), (1, 1), (2, 1), (-1, 1)]:
        assert not ok(verify_inclusion, h, index, size, [], h)
    assert not ok(verify_inclusion, b"", 0, 1, [], h)  # wrong hash size
    assert not ok(verify_inclusion, h, 0, 1, [b""], h)


def test_errors_carry_reason_and_bilingual_text() -> None:
    with pytest.raises(VerificationError) as info:
        verify_inclusion(leaf_hash(b"x"), 5, 8, [ROOTS[0]] * 3, ROOTS[7])
    err = info.value
    assert err.reason == "root_mismatch"
    assert err.index == 5
    assert err.diagnostics() == f"{err.message_zh} / {err.message_en}"
    assert "包含证明" in err.message_zh and "inclusion proof" in err.message_en


def test_builders_reject_impossible_requests() -> None:
    store = Store(LEAVES)
    with pytest.raises(ValueError):
        inclusion_proof(8, 8, store.get)
    with pytest.raises(ValueError):
        consistency_proof(5, 4, store.get)
    with pytest.raises(ValueError):
        perfect_subtrees(1, 3)  # [1, 3) is not a subtree-aligned range


def test_compact_range_persistence_round_trip() -> None:
    store = Store(LEAVES[:7])
    frontier = CompactRange()
    frontier.extend(leaf_hash(leaf) for leaf in LEAVES[:7])
    saved = frontier.to_list()
    assert [len(h) for h in saved] == [32, 32, 32]  # 7 = 4 + 2 + 1
    restored = CompactRange.from_list(7, saved)
    assert restored.root() == ROOTS[6]
    assert CompactRange.from_nodes(7, store.get).to_list() == saved
    created = restored.append(leaf_hash(LEAVES[7]))
    assert [(lv, i) for lv, i, _ in created] == [(0, 7), (1, 3), (2, 1), (3, 0)]
    assert restored.root() == ROOTS[7] and restored.to_list() == [ROOTS[7]]
    with pytest.raises(ValueError):
        CompactRange.from_list(7, saved[:2])


# --- Wire forms -------------------------------------------------------------------------------


def test_proof_json_round_trip_and_verification() -> None:
    store = Store(LEAVES)
    signer = Ed25519Signer.from_seed("test.linkage-hub/ledger", bytes(32))
    note = sign_checkpoint(Checkpoint("test.linkage-hub/ledger", 8, ROOTS[7]), signer)
    doc = InclusionProof(
        leaf_index=5,
        tree_size=8,
        leaf_hash=leaf_hash(LEAVES[5]),
        hashes=inclusion_proof(5, 8, store.get),
        checkpoint=note,
    )
    wire = json.loads(doc.to_json())
    assert set(wire) == {"leaf_index", "tree_size", "leaf_hash", "hashes", "checkpoint"}
    assert base64.b64decode(wire["hashes"][0], validate=True) == doc.hashes[0]
    assert InclusionProof.from_json(doc.to_json()) == doc

    cp = verify_inclusion_json(doc.to_json(), LEAVES[5], signer.verifier())
    assert cp.size == 8 and cp.root_hash == ROOTS[7]
    verify_inclusion_json(wire, leaf_hash(LEAVES[5]), [signer.verifier()], leaf_is_hash=True)
    with pytest.raises(VerificationError) as info:
        verify_inclusion_json(doc, LEAVES[4], signer.verifier())
    assert info.value.reason == "leaf_mismatch"
    other = Ed25519Signer.from_seed("test.linkage-hub/ledger", bytes([1]) * 32)
    with pytest.raises(VerificationError):
        verify_inclusion_json(doc, LEAVES[5], other.verifier())
    wrong_size = {**wire, "tree_size": 7}
    with pytest.raises(VerificationError) as info:
        verify_inclusion_json(wrong_size, LEAVES[5], signer.verifier())
    assert info.value.reason == "size_mismatch"
    urlsafe = {**wire, "leaf_hash": base64.urlsafe_b64encode(b"\xfb" * 32).decode()}
    with pytest.raises(VerificationError) as info:
        verify_inclusion_json(urlsafe, LEAVES[5], signer.verifier())
    assert info.value.reason == "malformed_proof"

    cons = ConsistencyProof(first=6, second=8, hashes=consistency_proof(6, 8, store.get))
    again = ConsistencyProof.from_json(cons.to_json())
    assert again == cons and set(json.loads(cons.to_json())) == {"first", "second", "hashes"}
    again.verify(ROOTS[5], ROOTS[7])
    with pytest.raises(VerificationError):
        again.verify(ROOTS[4], ROOTS[7])


# --- Properties against the naive model --------------------------------------------------------

N = 128  # every generated tree is a prefix of these leaves; sizes stay <= 64 so flips fit


def make_leaves(salt: bytes) -> list[bytes]:
    # The index prefix keeps leaves distinct: no two subtrees share a hash by accident.
    return [i.to_bytes(2, "big") + salt for i in range(N)]


_stores: dict[bytes, Store] = {}


def store_for(salt: bytes) -> Store:
    if salt not in _stores:
        _stores[salt] = Store(make_leaves(salt))
    s = _stores[salt]
    s.calls.clear()
    return s


salts = st.binary(max_size=4)
tree_sizes = st.integers(min_value=1, max_value=64)


@settings(max_examples=60, deadline=None)
@given(salt=salts)
def test_compact_range_matches_naive_root_at_every_size(salt: bytes) -> None:
    leaves = make_leaves(salt)[:70]
    hashes = [leaf_hash(x) for x in leaves]
    cr = CompactRange()
    created: set[NodeId] = set()
    for n, h in enumerate(hashes, start=1):
        for level, index, node in cr.append(h):
            assert node == mth(hashes[index << level : (index + 1) << level])
            created.add((level, index))
        assert cr.root() == mth(hashes[:n]) == root_of(hashes[:n])
        assert CompactRange.from_list(n, cr.to_list()).root() == cr.root()
    every_perfect = {(lv, i) for lv in range(7) for i in range(70 >> lv)}
    assert created == every_perfect


@settings(max_examples=150, deadline=None)
@given(salt=salts, size=tree_sizes, data=st.data())
def test_inclusion_proofs_match_naive_and_verify(
    salt: bytes, size: int, data: st.DataObject
) -> None:
    store = store_for(salt)
    hashes = [leaf_hash(x) for x in make_leaves(salt)]
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(index, size, store.get)
    assert proof == naive_path(index, hashes[:size])
    assert len(store.calls) == (1 if size > 1 else 0)  # one batch, none for a 1-leaf tree
    asked = store.calls[0] if store.calls else []
    assert asked == inclusion_node_ids(index, size)
    assert len(asked) <= 2 * size.bit_length()
    assert all((i + 1) << lv <= size for lv, i in asked)  # perfect nodes inside the tree
    verify_inclusion(hashes[index], index, size, proof, mth(hashes[:size]))


@settings(max_examples=150, deadline=None)
@given(salt=salts, second=tree_sizes, data=st.data())
def test_consistency_proofs_match_naive_and_verify(
    salt: bytes, second: int, data: st.DataObject
) -> None:
    store = store_for(salt)
    hashes = [leaf_hash(x) for x in make_leaves(salt)]
    first = data.draw(st.integers(0, second))
    proof = consistency_proof(first, second, store.get)
    assert proof == naive_consistency(first, second, hashes)
    assert len(store.calls) <= 1
    asked = store.calls[0] if store.calls else []
    assert asked == consistency_node_ids(first, second)
    assert all((i + 1) << lv <= second for lv, i in asked)
    verify_consistency(first, second, mth(hashes[:first]), mth(hashes[:second]), proof)
    assert root_at(second, store.get) == mth(hashes[:second])


def _flip(b: bytes, bit: int) -> bytes:
    out = bytearray(b)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@settings(max_examples=200, deadline=None)
@given(salt=salts, size=tree_sizes, data=st.data())
def test_any_flipped_bit_breaks_inclusion(salt: bytes, size: int, data: st.DataObject) -> None:
    leaves = make_leaves(salt)
    hashes = [leaf_hash(x) for x in leaves]
    index = data.draw(st.integers(0, size - 1))
    proof = naive_path(index, hashes[:size])
    root = mth(hashes[:size])
    target = data.draw(st.sampled_from(["leaf", "proof", "root", "index", "size"]))
    if target == "leaf":
        bad_leaf = _flip(leaves[index], data.draw(st.integers(0, len(leaves[index]) * 8 - 1)))
        assert not ok(verify_inclusion, leaf_hash(bad_leaf), index, size, proof, root)
    elif target == "proof" and proof:
        j = data.draw(st.integers(0, len(proof) - 1))
        bad = [*proof]
        bad[j] = _flip(bad[j], data.draw(st.integers(0, 255)))
        assert not ok(verify_inclusion, hashes[index], index, size, bad, root)
    elif target == "root":
        bad_root = _flip(root, data.draw(st.integers(0, 255)))
        assert not ok(verify_inclusion, hashes[index], index, size, proof, bad_root)
    else:
        # A different (index, size) is checked against that tree's own root: a root only
        # binds its size through the checkpoint, so this is the meaningful statement. It
        # may only verify if it is itself true with this very proof.
        bit = data.draw(st.integers(0, 6))
        i2, n2 = (index ^ (1 << bit), size) if target == "index" else (index, size ^ (1 << bit))
        true = 0 <= i2 < n2 and hashes[i2] == hashes[index] and naive_path(i2, hashes[:n2]) == proof
        assert ok(verify_inclusion, hashes[index], i2, n2, proof, mth(hashes[:n2])) == true
        assert not true


@settings(max_examples=200, deadline=None)
@given(salt=salts, second=tree_sizes, data=st.data())
def test_any_flipped_bit_breaks_consistency(salt: bytes, second: int, data: st.DataObject) -> None:
    hashes = [leaf_hash(x) for x in make_leaves(salt)]
    first = data.draw(st.integers(0, second))
    proof = naive_consistency(first, second, hashes)
    r1, r2 = mth(hashes[:first]), mth(hashes[:second])
    target = data.draw(st.sampled_from(["proof", "first_root", "second_root", "first", "second"]))
    if target == "proof" and proof:
        j = data.draw(st.integers(0, len(proof) - 1))
        bad = [*proof]
        bad[j] = _flip(bad[j], data.draw(st.integers(0, 255)))
        assert not ok(verify_consistency, first, second, r1, r2, bad)
    elif target == "first_root" and first != second:
        assert not ok(verify_consistency, first, second, _flip(r1, 7), r2, proof)
    elif target == "second_root" and first not in (0, second):
        assert not ok(verify_consistency, first, second, r1, _flip(r2, 200), proof)
    elif target in ("first", "second"):
        bit = data.draw(st.integers(0, 6))
        m2, n2 = (first ^ (1 << bit), second) if target == "first" else (first, second ^ (1 << bit))
        true = m2 <= n2 and naive_consistency(m2, n2, hashes) == proof
        got = ok(verify_consistency, m2, n2, mth(hashes[:m2]), mth(hashes[:n2]), proof)
        assert got == true


@settings(max_examples=100, deadline=None)
@given(salt=salts, size=tree_sizes, data=st.data())
def test_truncated_or_padded_proofs_fail(salt: bytes, size: int, data: st.DataObject) -> None:
    hashes = [leaf_hash(x) for x in make_leaves(salt)]
    index = data.draw(st.integers(0, size - 1))
    proof = naive_path(index, hashes[:size])
    root = mth(hashes[:size])
    assert not ok(verify_inclusion, hashes[index], index, size, [*proof, root], root)
    assert not ok(verify_inclusion, hashes[index], index, size, [root, *proof], root)
    if proof:
        assert not ok(verify_inclusion, hashes[index], index, size, proof[:-1], root)
    first = data.draw(st.integers(1, size))
    cproof = naive_consistency(first, size, hashes)
    r1 = mth(hashes[:first])
    assert not ok(verify_consistency, first, size, r1, root, [*cproof, r1])
    if cproof:
        assert not ok(verify_consistency, first, size, r1, root, cproof[:-1])
        assert not ok(verify_consistency, first, size, r1, root, [cproof[0], *cproof])


def test_node_hash_domain_separation() -> None:
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(a, b) != leaf_hash(a + b)
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
