"""Ingress processing: verify a batch of records, decide each one's single outcome in one
PostgreSQL transaction, then publish events, quarantine and signed receipts.

Effects are keyed so that redelivery is harmless: a record seen before (same topic,
partition, offset and bytes) gets its stored outcome again; an event id already in the
ledger is a duplicate. The caller acknowledges the Kafka offsets only after `process`
returns, i.e. after the database commit and the publishes were acknowledged.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from audit.ledger import NewEntry
from hub.adapters.ledger_store import PostgresLedger
from hub.adapters.postgres import translated_errors
from schemas import topics
from schemas.dsse import RECEIPT_PAYLOAD_TYPE
from schemas.reasons import Reason
from schemas.receipt import Receipt, ReceiptStatus
from schemas.signing import SigningKey
from schemas.topics import topic_agency
from streams import metrics
from streams.ports import Clock, Publisher, utc_now
from streams.verification import (
    RegistrySnapshot,
    Rejected,
    VerifiedEvent,
    verify_record,
)

log = logging.getLogger(__name__)

REGISTRY_TTL = 1.0
"""Seconds a registry snapshot is trusted: a revoked key stops verifying within this time."""


@dataclass(frozen=True)
class IngressRecord:
    """One Kafka record from a `linkage.ingress.<agency>` topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None

    @property
    def record_hash(self) -> bytes:
        return hashlib.sha256(self.value or b"").digest()


@dataclass(frozen=True)
class Outcome:
    """The single outcome of one record."""

    record: IngressRecord
    status: ReceiptStatus
    event_id: str | None
    received_at: datetime
    reason: str | None = None
    detail: str | None = None
    ledger_index: int | None = None
    leaf_hash: bytes | None = None
    case_id: str | None = None
    replayed: bool = False

    @property
    def agency_id(self) -> str:
        return topic_agency(self.record.topic) or "unknown"

    def receipt(self) -> Receipt:
        return Receipt(
            event_id=self.event_id,
            status=self.status,
            reason=self.reason,
            detail=self.detail,
            ledger_index=self.ledger_index,
            leaf_hash=base64.b64encode(self.leaf_hash).decode() if self.leaf_hash else None,
            received_at=self.received_at,
        )


def receipt_envelope(hub_key: SigningKey, receipt: Receipt) -> bytes:
    """The hub-signed DSSE envelope of a receipt (contract section 3)."""
    return hub_key.sign_model(RECEIPT_PAYLOAD_TYPE, receipt)


