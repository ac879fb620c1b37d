"""The checkpoint store port's contract (audit.checkpoint_store.CheckpointStore), run against
the in-memory store and PostgresCheckpointStore: one checkpoint per size, the first wins."""

from __future__ import annotations

from typing import Any

import pytest

from audit.checkpoint import Checkpoint, origin_for, sign_checkpoint
from audit.memory import InMemoryCheckpointStore
from audit.merkle import leaf_hash
from audit.note_keys import Ed25519Signer
from hub.adapters.checkpoint_store import PostgresCheckpointStore
from tests.contracts.conftest import BACKENDS, PoolFactory

SIGNER = Ed25519Signer.from_seed(origin_for("contract"), b"\x07" * 32)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, new_pool: PoolFactory) -> Any:
    """create_checkpoint_store(): an empty store of each implementation."""
    if request.param == "memory":
        return InMemoryCheckpointStore()
    return PostgresCheckpointStore(await new_pool())


def note(size: int, salt: bytes = b"") -> str:
    return sign_checkpoint(Checkpoint(SIGNER.name, size, leaf_hash(b"%d" % size + salt)), SIGNER)


def cosig_line(witness: str) -> str:
    return f"— {witness} AAAAAAAA\n"


async def test_an_empty_store_has_nothing(store: Any) -> None:
    assert await store.latest() is None
    assert await store.at(0) is None
    assert await store.since(0) == []
    assert await store.cosignatures(0) == []
    assert await store.cosignatures_through(10) == []


async def test_a_checkpoint_is_stored_once_per_size_and_the_first_one_wins(store: Any) -> None:
    stored, created = await store.add(note(5))
    assert created and (stored.tree_size, stored.note) == (5, note(5))
    assert stored.root_hash == leaf_hash(b"5") == stored.checkpoint.root_hash
    assert stored.created_at.utcoffset() is not None
    again, created = await store.add(note(5))
    assert not created and again == stored
    fork, created = await store.add(note(5, b"forked"))
    assert not created and fork == stored  # the caller compares roots
    assert await store.at(5) == stored


async def test_latest_is_the_largest_size_and_since_lists_in_size_order(store: Any) -> None:
    for size in (3, 9, 1, 6):
        await store.add(note(size))
    latest = await store.latest()
    assert latest is not None and latest.tree_size == 9
    assert [c.tree_size for c in await store.since(0)] == [1, 3, 6, 9]
    assert [c.tree_size for c in await store.since(4)] == [6, 9]
    assert [c.tree_size for c in await store.since(2, limit=2)] == [3, 6]
    assert await store.since(10) == []
    assert await store.at(4) is None


async def test_one_cosignature_per_size_and_witness(store: Any) -> None:
    for size in (2, 4):
        await store.add(note(size))
    assert await store.add_cosignature(4, "w2.example", "0a0b0c0d", cosig_line("w2.example"))
    assert await store.add_cosignature(4, "w1.example", "01020304", cosig_line("w1.example"))
    assert not await store.add_cosignature(4, "w1.example", "01020304", "— w1.example BBBB\n")
    assert await store.add_cosignature(2, "w2.example", "0a0b0c0d", cosig_line("w2.example"))
    on_four = await store.cosignatures(4)
    assert [(c.witness, c.key_id, c.line) for c in on_four] == [
        ("w1.example", "01020304", cosig_line("w1.example")),
        ("w2.example", "0a0b0c0d", cosig_line("w2.example"))]
    assert on_four[0].summary()["tree_size"] == 4
    assert [(c.tree_size, c.witness) for c in await store.cosignatures_through(4)] == [
        (2, "w2.example"), (4, "w1.example"), (4, "w2.example")]
    assert [c.tree_size for c in await store.cosignatures_through(3)] == [2]
