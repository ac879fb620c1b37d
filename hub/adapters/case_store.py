"""PostgresCaseStore: case states, party index, processed events, alerts and the alert outbox.

Every method that changes something takes the caller's connection, inside the caller's
transaction (see hub/sql/cases.sql for the locking rules); the rules runner decides what to
write. Case states are stored as the JSON of `streams.CaseState`, alerts as the JSON of the
contract's alert payload (`schemas.alert.Alert`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from schemas.alert import Alert
from streams.rules import CaseState


@dataclass(frozen=True)
class OutboxRow:
    """A signed alert envelope waiting for the broker's acknowledgement."""

    seq: int
    alert_id: str
    rule_id: str
    status: str
    case_id: str
    envelope: bytes


def _state(text: str) -> CaseState:
    return CaseState.model_validate_json(text)


class PostgresCaseStore:
    """SQL for the rules layer's tables; no rule logic."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # -- events ---------------------------------------------------------------------------

    @staticmethod
    async def processed(conn: asyncpg.Connection, event_ids: Collection[str]) -> set[str]:
        """The ids among `event_ids` already folded into their case."""
        rows = await conn.fetch(
            "SELECT event_id FROM processed_events WHERE event_id = ANY($1::uuid[])",
            list(event_ids),
        )
        return {str(r["event_id"]) for r in rows}

    @staticmethod
    async def mark_processed(conn: asyncpg.Connection, event_ids: Collection[str]) -> None:
        if event_ids:
            await conn.execute(
                "INSERT INTO processed_events (event_id) SELECT unnest($1::uuid[])"
                " ON CONFLICT DO NOTHING",
                list(event_ids),
            )

    # -- cases ----------------------------------------------------------------------------

    @staticmethod
    async def lock_cases(
        conn: asyncpg.Connection, case_ids: Collection[str]
    ) -> dict[str, CaseState]:
        """Row-lock these cases (creating empty ones), in case-id order to limit deadlocks."""
        ids = sorted(set(case_ids))
        if not ids:
            return {}
        await conn.execute(
            "INSERT INTO cases (case_id, state)"
            " SELECT id, jsonb_build_object('case_id', id) FROM unnest($1::text[]) AS id"
            " ORDER BY id ON CONFLICT DO NOTHING",
            ids,
        )
        rows = await conn.fetch(
            "SELECT case_id, state FROM cases WHERE case_id = ANY($1::text[])"
            " ORDER BY case_id FOR UPDATE",
            ids,
        )
        return {r["case_id"]: _state(r["state"]) for r in rows}

    @staticmethod
    async def lock_due(
        conn: asyncpg.Connection, now: datetime, limit: int
    ) -> dict[str, CaseState]:
        """Row-lock up to `limit` cases whose next deadline has passed, skipping locked ones."""
        rows = await conn.fetch(
            "SELECT case_id, state FROM cases WHERE next_due_at <= $1"
            " ORDER BY next_due_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            now, limit,
        )
        return {r["case_id"]: _state(r["state"]) for r in rows}

    @staticmethod
    async def load_cases(
        conn: asyncpg.Connection, case_ids: Collection[str]
    ) -> dict[str, CaseState]:
        """Case states without a lock (the related cases an evaluation reads)."""
        if not case_ids:
            return {}
        rows = await conn.fetch(
            "SELECT case_id, state FROM cases WHERE case_id = ANY($1::text[])", list(case_ids)
        )
        return {r["case_id"]: _state(r["state"]) for r in rows}

    @staticmethod
    async def save_cases(conn: asyncpg.Connection, states: Sequence[CaseState]) -> None:
        """Store these (locked) cases' states and replace their party index entries."""
        if not states:
            return
        ids = [s.case_id for s in states]
        await conn.execute(
            "UPDATE cases c SET state = s.state::jsonb, agency = s.agency, updated_at = now()"
            " FROM unnest($1::text[], $2::text[], $3::text[]) AS s(case_id, state, agency)"
            " WHERE c.case_id = s.case_id",
            ids, [s.model_dump_json() for s in states], [s.agency for s in states],
        )
        await conn.execute("DELETE FROM case_parties WHERE case_id = ANY($1::text[])", ids)
        keys = [(kind, number, s.case_id) for s in states for kind, number in s.party_keys]
        if keys:
            await conn.execute(
                "INSERT INTO case_parties (id_type, id_number, case_id)"
                " SELECT * FROM unnest($1::text[], $2::text[], $3::text[])",
                [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys],
            )

    @staticmethod
    async def neighbours(
        conn: asyncpg.Connection, case_ids: Collection[str]
    ) -> dict[str, set[str]]:
        """For each case, the other cases that share a party (id_type, id_number) with it."""
        if not case_ids:
            return {}
        rows = await conn.fetch(
            "SELECT DISTINCT a.case_id AS case_id, b.case_id AS other"
            " FROM case_parties a JOIN case_parties b USING (id_type, id_number)"
            " WHERE a.case_id = ANY($1::text[]) AND b.case_id <> a.case_id",
            list(case_ids),
        )
        found: dict[str, set[str]] = {}
        for r in rows:
            found.setdefault(r["case_id"], set()).add(r["other"])
        return found

    @staticmethod
    async def set_next_due(
        conn: asyncpg.Connection, due: Mapping[str, datetime | None]
    ) -> None:
        if due:
            await conn.execute(
                "UPDATE cases c SET next_due_at = d.due FROM"
                " unnest($1::text[], $2::timestamptz[]) AS d(case_id, due)"
                " WHERE c.case_id = d.case_id",
                list(due), list(due.values()),
            )

    @staticmethod
    async def ledger_records(conn: asyncpg.Connection, case_id: str) -> list[bytes]:
        """Every ledgered record of one case, in ledger order."""
        rows = await conn.fetch(
            "SELECT record FROM ledger WHERE case_id = $1 ORDER BY ledger_index", case_id
        )
        return [bytes(r["record"]) for r in rows]

    # -- alerts ---------------------------------------------------------------------------

    @staticmethod
    async def alerts_of(
        conn: asyncpg.Connection, case_ids: Collection[str]
    ) -> dict[str, Alert]:
        """The current alert of every alert id raised on these cases."""
        if not case_ids:
            return {}
        rows = await conn.fetch(
            "SELECT payload FROM alerts WHERE case_id = ANY($1::text[])", list(case_ids)
        )
        alerts = [Alert.model_validate_json(r["payload"]) for r in rows]
        return {a.alert_id: a for a in alerts}

    @staticmethod
    async def record_alerts(
        conn: asyncpg.Connection, alerts: Sequence[Alert], envelopes: Sequence[bytes]
    ) -> None:
        """Set each alert's current status and queue its signed envelope for publication."""
        if not alerts:
            return
        await conn.execute(
            """
            INSERT INTO alerts AS a (alert_id, rule_id, case_id, agency, status, payload)
            SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                                 $6::text[]::jsonb[])
            ON CONFLICT (alert_id) DO UPDATE SET status = EXCLUDED.status,
                payload = EXCLUDED.payload, agency = EXCLUDED.agency, updated_at = now()
            """,
            [a.alert_id for a in alerts], [a.rule_id for a in alerts],
            [a.case_id for a in alerts], [a.agency for a in alerts],
            [a.status for a in alerts], [a.model_dump_json() for a in alerts],
        )
        await conn.execute(
            "INSERT INTO alert_outbox (alert_id, status, case_id, envelope)"
            " SELECT alert_id, status, case_id, envelope"
            " FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[])"
            " WITH ORDINALITY AS o(alert_id, status, case_id, envelope, n) ORDER BY n",
            [a.alert_id for a in alerts], [a.status for a in alerts],
            [a.case_id for a in alerts], list(envelopes),
        )

    @staticmethod
    async def lock_unpublished(conn: asyncpg.Connection, limit: int) -> list[OutboxRow]:
        """Row-lock the oldest unpublished envelopes (other publishers skip them)."""
        rows = await conn.fetch(
            "SELECT o.seq, o.alert_id, a.rule_id, o.status, o.case_id, o.envelope"
            " FROM alert_outbox o JOIN alerts a USING (alert_id)"
            " WHERE o.published_at IS NULL ORDER BY o.seq LIMIT $1 FOR UPDATE OF o SKIP LOCKED",
            limit,
        )
        return [OutboxRow(r["seq"], str(r["alert_id"]), r["rule_id"], r["status"], r["case_id"],
                          bytes(r["envelope"])) for r in rows]

    @staticmethod
    async def mark_published(conn: asyncpg.Connection, seqs: Sequence[int]) -> None:
        await conn.execute(
            "UPDATE alert_outbox SET published_at = now() WHERE seq = ANY($1::bigint[])",
            list(seqs),
        )

    async def unpublished_count(self) -> int:
        async with self._pool.acquire() as conn:
            count: int = await conn.fetchval(
                "SELECT count(*) FROM alert_outbox WHERE published_at IS NULL"
            )
        return count

    async def open_count(self) -> int:
        async with self._pool.acquire() as conn:
            count: int = await conn.fetchval("SELECT count(*) FROM alerts WHERE status = 'open'")
        return count

    async def list_alerts(
        self, *, status: str | None = None, case_id: str | None = None
    ) -> list[Alert]:
        """Current alerts, oldest first, optionally of one status and one case."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT payload FROM alerts WHERE ($1::text IS NULL OR status = $1)"
                " AND ($2::text IS NULL OR case_id = $2) ORDER BY first_raised_at, alert_id",
                status, case_id,
            )
        return [Alert.model_validate_json(r["payload"]) for r in rows]
