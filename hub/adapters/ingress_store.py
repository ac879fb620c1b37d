"""PostgresIngressStore: the ingress processor's store (streams.ports.IngressStore) in PostgreSQL.

One unit = one transaction that first takes the ledger's append lock (see hub/sql/ledger.sql
for the sequencing argument), then reads stored outcomes and ledger entries, appends and
stores the outcomes; it commits when the processor's block ends. Parked records live in
`parked_records` (hub/sql/parked.sql). Every asyncpg error leaves as a streams.errors type.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from audit.ledger import LedgerEntry, NewEntry
from audit.merkle import CompactRange
from hub.adapters.ledger_store import PostgresLedger, insert_rows
from hub.adapters.postgres import translated_errors
from schemas.receipt import ReceiptStatus
from streams.ports import IngressRecord, ParkedRecord, RecordKey, StoredOutcome

_OUTCOME_COLUMNS = (("topic", "text"), ("kpartition", "int"), ("koffset", "bigint"),
                    ("record_hash", "bytea"), ("event_id", "uuid"), ("status", "text"),
                    ("reason", "text"), ("detail", "text"), ("ledger_index", "bigint"),
                    ("leaf_hash", "bytea"), ("received_at", "timestamptz"), ("record", "bytea"))


class _PostgresUnit:
    """The open transaction: the IngressUnit port over one connection."""

    def __init__(self, conn: asyncpg.Connection, ledger: PostgresLedger,
                 head: CompactRange) -> None:
        self._conn = conn
        self._ledger = ledger
        self._head = head

    async def stored_outcomes(self, keys: Sequence[RecordKey]) -> dict[RecordKey, StoredOutcome]:
        """The stored outcomes of these records.

        Design decision (session 6, issue 14): looking every key of a 500-record batch up in
        the primary key cost about 2 µs of PostgreSQL CPU per event, and in the steady state
        finds nothing: a record can only have an outcome at or below the highest offset stored
        for its partition, so one backward step in the same index per partition first tells
        which keys can be there at all, and only those (a redelivery's) are looked up. Every
        unit holds the ledger_head lock (`unit`), so no outcome lands between the two reads."""
        if not keys:
            return {}
        partitions = sorted({(k[0], k[1]) for k in keys})
        highest = {(r["topic"], r["kpartition"]): r["high"] for r in await self._conn.fetch(
            "SELECT p.topic, p.kpartition, (SELECT o.koffset FROM ingress_outcomes o"
            " WHERE o.topic = p.topic AND o.kpartition = p.kpartition"
            " ORDER BY o.koffset DESC LIMIT 1) AS high"
            " FROM unnest($1::text[], $2::int[]) AS p(topic, kpartition)",
            [p[0] for p in partitions], [p[1] for p in partitions])}
        keys = [k for k in keys if (high := highest.get((k[0], k[1]))) is not None and k[2] <= high]
        if not keys:
            return {}
        rows = await self._conn.fetch(
            "SELECT o.* FROM ingress_outcomes o JOIN unnest($1::text[], $2::int[], $3::bigint[],"
            " $4::bytea[]) AS w(topic, kpartition, koffset, record_hash)"
            " USING (topic, kpartition, koffset, record_hash)",
            [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys],
            [k[3] for k in keys],
        )
        found: dict[RecordKey, StoredOutcome] = {}
        for row in rows:
            key = (row["topic"], row["kpartition"], row["koffset"], bytes(row["record_hash"]))
            found[key] = StoredOutcome(
                key, ReceiptStatus(row["status"]),
                str(row["event_id"]) if row["event_id"] else None, row["received_at"],
                row["reason"], row["detail"], row["ledger_index"],
                bytes(row["leaf_hash"]) if row["leaf_hash"] else None,
                bytes(row["record"]) if row["record"] is not None else None,
            )
        return found

    async def ledger_entries(self, event_ids: Sequence[str]) -> dict[str, LedgerEntry]:
        if not event_ids:
            return {}
        return await self._ledger.entries_by_event_ids(self._conn, event_ids)

    async def append(self, entries: Sequence[NewEntry]) -> list[LedgerEntry]:
        return await self._ledger.append(self._conn, entries, self._head)

    async def revocations(self, keyids: Sequence[str]) -> dict[str, datetime]:
        if not keyids:
            return {}
        rows = await self._conn.fetch(
            "SELECT keyid, revoked_at FROM agency_keys"
            " WHERE keyid = ANY($1::text[]) AND revoked_at IS NOT NULL", list(set(keyids)))
        return {row["keyid"]: row["revoked_at"] for row in rows}

    async def store_outcomes(self, outcomes: Sequence[StoredOutcome]) -> None:
        """The outcomes' rows; `status` as the ReceiptStatus member itself, a StrEnum, which
        asyncpg's text codec writes as its value (a str subclass), without the enum's
        Python-level `value` property (one Python call a record; issue 14, session 9)."""
        if not outcomes:
            return
        await insert_rows(
            self._conn, "ingress_outcomes", _OUTCOME_COLUMNS,
            [(*o.key, o.event_id, o.status, o.reason, o.detail, o.ledger_index,
                      o.leaf_hash, o.received_at, o.record) for o in outcomes])


def _parked(row: Mapping[str, Any]) -> ParkedRecord:
    record = IngressRecord(
        row["topic"], row["kpartition"], row["koffset"],
        bytes(row["record_key"]) if row["record_key"] is not None else None,
        bytes(row["record"]) if row["record"] is not None else None, row["timestamp_ms"])
    return ParkedRecord(row["parked_id"], record, row["reason"], row["evidence"],
                        row["parked_at"], row["attempts"], row["resolved_at"], row["outcome"])


class PostgresIngressStore:
    """streams.ports.IngressStore over an asyncpg pool (the hub's restricted role)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._ledger = PostgresLedger(pool)

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[_PostgresUnit]:
        async with translated_errors(), self._pool.acquire() as conn, conn.transaction():
            head = await self._ledger.lock_head(conn)
            yield _PostgresUnit(conn, self._ledger, head)

    async def park(self, record: IngressRecord, reason: str, evidence: str,
                   now: datetime) -> ParkedRecord:
        async with translated_errors(), self._pool.acquire() as conn:
            row = await conn.fetchrow(
                """
                INSERT INTO parked_records (topic, kpartition, koffset, record_hash, record_key,
                    record, timestamp_ms, reason, evidence, parked_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                ON CONFLICT (topic, kpartition, koffset, record_hash) DO UPDATE
                    SET attempts = parked_records.attempts + 1, reason = excluded.reason,
                        evidence = excluded.evidence, parked_at = excluded.parked_at,
                        resolved_at = NULL, outcome = NULL
                RETURNING *
                """,
                record.topic, record.partition, record.offset, record.record_hash, record.key,
                record.value, record.timestamp_ms, reason, evidence, now,
            )
        assert row is not None
        return _parked(row)

    async def parked(self, parked_ids: Sequence[int] | None = None, *,
                     include_resolved: bool = False) -> list[ParkedRecord]:
        async with translated_errors(), self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT * FROM parked_records WHERE ($1::bigint[] IS NULL OR parked_id = ANY($1))"
                " AND ($2 OR resolved_at IS NULL) ORDER BY parked_id",
                list(parked_ids) if parked_ids is not None else None, include_resolved,
            )
        return [_parked(r) for r in rows]

    async def resolve_parked(self, parked_id: int, outcome: str, now: datetime) -> None:
        async with translated_errors(), self._pool.acquire() as conn:
            await conn.execute(
                "UPDATE parked_records SET resolved_at = $2, outcome = $3 WHERE parked_id = $1",
                parked_id, now, outcome)
