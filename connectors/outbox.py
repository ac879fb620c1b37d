"""The connector's durable local outbox (SQLite): every event is stored before it is sent.

States: pending (stored, not yet acknowledged by the broker) → sent (broker acked) →
accepted / duplicate / rejected (the hub's signed receipt arrived). A crash at any point
loses nothing: on start, every entry without a final receipt is sent again, and the hub
answers a re-send of an accepted event with `duplicate` (the entry stays `accepted`).
A receipt applies only to the bytes it judged: when it carries `record_sha256` (contract
v1.1) that differs from the entry's own bytes, it is about someone else's record with the
same event id and is ignored. Storing an event id again with *other* bytes replaces the
entry and sends it again, so the sender learns the hub's answer to those bytes
(`duplicate`), never the earlier `accepted` of other content.
The receipts consumer's position is stored in the same database, in the same
transaction as the status updates it causes.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from schemas.reasons import Reason

FINAL = ("accepted", "duplicate", "rejected")
STATUS_LABEL = {"accepted": "接收 accepted", "duplicate": "重复 duplicate",
                "rejected": "拒收 rejected"}


def describe_outcome(status: str, reason: str | None, detail: str | None,
                     ledger_index: int | None = None) -> str:
    """A receipt for people: the status, and for a rejection its reason in zh and en."""
    text = STATUS_LABEL.get(status, status)
    if ledger_index is not None and status == "accepted":
        text += f" #{ledger_index}"
    if reason:
        try:
            code = Reason(reason)
            text += f" {reason}: {code.message_zh} / {code.message_en}"
        except ValueError:
            text += f" {reason}"
    if detail:
        text += f" ({detail})" if reason else f": {detail}"
    return text

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT NOT NULL UNIQUE,
    case_id      TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    value        BLOB NOT NULL,
    status       TEXT NOT NULL DEFAULT 'pending',
    reason       TEXT,
    detail       TEXT,
    ledger_index INTEGER,
    leaf_hash    TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    sent_at      TEXT,
    receipt_at   TEXT
);
CREATE INDEX IF NOT EXISTS outbox_status ON outbox (status, seq);
CREATE TABLE IF NOT EXISTS receipt_positions (
    kpartition INTEGER PRIMARY KEY,
    next_offset INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class OutboxEntry:
    event_id: str
    case_id: str
    event_type: str
    value: bytes
    status: str
    reason: str | None
    detail: str | None
    ledger_index: int | None
    leaf_hash: str | None
    attempts: int


class ReceiptRow(NamedTuple):
    """One receipt as the outbox applies it, with the receipts position after it."""

    partition: int
    next_offset: int
    event_id: str | None
    status: str
    reason: str | None
    detail: str | None
    ledger_index: int | None
    leaf_hash: str | None
    record_sha256: str | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Outbox:
    """Thread-safe SQLite outbox (WAL, synchronous=FULL so an acknowledged write survives)."""

    def __init__(self, path: Path | str) -> None:
        self._lock = threading.Lock()
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, event_id: str, case_id: str, event_type: str, value: bytes) -> bool:
        """Store an event; False when that event id is already there with these bytes."""
        return self.add_many([(event_id, case_id, event_type, value)]) == 1

    def add_many(self, rows: list[tuple[str, str, str, bytes]]) -> int:
        """Store (event_id, case_id, type, value) rows in one transaction; returns how many
        were new or replaced: a known id with the same bytes is skipped, with other bytes
        it replaces the entry (to be sent again)."""
        now = _now()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                before = self._db.total_changes
                self._db.executemany(
                    "INSERT INTO outbox (event_id, case_id, event_type, value, created_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (event_id) DO UPDATE SET"
                    " case_id = excluded.case_id, event_type = excluded.event_type,"
                    " value = excluded.value, status = 'pending', reason = NULL, detail = NULL,"
                    " ledger_index = NULL, leaf_hash = NULL, receipt_at = NULL,"
                    " created_at = excluded.created_at WHERE outbox.value <> excluded.value",
                    [(*row, now) for row in rows],
                )
                added = self._db.total_changes - before
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return added

    def unsent(self, limit: int = 500) -> list[OutboxEntry]:
        return self._select("WHERE status = 'pending' ORDER BY seq LIMIT ?", (limit,))

    def awaiting_count(self) -> int:
        """How many entries still await a receipt (an index count: no rows are loaded)."""
        with self._lock:
            row = self._db.execute(
                "SELECT count(*) FROM outbox WHERE status IN ('pending', 'sent')").fetchone()
        return int(row[0])

    def mark_sent(self, event_ids: list[str]) -> None:
        """Mark a batch the broker acknowledged, in one transaction (one fsync per batch).

        Nothing depends on this write surviving a crash: on start every `sent` entry is
        pending again (requeue_unreceipted), so it is only bookkeeping.
        """
        now = _now()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "UPDATE outbox SET status = CASE WHEN status = 'pending' THEN 'sent' ELSE"
                    " status END, attempts = attempts + 1, sent_at = ? WHERE event_id = ?",
                    [(now, e) for e in event_ids],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def requeue_unreceipted(self, sent_before: datetime | None = None) -> int:
        """Everything sent but not receipted (and sent before `sent_before`) is sent again."""
        with self._lock:
            if sent_before is None:
                return self._db.execute(
                    "UPDATE outbox SET status = 'pending' WHERE status = 'sent'"
                ).rowcount
            return self._db.execute(
                "UPDATE outbox SET status = 'pending' WHERE status = 'sent' AND sent_at < ?",
                (sent_before.astimezone(UTC).isoformat(),),
            ).rowcount

    def record_receipt(
        self,
        partition: int,
        next_offset: int,
        event_id: str | None,
        status: str,
        reason: str | None,
        detail: str | None,
        ledger_index: int | None,
        leaf_hash: str | None,
        record_sha256: str | None = None,
    ) -> bool:
        """Apply one receipt and advance the receipts position, atomically; False if ignored."""
        return self.record_receipts([ReceiptRow(partition, next_offset, event_id, status, reason,
                                                detail, ledger_index, leaf_hash,
                                                record_sha256)])[0]

    def record_receipts(self, receipts: list[ReceiptRow]) -> list[bool]:
        """Apply receipts in order and advance the receipts positions in ONE transaction
        (one fsync per batch); for each, False if it was ignored.

        The commit comes before the caller tells anyone (a waiter, the consumer position),
        so a receipt is durable before it is acknowledged, batch or not.
        `accepted` is never overwritten: a later duplicate receipt of a re-send keeps it. A
        receipt whose `record_sha256` is not the hash of the entry's bytes judged other
        bytes with the same event id: it changes nothing.
        """
        applied: list[bool] = []
        positions: dict[int, int] = {}
        now = _now()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for r in receipts:
                    applies = r.event_id is not None
                    if r.event_id is not None and r.record_sha256 is not None:
                        row = self._db.execute("SELECT value FROM outbox WHERE event_id = ?",
                                               (r.event_id,)).fetchone()
                        applies = row is not None and hashlib.sha256(
                            bytes(row[0])).hexdigest() == r.record_sha256.lower()
                    if applies:
                        self._db.execute(
                            "UPDATE outbox SET status = ?, reason = ?, detail = ?,"
                            " ledger_index = coalesce(?, ledger_index),"
                            " leaf_hash = coalesce(?, leaf_hash), receipt_at = ?"
                            " WHERE event_id = ? AND status <> 'accepted'",
                            (r.status, r.reason, r.detail, r.ledger_index, r.leaf_hash, now,
                             r.event_id),
                        )
                    applied.append(applies)
                    positions[r.partition] = r.next_offset
                self._db.executemany(
                    "INSERT INTO receipt_positions (kpartition, next_offset) VALUES (?, ?)"
                    " ON CONFLICT (kpartition) DO UPDATE SET next_offset = excluded.next_offset",
                    list(positions.items()),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return applied

    def receipt_positions(self) -> dict[int, int]:
        with self._lock:
            rows = self._db.execute("SELECT kpartition, next_offset FROM receipt_positions")
            return {int(p): int(o) for p, o in rows}

    def get(self, event_id: str) -> OutboxEntry | None:
        found = self._select("WHERE event_id = ?", (event_id,))
        return found[0] if found else None

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, count(*) FROM outbox GROUP BY status")
            return {str(s): int(n) for s, n in rows}

    def _select(self, where: str, params: tuple[object, ...]) -> list[OutboxEntry]:
        with self._lock:
            rows = self._db.execute(
                "SELECT event_id, case_id, event_type, value, status, reason, detail,"
                f" ledger_index, leaf_hash, attempts FROM outbox {where}",
                params,
            ).fetchall()
        return [OutboxEntry(r[0], r[1], r[2], bytes(r[3]), r[4], r[5], r[6], r[7], r[8], r[9])
                for r in rows]