class IngressProcessor:
    """Turns batches of ingress records into committed outcomes and published effects."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        hub_key: SigningKey,
        registry: Callable[[], Awaitable[RegistrySnapshot]],
        clock: Clock = utc_now,
    ) -> None:
        self._pool = pool
        self._ledger = PostgresLedger(pool)
        self._hub_key = hub_key
        self._load_registry = registry
        self._registry: RegistrySnapshot | None = None
        self._registry_read = 0.0
        self._clock = clock

    async def registry(self, refresh: bool = False) -> RegistrySnapshot:
        """The registry, re-read when older than REGISTRY_TTL so revocations take effect."""
        stale = time.monotonic() - self._registry_read > REGISTRY_TTL
        if self._registry is None or refresh or stale:
            self._registry = await self._load_registry()
            self._registry_read = time.monotonic()
        return self._registry

    async def _verify_all(
        self, records: Sequence[IngressRecord], now: datetime
    ) -> list[VerifiedEvent | Rejected]:
        registry = await self.registry()
        results = [self._verify_one(r, registry, now) for r in records]
        retry = [i for i, r in enumerate(results)
                 if isinstance(r, Rejected) and r.reason is Reason.UNKNOWN_KEY]
        if retry:
            # A key may have been registered since the snapshot: re-read once and retry those.
            registry = await self.registry(refresh=True)
            again = [self._verify_one(records[i], registry, now) for i in retry]
            for i, result in zip(retry, again, strict=True):
                results[i] = result
        return results

    @staticmethod
    def _verify_one(
        record: IngressRecord, registry: RegistrySnapshot, now: datetime
    ) -> VerifiedEvent | Rejected:
        try:
            return verify_record(record.topic, record.key, record.value, registry, now)
        except Rejected as rejection:
            return rejection
        except Exception as exc:  # a bug must not kill the worker nor lose the record
            log.exception("verification crashed on %s:%s", record.topic, record.offset)
            return Rejected(Reason.MALFORMED_EVENT, f"internal verification error: {exc!r}")

    async def decide(self, records: Sequence[IngressRecord]) -> list[Outcome]:
        """Verify and commit the outcome of every record, in one transaction."""
        now = self._clock()
        verdicts = await self._verify_all(records, now)
        async with translated_errors(), self._pool.acquire() as conn, conn.transaction():
            return await self._decide_in(conn, records, verdicts, now)

    async def _decide_in(
        self,
        conn: asyncpg.Connection,
        records: Sequence[IngressRecord],
        verdicts: Sequence[VerifiedEvent | Rejected],
        now: datetime,
    ) -> list[Outcome]:
        head = await self._ledger.lock_head(conn)
        seen = await self._stored_outcomes(conn, records)
        candidates = [v.event_id for v in verdicts if isinstance(v, VerifiedEvent)]
        in_ledger = await self._ledger.entries_by_event_ids(conn, candidates)
        outcomes: list[Outcome | None] = []
        to_append: list[tuple[int, VerifiedEvent]] = []
        batch_ids: set[str] = set()
        for i, (record, verdict) in enumerate(zip(records, verdicts, strict=True)):
            key = (record.topic, record.partition, record.offset, record.record_hash)
            if key in seen:
                outcomes.append(seen[key])
            elif isinstance(verdict, Rejected):
                outcomes.append(Outcome(record, ReceiptStatus.REJECTED, verdict.event_id, now,
                                        verdict.reason.value, verdict.detail))
            elif verdict.event_id in in_ledger or verdict.event_id in batch_ids:
                outcomes.append(None)  # duplicate: resolved after the appends below
            else:
                batch_ids.add(verdict.event_id)
                to_append.append((i, verdict))
                outcomes.append(None)
        appended = await self._ledger.append(
            conn,
            [NewEntry(v.event_id, v.agency_id, v.case_id, v.spec.name, v.event.time, now,
                      v.keyid, v.value) for _, v in to_append],
            head,
        )
        for (i, verdict), entry in zip(to_append, appended, strict=True):
            outcomes[i] = Outcome(records[i], ReceiptStatus.ACCEPTED, verdict.event_id, now,
                                  ledger_index=entry.ledger_index, leaf_hash=entry.leaf_hash,
                                  case_id=verdict.case_id)
            in_ledger[verdict.event_id] = entry
        final: list[Outcome] = []
        for i, outcome in enumerate(outcomes):
            if outcome is None:
                verdict = verdicts[i]
                assert isinstance(verdict, VerifiedEvent)
                original = in_ledger[verdict.event_id]
                same = original.record == verdict.value
                detail = (
                    f"已于账本序号 {original.ledger_index} 接收 / already accepted at ledger index"
                    f" {original.ledger_index}" + ("" if same else
                                                   " (内容不同 / with different content)")
                )
                outcome = Outcome(records[i], ReceiptStatus.DUPLICATE, verdict.event_id, now,
                                  None, detail, original.ledger_index, original.leaf_hash,
                                  case_id=verdict.case_id)
            final.append(outcome)
        await self._store_outcomes(conn, [o for o in final if not o.replayed])
        return final

    async def _stored_outcomes(
        self, conn: asyncpg.Connection, records: Sequence[IngressRecord]
    ) -> dict[tuple[str, int, int, bytes], Outcome]:
        rows = await conn.fetch(
            "SELECT o.* FROM ingress_outcomes o JOIN unnest($1::text[], $2::int[], $3::bigint[],"
            " $4::bytea[]) AS w(topic, kpartition, koffset, record_hash)"
            " USING (topic, kpartition, koffset, record_hash)",
            [r.topic for r in records], [r.partition for r in records],
            [r.offset for r in records], [r.record_hash for r in records],
        )
        by_key = {(r.topic, r.partition, r.offset, r.record_hash): r for r in records}
        found: dict[tuple[str, int, int, bytes], Outcome] = {}
        for row in rows:
            key = (row["topic"], row["kpartition"], row["koffset"], bytes(row["record_hash"]))
            found[key] = Outcome(
                by_key[key], ReceiptStatus(row["status"]),
                str(row["event_id"]) if row["event_id"] else None, row["received_at"],
                row["reason"], row["detail"], row["ledger_index"],
                bytes(row["leaf_hash"]) if row["leaf_hash"] else None,
                case_id=(by_key[key].key or b"").decode("utf-8", "replace") or None,
                replayed=True,
            )
        return found

    @staticmethod
    async def _store_outcomes(conn: asyncpg.Connection, outcomes: Sequence[Outcome]) -> None:
        if not outcomes:
            return
        await conn.execute(
            """
            INSERT INTO ingress_outcomes (topic, kpartition, koffset, record_hash, event_id,
                status, reason, detail, ledger_index, leaf_hash, received_at, record)
            SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bytea[], $5::uuid[],
                $6::text[], $7::text[], $8::text[], $9::bigint[], $10::bytea[],
                $11::timestamptz[], $12::bytea[])
            """,
            [o.record.topic for o in outcomes],
            [o.record.partition for o in outcomes],
            [o.record.offset for o in outcomes],
            [o.record.record_hash for o in outcomes],
            [o.event_id for o in outcomes],
            [o.status.value for o in outcomes],
            [o.reason for o in outcomes],
            [o.detail for o in outcomes],
            [o.ledger_index for o in outcomes],
            [o.leaf_hash for o in outcomes],
            [o.received_at for o in outcomes],
            [o.record.value if o.status is ReceiptStatus.REJECTED else None for o in outcomes],
        )

    async def publish(self, outcomes: Sequence[Outcome], publisher: Publisher) -> None:
        """Publish every effect of the committed outcomes (in order) and wait for all acks."""
        pending: list[Awaitable[object]] = []
        send = publisher.enqueue
        for o in outcomes:
            agency = o.agency_id
            if o.status is ReceiptStatus.ACCEPTED:
                assert o.record.value is not None and o.case_id is not None
                pending.append(await send(topics.EVENTS, o.case_id.encode("utf-8"),
                                          o.record.value, []))
            elif o.status is ReceiptStatus.REJECTED:
                pending.append(await send(topics.QUARANTINE, o.record.key,
                                          o.record.value or b"", quarantine_headers(o)))
            receipt_key = o.event_id.encode("ascii") if o.event_id else None
            pending.append(await send(topics.receipts_topic(agency), receipt_key,
                                      receipt_envelope(self._hub_key, o.receipt()), []))
        await asyncio.gather(*pending)

    async def process(self, records: Sequence[IngressRecord], publisher: Publisher) -> list[Outcome]:
        """decide + publish + metrics; raises StoreUnavailable for the caller to retry."""
        started = time.monotonic()
        outcomes = await self.decide(records)
        committed = time.time()
        await self.publish(outcomes, publisher)
        for o in outcomes:
            if o.replayed:
                continue
            metrics.INGRESS_RECORDS.labels(o.agency_id, o.status.value, o.reason or "").inc()
            if o.record.timestamp_ms:
                metrics.INGRESS_LATENCY.observe(max(0.0, committed - o.record.timestamp_ms / 1000))
        last = max((o.ledger_index for o in outcomes
                    if o.status is ReceiptStatus.ACCEPTED and o.ledger_index is not None),
                   default=None)
        if last is not None:
            metrics.LEDGER_SIZE.set(last + 1)
        metrics.INGRESS_BATCH_SECONDS.observe(time.monotonic() - started)
        return outcomes


def quarantine_headers(outcome: Outcome) -> list[tuple[str, bytes]]:
    """Kafka headers that carry the reason beside the original, unchanged bytes."""
    headers = [
        ("linkage-reason", (outcome.reason or "").encode()),
        ("linkage-detail", (outcome.detail or "").encode()),
        ("linkage-source-topic", outcome.record.topic.encode()),
        ("linkage-source-partition", str(outcome.record.partition).encode()),
        ("linkage-source-offset", str(outcome.record.offset).encode()),
        ("linkage-received-at", outcome.received_at.isoformat().encode()),
    ]
    if outcome.event_id:
        headers.append(("linkage-event-id", outcome.event_id.encode()))
    return headers
