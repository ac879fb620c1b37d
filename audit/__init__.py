"""Tamper-evident ledger: RFC 9162 Merkle proofs, C2SP checkpoints, signed notes, witnessing."""

from audit.checkpoint import Checkpoint, open_checkpoint, origin_for, sign_checkpoint
from audit.errors import InconsistentCheckpoint, LedgerError, VerificationError
from audit.merkle import (
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_at,
    verify_consistency,
    verify_inclusion,
)
from audit.note import (
    CosignatureSigner,
    CosignatureVerifier,
    Ed25519Signer,
    Ed25519Verifier,
    open_note,
    parse_vkey,
    sign_note,
)
from audit.offline_verify import verify_export
from audit.proofs import ConsistencyProof, InclusionProof, verify_inclusion_json
from audit.witness import Witness

__all__ = [
    "Checkpoint",
    "CompactRange",
    "ConsistencyProof",
    "CosignatureSigner",
    "CosignatureVerifier",
    "Ed25519Signer",
    "Ed25519Verifier",
    "InclusionProof",
    "InconsistentCheckpoint",
    "LedgerError",
    "VerificationError",
    "Witness",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "open_checkpoint",
    "open_note",
    "origin_for",
    "parse_vkey",
    "root_at",
    "sign_checkpoint",
    "sign_note",
    "verify_consistency",
    "verify_export",
    "verify_inclusion",
    "verify_inclusion_json",
]
