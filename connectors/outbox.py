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

The signed bytes live in their own table (`outbox_values`, keyed by the entry's `seq`), with
their SHA-256 beside the status: an entry's status changes three times (sent, receipted),
and SQLite rewrites the whole row, page and WAL frame each time; with the ~1 KiB value in
the row that was most of the outbox's CPU per event (issue 14). A file from before this
layout is converted when it is opened (`_split_values`), in one transaction.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Container, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

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

QUERY_IDS = 500
"""Event ids per `IN (...)` query (SQLite allows 999 parameters in old builds)."""

_VALUES_TABLE = """CREATE TABLE IF NOT EXISTS outbox_values (
    seq   INTEGER PRIMARY KEY,
    value BLOB NOT NULL
);"""

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT NOT NULL UNIQUE,
    case_id      TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    value_sha256 TEXT NOT NULL,
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
{_VALUES_TABLE}
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
    value_sha256: str
    seq: int = 0
    """The entry's place in the outbox (its row id): what mark_sent matches on."""


_ENTRY_FIELDS = tuple(f.name for f in fields(OutboxEntry))


def _entry(row: tuple[Any, ...]) -> OutboxEntry:
    """An OutboxEntry of a row in field order, filled without the frozen dataclass's
    `__init__` (one `object.__setattr__` call per field; `unsent` 34.5k -> 27.6k
    instructions an entry with the seq matching below, issue 14); the same object otherwise
    (tests/unit/test_outbox_fast_paths.py)."""
    entry = object.__new__(OutboxEntry)
    entry.__dict__.update(zip(_ENTRY_FIELDS, row, strict=True))
    return entry


class Pending(NamedTuple):
    """What the send loop needs of a pending entry (`Outbox.pending`)."""

    seq: int
    event_id: str
    case_id: str
    value: bytes
    value_sha256: str


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


def _sha256_hex(value: bytes) -> str:
    return hashlib.sha256(value).hexdigest()


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
        self._split_values()
        self._db.executescript(_SCHEMA)
        self._judged: dict[str, tuple[int, str]] = {}
        """(seq, value_sha256) of the entries `pending` read, by event id, until their receipt:
        what a receipt is judged against without asking the database again (a query of ~500
        ids a batch: ~2 µs an event, issue 14). Exact while only this object writes the file:
        add_many drops the ids it changes (nothing else changes a seq or a hash), and the
        whole of it is dropped when `PRAGMA data_version` says another connection committed
        (read in record_receipts' write transaction, in which no other can)."""
        self._data_version = self._version()

    def _version(self) -> int:
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def _split_values(self) -> None:
        """Convert a file of the earlier layout (the value in the outbox row): values to
        `outbox_values`, their hashes to `value_sha256`, in one transaction."""
        columns = {str(row[1]) for row in self._db.execute("PRAGMA table_info(outbox)")}
        if "value" not in columns:
            return
        self._db.create_function("linkage_sha256", 1, _sha256_hex, deterministic=True)
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(_VALUES_TABLE)
            self._db.execute("INSERT INTO outbox_values (seq, value) SELECT seq, value"
                             " FROM outbox")
            self._db.execute("ALTER TABLE outbox ADD COLUMN value_sha256 TEXT")
            self._db.execute("UPDATE outbox SET value_sha256 = linkage_sha256(value)")
            self._db.execute("ALTER TABLE outbox DROP COLUMN value")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, event_id: str, case_id: str, event_type: str, value: bytes) -> bool:
        """Store an event; False when that event id is already there with these bytes."""
        return self.add_many([(event_id, case_id, event_type, value)]) == 1

    def add_many(self, rows: list[tuple[str, str, str, bytes]],
                 fresh: Container[str] = ()) -> int:
        """Store (event_id, case_id, type, value) rows in one transaction; returns how many
        were new or replaced: a known id with the same bytes (the same SHA-256) is skipped,
        with other bytes it replaces the entry (to be sent again).

        `fresh`: ids the caller has just drawn (`new_event_ids`: this millisecond and 74
        random bits), which are not looked up first (~1 µs an event, issue 14): not stored,
        they are new; a collision with a stored id would take the insert's own conflict
        clause and replace the entry, as any other bytes for a known id do.

        Each value goes in under its entry's seq, looked up by the insert itself (a
        sub-select on the event id's index) rather than by one more query of every id and a
        dict of their seqs (issue 14; with `fresh`, add_many took 11.4-13.6 µs an event
        against 12.9-17.5, interleaved, 10,000 events each)."""
        now = _now()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                stored = self._value_hashes([row[0] for row in rows if row[0] not in fresh])
                changed = []
                for event_id, case_id, event_type, value in rows:
                    digest = _sha256_hex(value)
                    if stored.get(event_id) != digest:
                        stored[event_id] = digest
                        changed.append((event_id, case_id, event_type, digest, now, value))
                self._db.executemany(
                    "INSERT INTO outbox (event_id, case_id, event_type, value_sha256, created_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (event_id) DO UPDATE SET"
                    " case_id = excluded.case_id, event_type = excluded.event_type,"
                    " value_sha256 = excluded.value_sha256, status = 'pending', reason = NULL,"
                    " detail = NULL, ledger_index = NULL, leaf_hash = NULL, receipt_at = NULL,"
                    " created_at = excluded.created_at", [c[:5] for c in changed])
                for c in changed:
                    self._judged.pop(c[0], None)
                self._db.executemany("INSERT OR REPLACE INTO outbox_values (seq, value)"
                                     " SELECT seq, ? FROM outbox WHERE event_id = ?",
                                     [(c[5], c[0]) for c in changed])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return len(changed)

    def unsent(self, limit: int = 500) -> list[OutboxEntry]:
        return self._select("WHERE status = 'pending' ORDER BY seq LIMIT ?", (limit,))

    def pending(self, limit: int = 500) -> list[Pending]:
        """`unsent` with only what a send needs: the same entries in the same order, read as
        five columns into tuples instead of twelve into entries (issue 14: 27.9k -> 11.5k
        instructions an entry, ~3.0 -> ~1.4 µs)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, event_id, case_id, value, value_sha256"
                " FROM outbox JOIN outbox_values USING (seq)"
                " WHERE status = 'pending' ORDER BY seq LIMIT ?", (limit,))
            pending = list(map(Pending._make, rows))
            for p in pending:
                self._judged[p.event_id] = (p.seq, p.value_sha256)
            return pending

    def awaiting_count(self) -> int:
        """How many entries still await a receipt (an index count: no rows are loaded)."""
        with self._lock:
            row = self._db.execute(
                "SELECT count(*) FROM outbox WHERE status IN ('pending', 'sent')").fetchone()
        return int(row[0])

    def awaiting(self) -> bool:
        """Whether any entry awaits a receipt: one index probe, where awaiting_count walks
        every awaiting entry (~0.6 ms at 20,000; the connector asks after every receipt
        batch)."""
        with self._lock:
            row = self._db.execute("SELECT EXISTS (SELECT 1 FROM outbox"
                                   " WHERE status IN ('pending', 'sent'))").fetchone()
        return bool(row[0])

    def mark_sent(self, entries: Sequence[OutboxEntry | Pending]) -> None:
        """Mark a batch the broker acknowledged, in one transaction (one fsync per batch).

        Matched by seq (the row id: no probe of the event id index), and only entries still
        holding the bytes that were sent: one replaced meanwhile (add_many
        with other bytes for its id) stays pending and goes out in the next batch.
        Nothing depends on this write surviving a crash: on start every `sent` entry is
        pending again (requeue_unreceipted), so it is only bookkeeping.
        """
        now = _now()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "UPDATE outbox SET status = CASE WHEN status = 'pending' THEN 'sent' ELSE"
                    " status END, attempts = attempts + 1, sent_at = ?"
                    " WHERE seq = ? AND value_sha256 = ?",
                    [(now, e.seq, e.value_sha256) for e in entries],
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
        positions: dict[int, int] = {}
        now = _now()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if (version := self._version()) != self._data_version:
                    self._judged.clear()  # another connection wrote: it may have changed any
                    self._data_version = version
                ids = [r.event_id for r in receipts if r.event_id is not None]
                found = {e: self._judged[e] for e in ids if e in self._judged}
                if len(found) < len(ids):
                    found.update(self._entries([e for e in ids if e not in found]))
                applied = [r.event_id is not None and (r.record_sha256 is None or (
                    r.event_id in found and found[r.event_id][1] == r.record_sha256.lower()))
                    for r in receipts]
                self._db.executemany(
                    "UPDATE outbox SET status = ?, reason = ?, detail = ?,"
                    " ledger_index = coalesce(?, ledger_index),"
                    " leaf_hash = coalesce(?, leaf_hash), receipt_at = ?"
                    " WHERE seq = ? AND status <> 'accepted'",
                    [(r.status, r.reason, r.detail, r.ledger_index, r.leaf_hash, now,
                      found[r.event_id][0])
                     for r, applies in zip(receipts, applied, strict=True)
                     if applies and r.event_id in found])
                for r in receipts:
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
            for e in ids:
                self._judged.pop(e, None)
        return applied

    def _value_hashes(self, event_ids: list[str]) -> dict[str, str]:
        """The stored value_sha256 of each of these entries that exists (the caller holds the
        lock)."""
        return {e: h for e, h in self._by_event_id("value_sha256", event_ids)}

    def _entries(self, event_ids: list[str]) -> dict[str, tuple[int, str]]:
        """(seq, value_sha256) of each of these entries that exists (the caller holds the
        lock): a receipt's update then finds its row by seq, not by a second probe of the
        event id index."""
        return {e: (s, h) for e, s, h in self._by_event_id("seq, value_sha256", event_ids)}

    def _by_event_id(self, columns: str, event_ids: list[str]) -> list[tuple[Any, ...]]:
        """event_id and these columns of the entries with these ids, one statement per
        QUERY_IDS ids."""
        found: list[tuple[Any, ...]] = []
        for start in range(0, len(event_ids), QUERY_IDS):
            chunk = event_ids[start:start + QUERY_IDS]
            found.extend(self._db.execute(f"SELECT event_id, {columns} FROM outbox WHERE"
                                          f" event_id IN ({','.join('?' * len(chunk))})", chunk))
        return found

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
                " ledger_index, leaf_hash, attempts, value_sha256, seq"
                f" FROM outbox JOIN outbox_values USING (seq) {where}",
                params,
            ).fetchall()
        return [_entry(r) for r in rows]
