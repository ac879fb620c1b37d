"""JSON wire forms of inclusion and consistency proofs (CONTRACT §5), hashes in standard base64.

Inclusion: ``{"leaf_index", "tree_size", "leaf_hash", "hashes": [...], "checkpoint": "<note>"}``.
Consistency: ``{"first", "second", "hashes": [...]}``.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer
from pydantic import ValidationError as PydanticValidationError

from audit.checkpoint import Checkpoint, open_checkpoint
from audit.errors import VerificationError
from audit.merkle import HASH_SIZE, leaf_hash, verify_consistency, verify_inclusion
from audit.note_keys import NoteVerifier
from schemas.b64 import strict_b64decode

__all__ = [
    "ConsistencyProof",
    "InclusionProof",
    "verify_inclusion_json",
]


def _hash_in(value: Any) -> Any:
    """Accept raw 32-byte hashes from Python and canonical standard base64 from JSON."""
    if isinstance(value, str):
        try:
            value = strict_b64decode(value)
        except ValueError as exc:
            raise ValueError(f"hash: {exc}") from exc
    if isinstance(value, bytes) and len(value) != HASH_SIZE:
        raise ValueError(f"hash must be {HASH_SIZE} bytes")
    return value


def _hash_out(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


Hash = Annotated[
    bytes, BeforeValidator(_hash_in), PlainSerializer(_hash_out, return_type=str, when_used="json")
]
"""A 32-byte hash: bytes in Python, standard base64 in JSON."""

_CONFIG = ConfigDict(frozen=True, extra="forbid", strict=False)


class InclusionProof(BaseModel):
    """Proof that leaf ``leaf_index`` is in the tree of ``tree_size`` signed in ``checkpoint``."""

    model_config = _CONFIG

    leaf_index: int = Field(ge=0)
    tree_size: int = Field(ge=1)
    leaf_hash: Hash
    hashes: list[Hash]
    checkpoint: str

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, data: str | bytes) -> InclusionProof:
        return cls.model_validate_json(data)


class ConsistencyProof(BaseModel):
    """Proof that the tree of ``second`` leaves extends the tree of ``first`` leaves."""

    model_config = _CONFIG

    first: int = Field(ge=0)
    second: int = Field(ge=0)
    hashes: list[Hash]

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, data: str | bytes) -> ConsistencyProof:
        return cls.model_validate_json(data)

    def verify(self, first_root: bytes, second_root: bytes) -> None:
        """Check the proof against the two roots (raises :class:`VerificationError`)."""
        verify_consistency(self.first, self.second, first_root, second_root, self.hashes)


def _load_inclusion(doc: InclusionProof | Mapping[str, Any] | str | bytes) -> InclusionProof:
    if isinstance(doc, InclusionProof):
        return doc
    try:
        if isinstance(doc, str | bytes):
            return InclusionProof.model_validate_json(doc)
        return InclusionProof.model_validate(doc)
    except PydanticValidationError as exc:
        raise VerificationError(
            "malformed_proof", f"包含证明格式错误：{exc}", f"malformed inclusion proof: {exc}"
        ) from exc


def verify_inclusion_json(
    doc: InclusionProof | Mapping[str, Any] | str | bytes,
    leaf: bytes,
    verifier: NoteVerifier | Iterable[NoteVerifier],
    *,
    leaf_is_hash: bool = False,
    origin: str | None = None,
) -> Checkpoint:
    """Verify an inclusion proof document end to end and return its verified checkpoint.

    ``leaf`` is the leaf's bytes, or its RFC 9162 leaf hash when ``leaf_is_hash`` is true.
    Checks the checkpoint signature (and origin, if given), that the checkpoint's size is
    the proof's tree size, that ``leaf`` matches ``leaf_hash``, and the inclusion proof.
    """
    proof = _load_inclusion(doc)
    checkpoint = open_checkpoint(proof.checkpoint, verifier, origin=origin)
    if checkpoint.size != proof.tree_size:
        raise VerificationError(
            "size_mismatch",
            f"证明的树大小 {proof.tree_size} 与检查点大小 {checkpoint.size} 不符",
            f"proof tree size {proof.tree_size} differs from checkpoint size {checkpoint.size}",
            index=proof.leaf_index,
        )
    expected = leaf if leaf_is_hash else leaf_hash(leaf)
    if expected != proof.leaf_hash:
        raise VerificationError(
            "leaf_mismatch",
            f"叶子与证明中的 leaf_hash 不符（索引 {proof.leaf_index}）",
            f"leaf does not match the proof's leaf_hash (index {proof.leaf_index})",
            index=proof.leaf_index,
        )
    verify_inclusion(
        proof.leaf_hash, proof.leaf_index, proof.tree_size, proof.hashes, checkpoint.root_hash
    )
    return checkpoint
