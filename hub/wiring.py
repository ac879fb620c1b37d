"""Builds the hub's services from settings: PostgreSQL and Kafka adapters plugged into ports."""

from __future__ import annotations

import asyncpg

from audit.checkpoint_store import StoredCheckpoint
from audit.checkpointer import Checkpointer, LedgerProofs
from audit.note_keys import Ed25519Signer
from hub.adapters.checkpoint_store import PostgresCheckpointStore
from hub.adapters.ledger_store import PostgresLedger
from hub.settings import Settings
from schemas import topics
from streams.ports import Publisher


def hub_signer(settings: Settings) -> Ed25519Signer:
    """The checkpoint signer: the hub's Ed25519 key, named after the origin."""
    return Ed25519Signer(settings.origin, settings.hub_key().private_key)


def open_ledger(pool: asyncpg.Pool, settings: Settings,
                publisher: Publisher | None = None) -> LedgerProofs:
    """The ledger, its checkpoint store, a checkpointer with the hub key, and proofs.

    With a publisher, each new checkpoint also goes to `linkage.checkpoints` (key = origin).
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
    return LedgerProofs(ledger, store, checkpointer)
