"""PostgresWorkbench: what the workbench reads (alerts board, cases, timelines, ledger pages).

Every query that returns a case or an alert takes a `hub.access.Scope` and puts
`scope.sql(...)` in its WHERE clause: the visibility rule is written once (hub/access.py)
and cannot be forgotten by a page. The officer's scope is the `case_scope` table, which
`refresh_scope` derives from the ledger in ledger order (hub/sql/accounts.sql).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from hub.access import Scope
from hub.adapters.case_store import STATE_SQL, stored_state
from hub.adapters.postgres import StoreError, StoreUnavailable, translated_errors
from schemas.alert import Alert
from streams.rules.case_state import CaseState
from streams.rules_runner import BadEvent, decode_event

# Event types that put a case in the scope of their `to_agency` (contract section 7:
# "transferred, forwarded, notified or sent for investigation to its agency").
SENT_TO = frozenset({"case.transferred", "transfer.forwarded", "clue.notified",
                     "investigation.requested"})
SCOPE_BATCH = 2000


@dataclass(frozen=True)
class AlertFilter:
    """The board's filters; None means any."""

    status: str | None = "open"
    agency: str | None = None
    offence: str | None = None
    rule_id: str | None = None
    raised_from: datetime | None = None
    raised_to: datetime | None = None
    case_id: str | None = None


@dataclass(frozen=True)
class AlertRow:
    alert: Alert
    offence: str | None
    first_raised_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class BoardPage:
    rows: list[AlertRow]
    total: int
    per_rule: dict[str, int]


@dataclass(frozen=True)
class Deadline:
    case_id: str
    agency: str | None
    offence: str | None
    due_at: datetime


@dataclass(frozen=True)
class TimelineEntry:
    ledger_index: int
    event_id: str
    event_type: str
    agency: str
    time: datetime
    received_at: datetime
    leaf_hash: str


@dataclass(frozen=True)
class CaseRecord:
    case_id: str
    state: CaseState | None
    next_due_at: datetime | None
    alerts: list[Alert]
    timeline: list[TimelineEntry] = field(default_factory=list)


def _b64(data: bytes) -> str:
    return base64.b64encode(bytes(data)).decode("ascii")


def _where(scope: Scope, f: AlertFilter, params: list[object], *, rule: bool = True) -> str:
    clauses = [scope.sql("a.case_id", params)]
    for column, value in (("a.status", f.status), ("a.agency", f.agency),
                          ("a.rule_id", f.rule_id if rule else None), ("a.case_id", f.case_id)):
        if value is not None:
            params.append(value)
            clauses.append(f"{column} = ${len(params)}")
    if f.offence is not None:
        params.append(f.offence)
        clauses.append(f"c.offence = ${len(params)}")
    if f.raised_from is not None:
        params.append(f.raised_from)
        clauses.append(f"a.first_raised_at >= ${len(params)}")
    if f.raised_to is not None:
        params.append(f.raised_to)
        clauses.append(f"a.first_raised_at < ${len(params)}")
    return " AND ".join(clauses)


