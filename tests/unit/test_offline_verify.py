"""Offline verification of an exported ledger pins each kind of tampering to its exact index."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.checkpoint import Checkpoint, origin_for, sign_checkpoint
from audit.errors import VerificationError
from audit.memory import InMemoryLedger
from audit.merkle import GetNodes, leaf_hash, root_at
from audit.note_keys import Ed25519Signer
from audit.offline_verify import CheckEntry, verify_export

ORIGIN = origin_for("test")
HUB = Ed25519Signer.from_seed(ORIGIN, b"\x05" * 32)
SIZE = 40
POSITIONS = [0, 17, 31, 32, SIZE - 2]  # first, middle, either side of a subtree edge, near end


def export(size: int = SIZE) -> tuple[list[tuple[int, bytes]], str, InMemoryLedger]:
    """The entries of a ledger of ``size`` records, its signed checkpoint, and the ledger."""
    records = [f'{{"event": {i}, "payload": "record {i}"}}'.encode() for i in range(size)]
    ledger = InMemoryLedger.of_records(records)
    root = root_at(size, ledger.get_nodes)
    note = sign_checkpoint(Checkpoint(ORIGIN, size, root), HUB)
    return list(enumerate(records)), note, ledger


def failure(
    entries: list[tuple[int, bytes]],
    note: str,
    *,
    check_entry: CheckEntry | None = None,
    node_hashes: GetNodes | None = None,
) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        verify_export(entries, note, HUB.vkey(), check_entry=check_entry, node_hashes=node_hashes)
    return info.value


def test_untouched_export_verifies() -> None:
    entries, note, ledger = export()
    seen: list[int] = []
    cp = verify_export(iter(entries), note, HUB.vkey(), check_entry=lambda i, _: seen.append(i))
    assert cp.size == SIZE and seen == list(range(SIZE))
    assert verify_export(entries, note, HUB.verifier(), node_hashes=ledger.get_nodes) == cp
    empty_entries, empty_note, _ = export(0)
    assert verify_export(empty_entries, empty_note, HUB.vkey()).size == 0


@pytest.mark.parametrize("pos", POSITIONS)
def test_flipped_byte_is_pinned(pos: int) -> None:
    entries, note, ledger = export()
    index, leaf = entries[pos]
    entries[pos] = (index, leaf[:5] + bytes([leaf[5] ^ 0x01]) + leaf[6:])
    err = failure(entries, note, node_hashes=ledger.get_nodes)
    assert (err.reason, err.index) == ("root_mismatch", pos)
    assert f"first bad entry is {pos}" in err.diagnostics()
    # Without node hashes the root still catches it, but cannot say where.
    err = failure(entries, note)
    assert (err.reason, err.index) == ("root_mismatch", None)


@pytest.mark.parametrize("pos", POSITIONS)
def test_flipped_byte_is_pinned_by_entry_check(pos: int) -> None:
    entries, note, _ = export()
    originals = dict(entries)
    index, leaf = entries[pos]
    entries[pos] = (index, leaf.replace(b"record", b"recorD"))

    def check(i: int, data: bytes) -> None:  # stands in for the DSSE envelope check
        if data != originals[i]:
            raise VerificationError("bad_envelope", "信封签名无效", "envelope signature invalid")

    err = failure(entries, note, check_entry=check)
    assert (err.reason, err.index) == ("bad_envelope", pos)


@pytest.mark.parametrize("pos", [*POSITIONS, SIZE - 1])
def test_deleted_entry_is_pinned(pos: int) -> None:
    entries, note, ledger = export()
    del entries[pos]
    err = failure(entries, note, node_hashes=ledger.get_nodes)
    expected_reason = "truncated" if pos == SIZE - 1 else "index_not_contiguous"
    assert (err.reason, err.index) == (expected_reason, pos)


@pytest.mark.parametrize("pos", POSITIONS)
def test_swapped_entries_are_pinned(pos: int) -> None:
    entries, note, ledger = export()
    # Swapped in the export's order (each keeps its index label)...
    swapped = [*entries]
    swapped[pos], swapped[pos + 1] = swapped[pos + 1], swapped[pos]
    err = failure(swapped, note)
    assert (err.reason, err.index) == ("index_not_contiguous", pos)
    # ...or with the contents swapped under unchanged index labels.
    relabelled = [*entries]
    relabelled[pos] = (pos, entries[pos + 1][1])
    relabelled[pos + 1] = (pos + 1, entries[pos][1])
    err = failure(relabelled, note, node_hashes=ledger.get_nodes)
    assert (err.reason, err.index) == ("root_mismatch", pos)


def test_extra_and_duplicate_entries_are_refused() -> None:
    entries, note, _ = export()
    err = failure([*entries, (SIZE, b"late")], note)
    assert (err.reason, err.index) == ("beyond_checkpoint", SIZE)
    err = failure([*entries[:10], entries[9], *entries[10:]], note)
    assert (err.reason, err.index) == ("index_not_contiguous", 10)


def test_checkpoint_signature_is_required() -> None:
    entries, note, _ = export()
    other = Ed25519Signer.from_seed(ORIGIN, b"\x06" * 32)
    with pytest.raises(VerificationError) as info:
        verify_export(entries, note, other.vkey())
    assert info.value.reason == "unknown_signer"
    with pytest.raises(VerificationError):
        verify_export(entries, note.replace(f"\n{SIZE}\n", f"\n{SIZE - 1}\n"), HUB.vkey())


def test_forged_node_table_is_not_trusted_for_localisation() -> None:
    entries, note, ledger = export()
    index, leaf = entries[3]
    entries[3] = (index, leaf + b" ")
    # The tamperer also rewrites the leaf's node and its ancestors; the top no longer
    # matches the signed root, so the nodes are not used to point anywhere.
    forged = InMemoryLedger.of_records(data for _, data in entries)
    err = failure(entries, note, node_hashes=forged.get_nodes)
    assert (err.reason, err.index) == ("root_mismatch", None)
    # Node hashes that disagree with their parent are not trusted either.
    ledger.overwrite_node((0, 3), leaf_hash(entries[3][1]))
    err = failure(entries, note, node_hashes=ledger.get_nodes)
    assert (err.reason, err.index) == ("root_mismatch", None)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 70), data=st.data())
def test_any_flipped_bit_is_pinned(size: int, data: st.DataObject) -> None:
    entries, note, ledger = export(size)
    pos = data.draw(st.integers(0, size - 1))
    index, leaf = entries[pos]
    bit = data.draw(st.integers(0, len(leaf) * 8 - 1))
    flipped = bytearray(leaf)
    flipped[bit // 8] ^= 1 << (bit % 8)
    entries[pos] = (index, bytes(flipped))
    err = failure(entries, note, node_hashes=ledger.get_nodes)
    assert (err.reason, err.index) == ("root_mismatch", pos)
