"""`linkage-hub witness run`: cosign the hub's checkpoints that extend what this witness saw.

The witness reads new checkpoints and consistency proofs from the database, checks each
with :class:`audit.witness.Witness` (hub signature, no shrink, no fork, valid proof from
the last checkpoint it cosigned), stores its cosignature and persists its state file
after every checkpoint. An inconsistent checkpoint stops it with a non-zero exit and both
tree heads in the message: that is evidence the log misbehaved.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path

from audit.checkpoint import Checkpoint, parse_checkpoint
from audit.checkpoint_store import StoredCheckpoint
from audit.checkpointer import LedgerProofs
from audit.errors import InconsistentCheckpoint, VerificationError
from audit.note_keys import CosignatureSigner, Ed25519Verifier
from audit.witness import Witness
from hub.adapters.postgres import translated_errors
from hub.commands.common import CliError, database
from hub.settings import Settings
from hub.wiring import open_ledger
from schemas.signing import KeyFormatError, load_private_pem, load_public_pem, raw_public_bytes

STATE_VERSION = 1
EXIT_INCONSISTENT = 3
BATCH = 100


def load_state(path: Path) -> dict[str, Checkpoint]:
    """The last cosigned checkpoint per origin, from the state file (empty if none yet)."""
    if not path.exists():
        return {}
    doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("version") != STATE_VERSION:
        raise CliError(f"见证状态文件版本不对 / unsupported witness state file: {path}")
    return {origin: parse_checkpoint(text) for origin, text in doc["logs"].items()}


def save_state(path: Path, state: dict[str, Checkpoint]) -> None:
    """Write the state atomically (a crash leaves the old or the new file, never half)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"version": STATE_VERSION,
                               "logs": {o: c.to_text() for o, c in state.items()}}, indent=2),
                   encoding="utf-8")
    os.replace(tmp, path)


def _hub_verifier(settings: Settings, pem_path: str | None) -> Ed25519Verifier:
    path = Path(pem_path) if pem_path else settings.keys_dir / "hub.pub.pem"
    if not path.exists():
        raise CliError(f"找不到枢纽公钥 / hub public key not found: {path} (use --hub-key)")
    return Ed25519Verifier(settings.origin, raw_public_bytes(load_public_pem(path.read_bytes())))


def _signer(name: str, key_path: str) -> CosignatureSigner:
    try:
        return CosignatureSigner(name, load_private_pem(Path(key_path).read_bytes()))
    except (OSError, KeyFormatError) as exc:
        raise CliError(f"无法读取见证私钥 / cannot read the witness key {key_path}: {exc}") from exc
    except ValueError as exc:
        raise CliError(f"见证名称无效 / invalid witness name {name!r}: {exc}") from exc


async def _pending(ledger: LedgerProofs, last: Checkpoint | None) -> list[StoredCheckpoint]:
    """Checkpoints to look at: from the last seen size on (to catch a same-size fork)."""
    if last is None:  # trust on first use: start from the latest checkpoint
        latest = await ledger.store.latest()
        return [latest] if latest else []
    return await ledger.store.since(last.size, BATCH)


async def witness_round(ledger: LedgerProofs, witness: Witness, signer: CosignatureSigner,
                        origin: str, state_path: Path) -> int:
    """Observe every new checkpoint once; returns how many were cosigned."""
    cosigned = 0
    for stored in await _pending(ledger, witness.latest(origin)):
        last = witness.latest(origin)
        if last is not None and (stored.tree_size, stored.root_hash) == (last.size,
                                                                         last.root_hash):
            continue
        proof = (await ledger.ledger.consistency_proof(last.size, stored.tree_size)
                 if last is not None and last.size <= stored.tree_size else [])
        line = witness.observe(stored.note, proof)
        await ledger.add_cosignature(stored.tree_size, line, signer.verifier())
        save_state(state_path, witness.state)
        cosigned += 1
        print(f"已联署大小 {stored.tree_size} 的检查点 / cosigned checkpoint of size "
              f"{stored.tree_size}", flush=True)
    return cosigned


async def witness_run(settings: Settings, args: argparse.Namespace) -> None:
    state_path = Path(args.state)
    signer = _signer(args.name, args.key)
    witness = Witness(signer, [_hub_verifier(settings, args.hub_key)], load_state(state_path))
    async with database(settings) as pool, translated_errors():
        ledger = open_ledger(pool, settings, local_witness=signer.verifier())
        while True:
            try:
                await witness_round(ledger, witness, signer, settings.origin, state_path)
            except InconsistentCheckpoint as exc:
                raise CliError(f"拒绝联署，枢纽日志不一致 / refusing to cosign, the hub's log is "
                               f"inconsistent:\n{exc.diagnostics()}", EXIT_INCONSISTENT) from exc
            except VerificationError as exc:
                raise CliError(f"拒绝联署 / refusing to cosign: {exc.diagnostics()}") from exc
            if args.once:
                return
            await asyncio.sleep(args.interval)
