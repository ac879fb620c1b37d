"""Checkpointer and LedgerProofs in process, over the in-memory ledger and checkpoint store:
signing policy, refusals (shrink, fork, bad nodes) and proofs against signed checkpoints."""

from __future__ import annotations

import pytest

from audit.checkpoint import Checkpoint, open_checkpoint, origin_for, sign_checkpoint
from audit.checkpoint_store import StoredCheckpoint
from audit.checkpointer import Checkpointer, LedgerProofs
from audit.errors import LedgerError, VerificationError
from audit.memory import InMemoryCheckpointStore, InMemoryLedger, new_entry
from audit.merkle import leaf_hash
from audit.note_keys import CosignatureSigner, Ed25519Signer
from audit.proofs import verify_inclusion_json
from audit.witness import Witness

ORIGIN = origin_for("unit")
SIGNER = Ed25519Signer.from_seed(ORIGIN, b"\x09" * 32)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def records(n: int, start: int = 0) -> list[bytes]:
    return [f'{{"record": {i}}}'.encode() for i in range(start, start + n)]


def parts(size: int = 0, **policy: float) -> tuple[InMemoryLedger, InMemoryCheckpointStore,
                                                   Checkpointer, list[int], Clock]:
    ledger = InMemoryLedger.of_records(records(size))
    store = InMemoryCheckpointStore()
    published: list[int] = []
    clock = Clock()

    async def publish(stored: StoredCheckpoint) -> None:
        published.append(stored.tree_size)

    checkpointer = Checkpointer(ledger, store, SIGNER, publish=publish, clock=clock,
                                interval=policy.get("interval", 5.0),
                                every=int(policy.get("every", 1000)))
    return ledger, store, checkpointer, published, clock


async def grow(ledger: InMemoryLedger, n: int) -> None:
    size = (await ledger.tree_head()).size
    await ledger.append([new_entry(r) for r in records(n, size)])


async def test_issue_signs_the_head_once_per_size() -> None:
    ledger, store, checkpointer, _, _ = parts(5)
    stored = await checkpointer.issue()
    checkpoint = open_checkpoint(stored.note, [SIGNER.verifier()], origin=ORIGIN)
    head = await ledger.tree_head()
    assert (checkpoint.size, checkpoint.root_hash) == (5, head.root_hash)
    assert await checkpointer.issue() == stored and await store.since(0) == [stored]
    await grow(ledger, 3)
    assert (await checkpointer.issue()).tree_size == 8
    assert [c.tree_size for c in await store.since(0)] == [5, 8]


async def test_tick_issues_when_due_by_time_or_count_and_publishes_each_new_checkpoint_once(
) -> None:
    ledger, _, checkpointer, published, clock = parts(2, interval=10.0, every=4)
    assert (await checkpointer.tick()) is not None  # never issued before: due at once
    assert published == [2]
    await grow(ledger, 1)
    clock.now += 1
    assert await checkpointer.tick() is None and published == [2]  # neither time nor count
    await grow(ledger, 3)
    issued = await checkpointer.tick()  # grew by 4 >= every
    assert issued is not None and issued.tree_size == 6 and published == [2, 6]
    await grow(ledger, 1)
    clock.now += 10
    assert (await checkpointer.tick()) is not None and published == [2, 6, 7]  # interval
    clock.now += 10
    assert await checkpointer.tick() is None and published == [2, 6, 7]  # no growth


async def test_a_restarted_checkpointer_publishes_the_latest_stored_checkpoint_again() -> None:
    ledger, store, checkpointer, _, _ = parts(3)
    await checkpointer.issue()  # e.g. by the CLI, on demand: not published
    seen: list[int] = []

    async def publish(stored: StoredCheckpoint) -> None:
        seen.append(stored.tree_size)

    restarted = Checkpointer(ledger, store, SIGNER, publish=publish, interval=60.0)
    assert await restarted.tick() is None and seen == [3]
    assert await restarted.tick() is None and seen == [3]


async def test_nodes_that_do_not_support_the_head_are_not_signed() -> None:
    ledger, store, checkpointer, _, _ = parts(3)
    ledger.overwrite_node((1, 0), leaf_hash(b"tampered"))
    with pytest.raises(LedgerError) as info:
        await checkpointer.issue()
    assert info.value.reason == "head_mismatch"
    assert await store.latest() is None


async def _store_foreign(store: InMemoryCheckpointStore, size: int) -> None:
    await store.add(sign_checkpoint(Checkpoint(ORIGIN, size, leaf_hash(b"other")), SIGNER))


@pytest.mark.parametrize(("foreign_size", "reason"), [
    (2, "would_fork"),     # an earlier signed root the ledger does not extend
    (5, "fork"),           # the same size with another root
    (9, "ledger_shrank"),  # a signed size beyond the ledger
])
async def test_a_tree_inconsistent_with_what_was_signed_is_refused(
    foreign_size: int, reason: str
) -> None:
    _, store, checkpointer, _, _ = parts(5)
    await _store_foreign(store, foreign_size)
    with pytest.raises(LedgerError) as info:
        await checkpointer.issue()
    assert info.value.reason == reason
    assert [c.tree_size for c in await store.since(0)] == [foreign_size]


