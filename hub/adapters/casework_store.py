"""Reads for the officers' case work (issue 11): an agency's inbox (events addressed to it,
unread first), the documents bound into a visible case's transfers, and read marks.

Every read that returns a case's content takes a `Scope` and puts `scope.sql(...)` in its
WHERE clause, as hub/adapters/workbench_store.py does (docs/workbench.md, "Scope in one place").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from hub.access import Scope
from hub.adapters.postgres import translated_errors
from streams.rules_runner import BadEvent, decode_event

ADDRESSED = ("clue.notified", "investigation.requested", "evidence.handed_over",
             "case.transferred", "transfer.forwarded")
"""Event types whose `to_agency` names the agency that must act: its inbox."""


@dataclass(frozen=True)
class InboxItem:
    event_id: str
    type_name: str
    case_id: str
    sender: str
    time: datetime
    ledger_index: int
    data: dict[str, Any]
    read: bool


class PostgresCasework:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def events(self, scope: Scope, case_id: str,
                     types: tuple[str, ...]) -> list[tuple[int, Any]]:
        """(ledger index, decoded CaseEvent) of a visible case's events of these types."""
        params: list[object] = [case_id, list(types)]
        where = scope.sql("l.case_id", params)
        async with translated_errors():
            rows = await self._pool.fetch(
                "SELECT l.ledger_index, l.record FROM ledger l WHERE l.case_id = $1"
                f" AND l.event_type = ANY($2::text[]) AND {where} ORDER BY l.ledger_index",
                *params)
        out: list[tuple[int, Any]] = []
        for row in rows:
            try:
                out.append((row["ledger_index"], decode_event(bytes(row["record"]))))
            except BadEvent:
                continue
        return out

    async def inbox(self, scope: Scope, agency_id: str, *, limit: int = 500) -> list[InboxItem]:
        """Events addressed to the agency (to_agency), unread first, newest first."""
        params: list[object] = [list(ADDRESSED), agency_id, limit]
        where = scope.sql("l.case_id", params)
        async with translated_errors():
            rows = await self._pool.fetch(
                "SELECT l.ledger_index, l.record, r.event_id IS NOT NULL AS read"
                " FROM ledger l LEFT JOIN inbox_reads r"
                "   ON r.agency_id = $2 AND r.event_id = l.event_id"
                f" WHERE l.event_type = ANY($1::text[]) AND l.agency_id <> $2 AND {where}"
                " ORDER BY l.ledger_index DESC LIMIT $3", *params)
        items: list[InboxItem] = []
        for row in rows:
            try:
                event = decode_event(bytes(row["record"]))
            except BadEvent:
                continue
            if event.data.get("to_agency") != agency_id:
                continue
            items.append(InboxItem(event.event_id, event.type_name, event.case_id, event.agency,
                                   event.time, row["ledger_index"], event.data, row["read"]))
        items.sort(key=lambda i: (i.read, -i.ledger_index))
        return items

    async def mark_read(self, agency_id: str, event_id: str, username: str) -> None:
        async with translated_errors():
            await self._pool.execute(
                "INSERT INTO inbox_reads (agency_id, event_id, read_by) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING", agency_id, event_id, username)
