"""The witness cosigns consistent checkpoints and refuses shrinks, forks and bad proofs."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

import nacl.signing
import pytest

from audit.checkpoint import Checkpoint, origin_for, sign_checkpoint
from audit.errors import InconsistentCheckpoint, VerificationError
from audit.memory import InMemoryLedger
from audit.merkle import consistency_proof, leaf_hash, root_at
from audit.note import open_note
from audit.note_keys import CosignatureSigner, Ed25519Signer
from audit.witness import Witness

ORIGIN = origin_for("test")
HUB = Ed25519Signer.from_seed(ORIGIN, b"\x01" * 32)


class Log:
    """A tiny log: the in-memory ledger of these leaves, signed at any size."""

    def __init__(self, leaves: Sequence[bytes], signer: Ed25519Signer = HUB) -> None:
        self.signer = signer
        self.ledger = InMemoryLedger.of_records(leaves)

    def checkpoint(self, size: int) -> Checkpoint:
        return Checkpoint(ORIGIN, size, root_at(size, self.ledger.get_nodes))

    def signed(self, size: int) -> str:
        return sign_checkpoint(self.checkpoint(size), self.signer)

    def proof(self, first: int, second: int) -> list[bytes]:
        return consistency_proof(first, second, self.ledger.get_nodes)


LEAVES = [f"record {i}".encode() for i in range(40)]


def new_witness() -> tuple[Witness, CosignatureSigner]:
    cosigner = CosignatureSigner.from_seed("witness.example/w1", b"\x02" * 32)
    return Witness(cosigner, [HUB.verifier()]), cosigner


def indep_check_cosignature(note: str, line: str, public_key: bytes) -> int:
    """Verify a cosignature line from the tlog-cosignature spec, without audit/ code."""
    text = note[: note.rindex("\n\n") + 1]
    sig = base64.b64decode(line.rstrip("\n").split(" ")[2], validate=True)
    key_id = hashlib.sha256(b"witness.example/w1\n\x04" + public_key).digest()[:4]
    assert sig[:4] == key_id
    timestamp = int.from_bytes(sig[4:12], "big")
    message = f"cosignature/v1\ntime {timestamp}\n{text}".encode()
    nacl.signing.VerifyKey(public_key).verify(message, sig[12:])
    return timestamp


def test_consistent_sequence_is_cosigned() -> None:
    log = Log(LEAVES)
    witness, cosigner = new_witness()
    previous = 0
    for size in [0, 1, 3, 3, 8, 13, 40]:
        note = log.signed(size)
        seen = witness.latest(ORIGIN)
        proof = log.proof(seen.size, size) if seen else []
        line = witness.observe(note, proof, now=1_700_000_000 + size)
        assert line.startswith("— witness.example/w1 ") and line.endswith("\n")
        cosigned = note + line
        opened = open_note(cosigned, [cosigner.verifier()])
        assert opened.text == log.checkpoint(size).to_text()
        assert indep_check_cosignature(note, line, cosigner.public_key) == 1_700_000_000 + size
        assert witness.latest(ORIGIN) == log.checkpoint(size)
        assert size >= previous
        previous = size
    # The state can be persisted and restored.
    restored = Witness(cosigner, [HUB.verifier()], state=witness.state)
    restored.observe(log.signed(40), [])


def _assert_both_heads(err: InconsistentCheckpoint, old: Checkpoint, new: Checkpoint) -> None:
    text = err.diagnostics()
    assert text.startswith("检查点不一致") and " / inconsistent checkpoint: " in text
    for cp in (old, new):
        head = f"({cp.origin}, {cp.size}, {base64.b64encode(cp.root_hash).decode()})"
        assert text.count(head) == 2  # in the Chinese and the English halves
    assert err.old == old and err.new == new


def test_shrink_is_refused() -> None:
    log = Log(LEAVES)
    witness, _ = new_witness()
    witness.observe(log.signed(8), [])
    with pytest.raises(InconsistentCheckpoint) as info:
        witness.observe(log.signed(5), [])
    assert info.value.reason == "size_shrunk"
    _assert_both_heads(info.value, log.checkpoint(8), log.checkpoint(5))
    assert witness.latest(ORIGIN) == log.checkpoint(8)  # state untouched


def test_fork_at_same_size_is_refused() -> None:
    log = Log(LEAVES)
    forked = Log([*LEAVES[:5], b"rewritten", *LEAVES[6:]])
    witness, _ = new_witness()
    witness.observe(log.signed(13), [])
    with pytest.raises(InconsistentCheckpoint) as info:
        witness.observe(forked.signed(13), [])
    assert info.value.reason == "fork"
    _assert_both_heads(info.value, log.checkpoint(13), forked.checkpoint(13))


def test_fork_hidden_behind_growth_is_refused() -> None:
    log = Log(LEAVES)
    forked = Log([*LEAVES[:5], b"rewritten", *LEAVES[6:]])
    witness, _ = new_witness()
    witness.observe(log.signed(8), [])
    proof = forked.proof(8, 20)  # an honest proof, but of the other history
    with pytest.raises(InconsistentCheckpoint) as info:
        witness.observe(forked.signed(20), proof)
    assert info.value.reason == "bad_consistency_proof"
    assert info.value.proof == tuple(proof)
    _assert_both_heads(info.value, log.checkpoint(8), forked.checkpoint(20))
    # The honest continuation is still accepted afterwards.
    witness.observe(log.signed(20), log.proof(8, 20))


@pytest.mark.parametrize("damage", ["flip", "drop", "extra", "empty", "wrong_first"])
def test_bad_consistency_proof_is_refused(damage: str) -> None:
    log = Log(LEAVES)
    witness, _ = new_witness()
    witness.observe(log.signed(6), [])
    proof = log.proof(6, 27)
    if damage == "flip":
        proof[1] = bytes([proof[1][0] ^ 0x10]) + proof[1][1:]
    elif damage == "drop":
        proof = proof[:-1]
    elif damage == "extra":
        proof = [*proof, proof[0]]
    elif damage == "empty":
        proof = []
    else:
        proof = log.proof(5, 27)
    with pytest.raises(InconsistentCheckpoint) as info:
        witness.observe(log.signed(27), proof)
    assert info.value.reason == "bad_consistency_proof"
    _assert_both_heads(info.value, log.checkpoint(6), log.checkpoint(27))


def test_bad_or_unknown_log_signature_is_refused() -> None:
    log = Log(LEAVES)
    witness, _ = new_witness()
    impostor = Log(LEAVES, signer=Ed25519Signer.from_seed(ORIGIN, b"\x03" * 32))
    with pytest.raises(VerificationError) as info:
        witness.observe(impostor.signed(4), [])
    assert not isinstance(info.value, InconsistentCheckpoint)
    assert info.value.reason == "unknown_signer"
    tampered = log.signed(4).replace("\n4\n", "\n5\n", 1)
    with pytest.raises(VerificationError) as info:
        witness.observe(tampered, [])
    assert info.value.reason == "bad_signature"
    stranger = Ed25519Signer.from_seed("other.linkage-hub/ledger", b"\x01" * 32)
    note = sign_checkpoint(Checkpoint("other.linkage-hub/ledger", 1, leaf_hash(b"a")), stranger)
    with pytest.raises(VerificationError) as info:
        witness.observe(note, [])
    assert info.value.reason == "unknown_origin"
    assert witness.state == {}
