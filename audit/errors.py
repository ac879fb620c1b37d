"""Errors raised by the ledger's proof, note and checkpoint code, each with a reason code.

Hierarchy::

    LedgerError                  any ledger failure; ``reason`` is a stable machine code
     └── VerificationError       a proof, signature, note or export did not verify
          └── InconsistentCheckpoint   two checkpoints of one log cannot both be true;
                                       carries both checkpoints and the proof as evidence

Every error carries a Chinese and an English message; ``diagnostics()`` joins them so a
CLI or API can explain the failure without this package knowing about either.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from audit.checkpoint import Checkpoint

__all__ = ["InconsistentCheckpoint", "LedgerError", "VerificationError"]


class LedgerError(Exception):
    """Base error: ``reason`` is a machine code, the messages are for people."""

    reason: str
    message_zh: str
    message_en: str

    def __init__(self, reason: str, message_zh: str, message_en: str) -> None:
        self.reason = reason
        self.message_zh = message_zh
        self.message_en = message_en
        super().__init__(self.diagnostics())

    def diagnostics(self) -> str:
        """Both messages, Chinese first: ``"<zh> / <en>"``."""
        return f"{self.message_zh} / {self.message_en}"


class VerificationError(LedgerError):
    """A proof, signature, note, checkpoint or exported ledger failed verification.

    ``index`` is the first ledger index found bad, when the failure can be pinned to one.
    """

    index: int | None

    def __init__(
        self, reason: str, message_zh: str, message_en: str, *, index: int | None = None
    ) -> None:
        self.index = index
        super().__init__(reason, message_zh, message_en)


def _head(cp: Checkpoint) -> str:
    return f"({cp.origin}, {cp.size}, {base64.b64encode(cp.root_hash).decode('ascii')})"


class InconsistentCheckpoint(VerificationError):
    """Two checkpoints of the same log are not append-only consistent (shrink, fork or bad proof).

    ``old`` is the checkpoint already trusted, ``new`` the one offered, ``proof`` the
    consistency proof offered with it; together they are evidence of misbehaviour.
    """

    old: Checkpoint
    new: Checkpoint
    proof: tuple[bytes, ...]

    def __init__(
        self,
        reason: str,
        old: Checkpoint,
        new: Checkpoint,
        proof: Sequence[bytes],
        detail_zh: str,
        detail_en: str,
    ) -> None:
        self.old = old
        self.new = new
        self.proof = tuple(proof)
        super().__init__(
            reason,
            f"检查点不一致：{detail_zh}；已见 {_head(old)}，新 {_head(new)}",
            f"inconsistent checkpoint: {detail_en}; seen {_head(old)}, new {_head(new)}",
        )
