"""Builds the hub's services from settings: PostgreSQL and Kafka adapters plugged into ports."""

from __future__ import annotations

import logging

from audit.checkpoint_store import StoredCheckpoint
from audit.checkpointer import Checkpointer, LedgerProofs
from audit.note_keys import CosignatureVerifier, Ed25519Signer, parse_vkey
from hub.adapters.checkpoint_store import PostgresCheckpointStore
from hub.adapters.ledger_store import PostgresLedger
from hub.adapters.postgres import Pool
from hub.settings import Settings
from schemas import topics
from streams.ports import Publisher

log = logging.getLogger(__name__)


def hub_signer(settings: Settings) -> Ed25519Signer:
    """The checkpoint signer: the hub's Ed25519 key, named after the origin."""
    return Ed25519Signer(settings.origin, settings.hub_key().private_key)


def open_ledger(pool: Pool, settings: Settings, publisher: Publisher | None = None,
                local_witness: CosignatureVerifier | None = None) -> LedgerProofs:
    """The ledger, its checkpoint store, a checkpointer with the hub key, and proofs.

    With a publisher, each new checkpoint also goes to `linkage.checkpoints` (key = origin).
    Cosignatures are kept from the configured witnesses (Settings.witness_vkeys) and from
    `local_witness`: the operator's own `witness run`, which writes to the database directly.
    """
    ledger = PostgresLedger(pool)
    store = PostgresCheckpointStore(pool)
    signer = hub_signer(settings)

    async def publish(stored: StoredCheckpoint) -> None:
        assert publisher is not None
        acked = await publisher.enqueue(topics.CHECKPOINTS, signer.name.encode("utf-8"),
                                        stored.note.encode("utf-8"), [])
        await acked

    checkpointer = Checkpointer(ledger, store, signer,
                                publish=publish if publisher is not None else None,
                                interval=settings.checkpoint_interval,
                                every=settings.checkpoint_every)
    def configured() -> list[CosignatureVerifier]:
        return witnesses(settings) + ([local_witness] if local_witness else [])

    return LedgerProofs(ledger, store, checkpointer, configured)


def witnesses(settings: Settings) -> list[CosignatureVerifier]:
    """The operator's witnesses (Settings.witness_vkeys); a bad entry is logged and skipped."""
    found: list[CosignatureVerifier] = []
    for vkey in settings.witness_vkeys():
        try:
            verifier = parse_vkey(vkey)
        except ValueError as exc:
            log.error("见证密钥无效,已忽略 / bad witness vkey ignored %r: %s", vkey, exc)
            continue
        if not isinstance(verifier, CosignatureVerifier):
            log.error("见证密钥不是 tlog-cosignature/v1 (0x04),已忽略 / witness vkey %r is not a "
                      "tlog-cosignature/v1 (type 0x04) key: ignored", vkey)
            continue
        found.append(verifier)
    return found