async def test_inclusion_proofs_by_event_id_and_index_verify_against_signed_checkpoints(
) -> None:
    ledger, store, checkpointer, _, _ = parts(6)
    proofs = LedgerProofs(ledger, store, checkpointer)
    entry = await ledger.entry_at(4)
    assert entry is not None
    proof = await proofs.inclusion(event_id=entry.event_id.upper())  # any UUID spelling
    assert proof.tree_size == 6  # a checkpoint was issued on demand to cover it
    checkpoint = verify_inclusion_json(proof.to_json(), entry.record, SIGNER.verifier())
    assert checkpoint.size == 6
    await grow(ledger, 4)
    old = await proofs.inclusion(index=4)
    assert old.tree_size == 6  # the latest checkpoint still covers it
    newer = await proofs.inclusion(index=8)
    assert newer.tree_size == 10
    pinned = await proofs.inclusion(index=1, tree_size=6)
    verify_inclusion_json(pinned, (await ledger.entry_at(1)).record,  # type: ignore[union-attr]
                          SIGNER.verifier())
    with pytest.raises(VerificationError):
        verify_inclusion_json(pinned, b"another record", SIGNER.verifier())


async def test_unanswerable_inclusion_requests_say_why() -> None:
    ledger, store, checkpointer, _, _ = parts(3)
    proofs = LedgerProofs(ledger, store, checkpointer)
    with pytest.raises(ValueError, match="UUID"):
        await proofs.inclusion(event_id="not-a-uuid")
    with pytest.raises(ValueError):
        await proofs.inclusion()
    for kwargs, reason in [
        ({"index": 3}, "unknown_entry"),
        ({"event_id": "00000000-0000-4000-8000-000000000000"}, "unknown_entry"),
        ({"index": 0, "tree_size": 2}, "no_checkpoint"),
    ]:
        with pytest.raises(LedgerError) as info:
            await proofs.inclusion(**kwargs)  # type: ignore[arg-type]
        assert info.value.reason == reason
    await checkpointer.issue()
    await grow(ledger, 2)
    with pytest.raises(LedgerError) as info:
        await proofs.inclusion(index=4, tree_size=3)
    assert info.value.reason == "not_covered"
    with pytest.raises(LedgerError) as info:
        await proofs.covering(9)
    assert info.value.reason == "not_covered"


async def test_consistency_proofs_verify_and_stay_within_the_tree() -> None:
    ledger, store, checkpointer, _, _ = parts(7)
    proofs = LedgerProofs(ledger, store, checkpointer)
    proof = await proofs.consistency(3, 7)
    proof.verify(await ledger.root_at(3), await ledger.root_at(7))
    with pytest.raises(VerificationError):
        proof.verify(await ledger.root_at(2), await ledger.root_at(7))
    for first, second in [(4, 8), (5, 4), (-1, 3)]:
        with pytest.raises(ValueError):
            await proofs.consistency(first, second)


async def test_a_witness_cosignature_is_checked_then_stored_once() -> None:
    ledger, store, checkpointer, _, _ = parts(4)
    cosigner = CosignatureSigner.from_seed("witness.example/w1", b"\x0a" * 32)
    impostor = CosignatureSigner.from_seed("witness.example/w1", b"\x0b" * 32)
    stranger = CosignatureSigner.from_seed("witness.example/w3", b"\x0c" * 32)
    configured = [cosigner.verifier(), impostor.verifier()]
    proofs = LedgerProofs(ledger, store, checkpointer, lambda: configured)
    stored, cosignatures = await proofs.cosigned()
    assert stored.tree_size == 4 and cosignatures == []
    foreign = Witness(stranger, [SIGNER.verifier()]).observe(stored.note, [], now=1_800_000_000)
    with pytest.raises(LedgerError) as refused:  # a valid line, but not an operator's witness
        await proofs.add_cosignature(4, foreign, stranger.verifier())
    assert refused.value.reason == "unknown_witness"
    line = Witness(cosigner, [SIGNER.verifier()]).observe(stored.note, [], now=1_800_000_000)
    assert await proofs.add_cosignature(4, line.rstrip("\n"), cosigner.verifier())
    assert not await proofs.add_cosignature(4, line, cosigner.verifier())
    _, cosignatures = await proofs.cosigned(4)
    assert [(c.witness, c.line) for c in cosignatures] == [("witness.example/w1", line)]
    with pytest.raises(VerificationError):
        await proofs.add_cosignature(4, line, impostor.verifier())
    with pytest.raises(LedgerError):
        await proofs.add_cosignature(9, line, cosigner.verifier())
