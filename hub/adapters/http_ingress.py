"""HTTP ingress's drivers (contract section 8): a Kafka producer onto `linkage.ingress.<agency>`
that reports where each record landed, and the stored outcomes read back from PostgreSQL.

The workbench hands an HTTP body to Kafka exactly as an agency's own producer would, so the
worker judges it like any record; the outcome is then found by the record's position and
bytes (topic, partition, offset, SHA-256), the very key the ingress processor stores it under.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from hub.adapters.kafka_publisher import BrokerUnavailable
from hub.adapters.postgres import translated_errors
from schemas.receipt import ReceiptStatus
from schemas.topics import MAX_MESSAGE_BYTES
from streams.ports import RecordKey, StoredOutcome

__all__ = ["IngressProducer", "PostgresReceipts"]


class IngressProducer:
    """One long-lived aiokafka producer (acks=all), started on first use."""

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, acks="all",
                                            max_request_size=MAX_MESSAGE_BYTES + 64 * 1024)
                try:
                    await producer.start()
                except (KafkaError, OSError) as exc:
                    await producer.stop()
                    raise BrokerUnavailable(f"Kafka 不可用 / Kafka unavailable: {exc}") from exc
                self._producer = producer
            return self._producer

    async def send(self, topic: str, key: bytes | None, value: bytes) -> tuple[int, int]:
        """Produce one record and wait for the broker's ack: (partition, offset)."""
        producer = await self._started()
        try:
            meta = await producer.send_and_wait(topic, value, key=key)
        except (KafkaError, OSError) as exc:
            raise BrokerUnavailable(f"Kafka 未确认 / Kafka did not acknowledge: {exc}") from exc
        return int(meta.partition), int(meta.offset)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


def _outcome(row: asyncpg.Record) -> StoredOutcome:
    key: RecordKey = (row["topic"], row["kpartition"], row["koffset"], bytes(row["record_hash"]))
    return StoredOutcome(key, ReceiptStatus(row["status"]),
                         str(row["event_id"]) if row["event_id"] else None, row["received_at"],
                         row["reason"], row["detail"], row["ledger_index"],
                         bytes(row["leaf_hash"]) if row["leaf_hash"] else None, None)


_COLUMNS = ("topic, kpartition, koffset, record_hash, event_id, status, reason, detail,"
            " ledger_index, leaf_hash, received_at")


class PostgresReceipts:
    """Read-only: registered agencies and the ingress processor's stored outcomes."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def agency_registered(self, agency_id: str) -> bool:
        async with translated_errors():
            return bool(await self._pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM agencies WHERE agency_id = $1)", agency_id))

    async def outcomes(self, keys: Sequence[RecordKey]) -> dict[RecordKey, StoredOutcome]:
        """The outcomes of the records at these positions with these bytes, once settled."""
        async with translated_errors():
            rows = await self._pool.fetch(
                f"SELECT {_COLUMNS} FROM ingress_outcomes JOIN unnest($1::text[], $2::int[],"
                " $3::bigint[], $4::bytea[]) AS w(topic, kpartition, koffset, record_hash)"
                " USING (topic, kpartition, koffset, record_hash)",
                [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys],
                [k[3] for k in keys])
        found = [_outcome(row) for row in rows]
        return {o.key: o for o in found}

    async def for_event(self, event_id: str) -> StoredOutcome | None:
        """The receipt that speaks for an event id: its acceptance if there is one (anyone
        can send other bytes naming the id and have them rejected), else the latest outcome."""
        async with translated_errors():
            row = await self._pool.fetchrow(
                f"SELECT {_COLUMNS} FROM ingress_outcomes o WHERE event_id = $1"
                " AND EXISTS (SELECT 1 FROM agencies a"
                "             WHERE 'linkage.ingress.' || a.agency_id = o.topic)"
                " ORDER BY status = 'accepted' DESC, received_at DESC LIMIT 1", event_id)
        return _outcome(row) if row else None
