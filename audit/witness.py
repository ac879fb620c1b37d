"""A pure checkpoint witness: verify each new checkpoint extends the last one seen, then cosign.

The witness keeps, per log origin, the latest checkpoint it has cosigned. A new signed
checkpoint is cosigned (tlog-cosignature/v1, https://c2sp.org/tlog-cosignature) only if
the log's signature verifies, the tree did not shrink, a same-size checkpoint has the
same root (else it is a fork), and the consistency proof from the last seen size holds.
Storage of the state is the caller's business: see :attr:`Witness.state`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from audit.checkpoint import Checkpoint, open_checkpoint
from audit.errors import InconsistentCheckpoint, VerificationError
from audit.merkle import verify_consistency
from audit.note import signature_line
from audit.note_keys import CosignatureSigner, NoteVerifier

__all__ = ["Witness"]


class Witness:
    """Cosigns checkpoints of known logs that are consistent with what it has already seen.

    ``logs`` are the log verifiers; a log's checkpoints are looked up by its origin, which
    must equal the verifier's key name (as the hub's does). ``state`` restores the last
    seen checkpoint per origin; an origin with no state is trusted on first use.
    """

    def __init__(
        self,
        signer: CosignatureSigner,
        logs: Iterable[NoteVerifier],
        state: Mapping[str, Checkpoint] | None = None,
    ) -> None:
        self._signer = signer
        self._logs: dict[str, list[NoteVerifier]] = {}
        for v in logs:
            self._logs.setdefault(v.name, []).append(v)
        self._state: dict[str, Checkpoint] = dict(state or {})

    @property
    def state(self) -> dict[str, Checkpoint]:
        """Latest cosigned checkpoint per origin (a copy; persist it after each observe)."""
        return dict(self._state)

    def latest(self, origin: str) -> Checkpoint | None:
        """The checkpoint a consistency proof for ``origin`` must start from."""
        return self._state.get(origin)

    def observe(
        self, signed_checkpoint: str, consistency_proof: Sequence[bytes], *, now: int | None = None
    ) -> str:
        """Check a signed checkpoint against the last one seen; return the cosignature line.

        ``consistency_proof`` must go from :meth:`latest` ``.size`` to the new size. Raises
        :class:`VerificationError` for a bad or unknown log signature and
        :class:`InconsistentCheckpoint` (with both checkpoints) for shrink, fork or bad proof.
        """
        origin = signed_checkpoint.split("\n", 1)[0]
        verifiers = self._logs.get(origin)
        if not verifiers:
            raise VerificationError(
                "unknown_origin", f"未知日志来源 {origin!r}", f"unknown log origin {origin!r}"
            )
        new = open_checkpoint(signed_checkpoint, verifiers, origin=origin)
        old = self._state.get(origin)
        proof = list(consistency_proof)
        if old is not None:
            self._check(old, new, proof)
        self._state[origin] = new
        signer = self._signer if now is None else _FixedTimeSigner(self._signer, now)
        return signature_line(new.to_text(), signer)

    @staticmethod
    def _check(old: Checkpoint, new: Checkpoint, proof: list[bytes]) -> None:
        if new.size < old.size:
            raise InconsistentCheckpoint(
                "size_shrunk",
                old,
                new,
                proof,
                f"树大小从 {old.size} 缩小到 {new.size}",
                f"tree shrank from {old.size} to {new.size}",
            )
        if new.size == old.size and new.root_hash != old.root_hash:
            raise InconsistentCheckpoint(
                "fork",
                old,
                new,
                proof,
                f"同一大小 {new.size} 出现两个不同的根（分叉）",
                f"two different roots for the same size {new.size} (fork)",
            )
        try:
            verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)
        except VerificationError as exc:
            raise InconsistentCheckpoint(
                "bad_consistency_proof",
                old,
                new,
                proof,
                f"一致性证明无效（{exc.message_zh}）",
                f"consistency proof does not verify ({exc.message_en})",
            ) from exc


class _FixedTimeSigner:
    """A cosigner view that signs at a given time (for callers supplying ``now``)."""

    def __init__(self, signer: CosignatureSigner, now: int) -> None:
        self._signer = signer
        self._now = now

    @property
    def name(self) -> str:
        return self._signer.name

    @property
    def key_id(self) -> bytes:
        return self._signer.key_id

    def sign(self, text: str) -> bytes:
        return self._signer.sign_at(text, self._now)
