"""The hub's signed view of the ledger: issue checkpoints (store, then publish) and serve proofs.

:class:`Checkpointer` signs a C2SP checkpoint of the current tree head with the hub key,
but only after checking it against the stored nodes and the previous checkpoint, so the
hub never signs a root its own nodes do not support nor a fork of what it signed before.
It stores the note first (one row per size), then publishes it to ``linkage.checkpoints``
(at least once: after a restart the latest stored checkpoint is published again, and a
checkpoint issued on demand by the CLI is published at the worker's next tick).
:class:`LedgerProofs` answers inclusion and consistency proof requests (contract §5)
against signed checkpoints, issuing one on demand when an entry is not covered yet.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable

from audit.checkpoint import Checkpoint, sign_checkpoint
from audit.checkpoint_store import (
    CheckpointStore,
    Cosignature,
    StoredCheckpoint,
)
from audit.errors import LedgerError, VerificationError
from audit.ledger import LedgerReader, TreeHead
from audit.merkle import verify_consistency
from audit.note import open_note
from audit.note_keys import CosignatureVerifier, Ed25519Signer, Ed25519Verifier
from audit.proofs import ConsistencyProof, InclusionProof

__all__ = ["Checkpointer", "LedgerProofs", "due"]

log = logging.getLogger(__name__)


def due(grown_by: int, seconds_since_last: float, interval: float, every: int) -> bool:
    """Whether to issue a checkpoint: the tree grew, and enough time or entries went by."""
    return grown_by > 0 and (seconds_since_last >= interval or grown_by >= every)


class Checkpointer:
    """Signs, stores and publishes checkpoints of the ledger's tree head."""

    def __init__(
        self,
        ledger: LedgerReader,
        store: CheckpointStore,
        signer: Ed25519Signer,
        *,
        publish: Callable[[StoredCheckpoint], Awaitable[None]] | None = None,
        interval: float = 5.0,
        every: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ledger = ledger
        self._store = store
        self._signer = signer
        self._publish_note = publish
        self._interval = interval
        self._every = every
        self._clock = clock
        self._last_issued = -math.inf
        self._published = -1

    @property
    def origin(self) -> str:
        return self._signer.name

    @property
    def verifier(self) -> Ed25519Verifier:
        return self._signer.verifier()

    async def issue(self) -> StoredCheckpoint:
        """The checkpoint of the current tree head, signed and stored now if it is new."""
        previous = await self._store.latest()  # read before the head: head >= previous
        head = await self._ledger.tree_head()
        return await self._issue(previous, head)

    async def tick(self) -> StoredCheckpoint | None:
        """One round of the worker's policy: issue if :func:`due`, then publish what is new."""
        previous = await self._store.latest()
        head = await self._ledger.tree_head()
        grown = head.size - (previous.tree_size if previous else 0)
        issued = None
        now = self._clock()
        if due(grown, now - self._last_issued, self._interval, self._every):
            issued = previous = await self._issue(previous, head)
            self._last_issued = now
        if previous is not None and previous.tree_size > self._published:
            await self._publish(previous)
        return issued

    async def _issue(self, previous: StoredCheckpoint | None, head: TreeHead) -> StoredCheckpoint:
        if previous is not None and previous.tree_size >= head.size:
            if previous.tree_size > head.size:
                raise LedgerError(
                    "ledger_shrank",
                    f"账本大小 {head.size} 小于已签名检查点的大小 {previous.tree_size}",
                    f"ledger size {head.size} is below the signed checkpoint size "
                    f"{previous.tree_size}",
                )
            self._check_same_root(previous, head)
            return previous
        root = await self._ledger.root_at(head.size)
        if root != head.root_hash:
            raise LedgerError(
                "head_mismatch",
                f"账本头的根与大小 {head.size} 的节点不符，拒绝签名",
                f"the ledger head's root does not match the nodes at size {head.size}; "
                "refusing to sign",
            )
        if previous is not None:
            proof = await self._ledger.consistency_proof(previous.tree_size, head.size)
            try:
                verify_consistency(previous.tree_size, head.size, previous.root_hash, root, proof)
            except VerificationError as exc:
                raise LedgerError(
                    "would_fork",
                    f"大小 {head.size} 的树与已签名的大小 {previous.tree_size} 不一致，拒绝签名"
                    f"（{exc.message_zh}）",
                    f"the tree of size {head.size} is not consistent with the signed size "
                    f"{previous.tree_size}; refusing to sign ({exc.message_en})",
                ) from exc
        note = sign_checkpoint(Checkpoint(self.origin, head.size, root), self._signer)
        stored, created = await self._store.add(note)
        self._check_same_root(stored, head)
        if created:
            log.info("checkpoint issued: size %d", stored.tree_size)
        return stored

    @staticmethod
    def _check_same_root(stored: StoredCheckpoint, head: TreeHead) -> None:
        if stored.root_hash != head.root_hash:
            raise LedgerError(
                "fork",
                f"已存储的大小 {stored.tree_size} 检查点的根与账本头不同（分叉）",
                f"the stored checkpoint of size {stored.tree_size} has another root than "
                "the ledger head (fork)",
            )

    async def _publish(self, stored: StoredCheckpoint) -> None:
        if self._publish_note is not None:
            await self._publish_note(stored)
        self._published = stored.tree_size


class LedgerProofs:
    """Inclusion and consistency proofs against signed checkpoints; cosignature intake."""

    def __init__(self, ledger: LedgerReader, store: CheckpointStore,
                 checkpointer: Checkpointer,
                 witnesses: Callable[[], Iterable[CosignatureVerifier]] = tuple) -> None:
        self.ledger = ledger
        self.store = store
        self.checkpointer = checkpointer
        self.witnesses = witnesses
        """The witnesses the operator configured (read at each submission, so adding one
        needs no restart): the only ones whose cosignatures are kept, so the store holds at
        most one line per configured witness per checkpoint."""

    async def latest(self) -> StoredCheckpoint | None:
        return await self.store.latest()

    async def covering(self, size: int) -> StoredCheckpoint:
        """The latest checkpoint if it covers ``size`` entries, else a new one for the head."""
        latest = await self.store.latest()
        if latest is not None and latest.tree_size >= size:
            return latest
        issued = await self.checkpointer.issue()
        if issued.tree_size < size:
            raise LedgerError("not_covered", f"账本还没有 {size} 个条目",
                              f"the ledger does not have {size} entries yet")
        return issued

    async def checkpoint_at(self, tree_size: int) -> StoredCheckpoint:
        stored = await self.store.at(tree_size)
        if stored is None:
            raise LedgerError("no_checkpoint", f"没有大小为 {tree_size} 的检查点",
                              f"no checkpoint of size {tree_size}")
        return stored

    async def inclusion(
        self, *, event_id: str | None = None, index: int | None = None,
        tree_size: int | None = None,
    ) -> InclusionProof:
        """Inclusion proof of an entry (by event id or index) against a signed checkpoint.

        Without ``tree_size`` the latest checkpoint is used (one is issued if it does not
        cover the entry yet); with it, the checkpoint of exactly that size.
        """
        if event_id is not None:
            try:
                event_id = str(uuid.UUID(event_id))
            except ValueError as exc:
                raise ValueError(
                    f"事件编号不是 UUID / event id is not a UUID: {event_id!r}") from exc
            entry = await self.ledger.entry_by_event_id(event_id)
        elif index is not None:
            entry = await self.ledger.entry_at(index)
        else:
            raise ValueError("need event_id or index")
        if entry is None:
            what = event_id if event_id is not None else f"#{index}"
            raise LedgerError("unknown_entry", f"账本中没有条目 {what}",
                              f"no ledger entry {what}")
        if tree_size is None:
            checkpoint = await self.covering(entry.ledger_index + 1)
        else:
            checkpoint = await self.checkpoint_at(tree_size)
            if entry.ledger_index >= tree_size:
                raise LedgerError("not_covered",
                                  f"条目 {entry.ledger_index} 不在大小为 {tree_size} 的树内",
                                  f"entry {entry.ledger_index} is not in the tree of size "
                                  f"{tree_size}")
        hashes = await self.ledger.inclusion_proof(entry.ledger_index, checkpoint.tree_size)
        return InclusionProof(leaf_index=entry.ledger_index, tree_size=checkpoint.tree_size,
                              leaf_hash=entry.leaf_hash, hashes=hashes, checkpoint=checkpoint.note)

    async def consistency(self, first: int, second: int) -> ConsistencyProof:
        """Consistency proof between two tree sizes, both within the current tree."""
        head = await self.ledger.tree_head()
        if not 0 <= first <= second <= head.size:
            raise ValueError(
                f"需要 0 <= FIRST <= SECOND <= {head.size} / need 0 <= first <= second <= "
                f"{head.size}, got {first}, {second}"
            )
        hashes = await self.ledger.consistency_proof(first, second)
        return ConsistencyProof(first=first, second=second, hashes=hashes)

    async def cosigned(
        self, tree_size: int | None = None
    ) -> tuple[StoredCheckpoint, list[Cosignature]]:
        """A checkpoint (latest by default) and the witnesses' cosignatures on it."""
        stored = await (self.checkpoint_at(tree_size) if tree_size is not None
                        else self.covering(0))
        return stored, await self.store.cosignatures(stored.tree_size)

    async def add_cosignature(self, tree_size: int, line: str,
                              witness: CosignatureVerifier) -> bool:
        """Verify a configured witness's cosignature line on a stored checkpoint, then store it.

        A witness not in the operator's list is refused (``unknown_witness``) before anything
        is read or stored: anyone can mint a witness key, so an open intake would let anyone
        fill the append-only cosignature table.
        """
        if witness.vkey() not in {w.vkey() for w in self.witnesses()}:
            raise LedgerError(
                "unknown_witness",
                f"见证 {witness.name} 不在运维配置的见证名单中,联署不予保存",
                f"witness {witness.name} is not one the operator configured; its cosignature "
                "is not kept")
        stored = await self.checkpoint_at(tree_size)
        if not line.endswith("\n"):
            line += "\n"
        note = open_note(stored.note + line, [witness])  # raises unless the witness signed
        sig = note.sigs[0]
        return await self.store.add_cosignature(tree_size, sig.name, sig.key_id.hex(), sig.line())