class PostgresWorkbench:
    """Scoped reads for the workbench; `refresh_scope` is its only write."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def ping(self) -> bool:
        """True if the database answers (the health check)."""
        try:
            async with translated_errors(), self._pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        except (StoreUnavailable, StoreError):
            return False
        return True

    # -- scope ----------------------------------------------------------------------------

    async def refresh_scope(self) -> int:
        """Fold new ledger entries into case_scope; returns how many entries were read.

        One transaction holding the watermark row lock, so concurrent refreshes serialise
        and every entry is folded once. An opener is in its case's scope; a recipient of a
        "sent to" event enters it once that event's sender is in it (an agency cannot widen
        its own view by naming itself the recipient of someone else's case), whatever order
        the events were ledgered in: the grants are kept, and each touched case's scope is
        closed over them."""
        read = 0
        async with translated_errors(), self._pool.acquire() as conn:
            behind = await conn.fetchval(
                "SELECT w.next_index < h.size FROM scope_watermark w, ledger_head h")
            if not behind:  # the common case: one lock-free read per request
                return 0
            while True:
                async with conn.transaction():
                    start: int = await conn.fetchval(
                        "SELECT next_index FROM scope_watermark FOR UPDATE")
                    rows = await conn.fetch(
                        "SELECT ledger_index, agency_id, case_id, event_type, record"
                        " FROM ledger WHERE ledger_index >= $1 ORDER BY ledger_index LIMIT $2",
                        start, SCOPE_BATCH)
                    if not rows:
                        return read
                    openers: set[tuple[str, str]] = set()
                    grants: set[tuple[str, str, str]] = set()
                    for r in rows:
                        if r["event_type"] == "case.opened":
                            openers.add((r["case_id"], r["agency_id"]))
                        elif r["event_type"] in SENT_TO:
                            try:
                                target = decode_event(bytes(r["record"])).data.get("to_agency")
                            except BadEvent:
                                continue
                            if isinstance(target, str):
                                grants.add((r["case_id"], r["agency_id"], target))
                    await self._widen(conn, openers, grants)
                    await conn.execute("UPDATE scope_watermark SET next_index = $1",
                                       rows[-1]["ledger_index"] + 1)
                    read += len(rows)

    @staticmethod
    async def _widen(conn: asyncpg.Connection, openers: set[tuple[str, str]],
                     grants: set[tuple[str, str, str]]) -> None:
        if grants:
            await conn.execute(
                "INSERT INTO case_scope_grants (case_id, sender, recipient)"
                " SELECT * FROM unnest($1::text[], $2::text[], $3::text[])"
                " ON CONFLICT DO NOTHING",
                [g[0] for g in grants], [g[1] for g in grants], [g[2] for g in grants])
        cases = sorted({o[0] for o in openers} | {g[0] for g in grants})
        if not cases:
            return
        scope = {(r["case_id"], r["agency_id"]) for r in await conn.fetch(
            "SELECT case_id, agency_id FROM case_scope WHERE case_id = ANY($1::text[])", cases)}
        every_grant = [(r["case_id"], r["sender"], r["recipient"]) for r in await conn.fetch(
            "SELECT case_id, sender, recipient FROM case_scope_grants"
            " WHERE case_id = ANY($1::text[])", cases)]
        closed = scope | openers
        grown = True
        while grown:  # a fixpoint: each round adds recipients whose sender is in scope
            grown = False
            for case_id, sender, recipient in every_grant:
                if (case_id, sender) in closed and (case_id, recipient) not in closed:
                    closed.add((case_id, recipient))
                    grown = True
        added = sorted(closed - scope)
        if added:
            await conn.execute(
                "INSERT INTO case_scope (case_id, agency_id)"
                " SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
                [a[0] for a in added], [a[1] for a in added])

    # -- alerts ---------------------------------------------------------------------------

    async def board(self, scope: Scope, f: AlertFilter, *, offset: int = 0,
                    limit: int = 50) -> BoardPage:
        """One page of alerts (newest first), the total, and counts per rule (before the
        rule filter, so the counts double as the rule filter's menu)."""
        params: list[object] = []
        where = _where(scope, f, params)
        page_params = [*params, limit, offset]
        count_params: list[object] = []
        count_where = _where(scope, f, count_params, rule=False)
        join = "LEFT JOIN cases c USING (case_id)" if f.offence is not None else ""
        async with translated_errors(), self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT a.payload, c.offence, a.first_raised_at,"
                " a.updated_at FROM alerts a LEFT JOIN cases c USING (case_id)"
                f" WHERE {where} ORDER BY a.first_raised_at DESC, a.alert_id"
                f" LIMIT ${len(params) + 1} OFFSET ${len(params) + 2}", *page_params)
            counts = await conn.fetch(
                f"SELECT a.rule_id, count(*) AS n FROM alerts a {join} WHERE {count_where}"
                " GROUP BY a.rule_id ORDER BY a.rule_id", *count_params)
        per_rule = {r["rule_id"]: r["n"] for r in counts}
        total = per_rule.get(f.rule_id, 0) if f.rule_id is not None else sum(per_rule.values())
        return BoardPage(
            [AlertRow(Alert.model_validate_json(r["payload"]), r["offence"],
                      r["first_raised_at"], r["updated_at"]) for r in rows],
            total, per_rule)

    async def deadlines(self, scope: Scope, *, limit: int = 50) -> list[Deadline]:
        """Cases whose next deadline is still ahead, soonest first."""
        params: list[object] = []
        where = scope.sql("c.case_id", params)
        async with translated_errors(), self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT c.case_id, c.agency, c.offence, c.next_due_at"
                f" FROM cases c WHERE c.next_due_at > now() AND {where}"
                f" ORDER BY c.next_due_at LIMIT ${len(params) + 1}", *params, limit)
        return [Deadline(r["case_id"], r["agency"], r["offence"], r["next_due_at"])
                for r in rows]

    # -- cases ----------------------------------------------------------------------------

    async def case(self, scope: Scope, case_id: str, *,
                   timeline_limit: int = 5000) -> CaseRecord | None:
        """The case, its alerts and its ledgered events; None if unknown or out of scope."""
        params: list[object] = [case_id]
        where = scope.sql("$1::text", params)
        async with translated_errors(), self._pool.acquire() as conn:
            visible = await conn.fetchval(
                f"SELECT ({where}) AND (EXISTS (SELECT 1 FROM cases WHERE case_id = $1)"
                " OR EXISTS (SELECT 1 FROM ledger WHERE case_id = $1))", *params)
            if not visible:
                return None
            row = await conn.fetchrow(
                f"SELECT {STATE_SQL} AS state, c.next_due_at FROM cases c WHERE c.case_id = $1",
                case_id)
            alerts = await conn.fetch(
                "SELECT payload FROM alerts WHERE case_id = $1 ORDER BY first_raised_at",
                case_id)
            events = await conn.fetch(
                "SELECT ledger_index, event_id, event_type, agency_id, event_time, received_at,"
                " leaf_hash FROM ledger WHERE case_id = $1 ORDER BY ledger_index LIMIT $2",
                case_id, timeline_limit)
        state = stored_state(row["state"]) if row else None
        return CaseRecord(
            case_id, state, row["next_due_at"] if row else None,
            [Alert.model_validate_json(a["payload"]) for a in alerts],
            [TimelineEntry(e["ledger_index"], str(e["event_id"]), e["event_type"],
                           e["agency_id"], e["event_time"], e["received_at"],
                           _b64(e["leaf_hash"])) for e in events])

    async def case_event(self, scope: Scope, case_id: str,
                         ledger_index: int) -> tuple[int, bytes] | None:
        """(index, record bytes) of one ledgered event of a visible case."""
        params: list[object] = [case_id, ledger_index]
        where = scope.sql("l.case_id", params)
        async with translated_errors(), self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT l.ledger_index, l.record FROM ledger l"
                f" WHERE l.case_id = $1 AND l.ledger_index = $2 AND {where}", *params)
        return (row["ledger_index"], bytes(row["record"])) if row else None

    # -- ledger and checkpoints (auditors and supervisors; no party data) -------------------

    async def ledger_page(self, *, start: int = 0, limit: int = 50, case_id: str | None = None,
                          agency: str | None = None, event_type: str | None = None,
                          time_from: datetime | None = None,
                          time_to: datetime | None = None) -> list[dict[str, Any]]:
        """Ledger entries' metadata from index `start` on (never the record bytes)."""
        async with translated_errors(), self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT ledger_index, event_id, agency_id, case_id, event_type, event_time,"
                " received_at, keyid, leaf_hash FROM ledger WHERE ledger_index >= $1"
                " AND ($2::text IS NULL OR case_id = $2) AND ($3::text IS NULL OR agency_id = $3)"
                " AND ($4::text IS NULL OR event_type = $4)"
                " AND ($5::timestamptz IS NULL OR event_time >= $5)"
                " AND ($6::timestamptz IS NULL OR event_time < $6)"
                " ORDER BY ledger_index LIMIT $7",
                start, case_id, agency, event_type, time_from, time_to, limit)
        return [{"ledger_index": r["ledger_index"], "event_id": str(r["event_id"]),
                 "agency": r["agency_id"], "case_id": r["case_id"], "type": r["event_type"],
                 "time": r["event_time"], "received_at": r["received_at"], "keyid": r["keyid"],
                 "leaf_hash": _b64(r["leaf_hash"])} for r in rows]

    async def checkpoints(self, *, limit: int = 20) -> list[dict[str, Any]]:
        """The latest signed checkpoints, newest first, each with its witnesses' lines."""
        async with translated_errors(), self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT c.tree_size, c.root_hash, c.note, c.created_at,"
                " coalesce(array_agg(w.witness ORDER BY w.witness)"
                "   FILTER (WHERE w.witness IS NOT NULL), '{}') AS witnesses,"
                " coalesce(array_agg(w.line ORDER BY w.witness)"
                "   FILTER (WHERE w.witness IS NOT NULL), '{}') AS lines"
                " FROM checkpoints c LEFT JOIN cosignatures w USING (tree_size)"
                " GROUP BY c.tree_size ORDER BY c.tree_size DESC LIMIT $1", limit)
        return [{"tree_size": r["tree_size"], "root_hash": _b64(r["root_hash"]),
                 "note": r["note"], "created_at": r["created_at"],
                 "cosignatures": [{"witness": w, "line": line}
                                  for w, line in zip(r["witnesses"], r["lines"], strict=True)]}
                for r in rows]

    async def agency_names(self) -> dict[str, tuple[str, str, str]]:
        """agency id -> (Chinese name, English name, role)."""
        async with translated_errors(), self._pool.acquire() as conn:
            rows = await conn.fetch("SELECT agency_id, name, name_en, role FROM agencies")
        return {r["agency_id"]: (r["name"], r["name_en"], r["role"]) for r in rows}
