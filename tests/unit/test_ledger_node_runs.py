"""`node_runs` (hub/adapters/ledger_store.py): the Merkle nodes as runs per level hold every
node once, at its level and index, with its hash; anything but 32-byte hashes is declined."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from audit.merkle import CompactRange, leaf_hash
from hub.adapters.ledger_store import node_runs


def expanded(runs: tuple[list[int], list[int], list[bytes]]) -> list[tuple[int, int, bytes]]:
    """What NODE_RUNS_SQL inserts for the runs: hash g of run i at index first + g."""
    levels, firsts, packed = runs
    assert len(levels) == len(firsts) == len(packed)
    return [(level, first + g, hashes[g * 32:(g + 1) * 32])
            for level, first, hashes in zip(levels, firsts, packed, strict=True)
            for g in range(len(hashes) // 32)]


def appended_nodes(start: int, count: int) -> list[tuple[int, int, bytes]]:
    tree = CompactRange(0, [])
    tree.extend(leaf_hash(b"%d" % i) for i in range(start))
    return tree.extend(leaf_hash(b"%d" % i) for i in range(start, start + count))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 3000), st.integers(1, 600))
def test_an_appends_nodes_come_back_from_their_runs(start: int, count: int) -> None:
    nodes = appended_nodes(start, count)
    runs = node_runs(nodes)
    assert runs is not None
    assert sorted(expanded(runs)) == sorted(nodes)
    # an append completes one run of consecutive indexes per level
    assert len(runs[0]) == len(set(runs[0]))
    assert all(len(h) % 32 == 0 and h for h in runs[2])


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.tuples(st.integers(0, 6), st.integers(0, 40)),
                       st.binary(min_size=32, max_size=32), max_size=80))
def test_any_set_of_nodes_comes_back_from_its_runs(found: dict[tuple[int, int], bytes]) -> None:
    nodes = [(level, index, hash_) for (level, index), hash_ in found.items()]
    runs = node_runs(nodes)
    assert runs is not None
    assert sorted(expanded(runs)) == sorted(nodes)


@given(st.integers(0, 64).filter(lambda n: n != 32))
def test_a_hash_of_another_length_is_declined(length: int) -> None:
    nodes = [(0, 0, b"\x01" * 32), (0, 1, b"\x02" * length)]
    assert node_runs(nodes) is None


def test_no_nodes_no_runs() -> None:
    assert node_runs([]) == ([], [], [])
