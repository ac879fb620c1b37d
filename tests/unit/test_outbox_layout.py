"""The outbox keeps the signed bytes apart from the status (connectors/outbox.py): a file of
the earlier layout is converted on open with nothing lost, and replacing, matching and
waiting behave as they did."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from connectors.outbox import _SCHEMA, _VALUES_TABLE, QUERY_IDS, Outbox, ReceiptRow

EARLIER = (_SCHEMA.replace("value_sha256 TEXT NOT NULL", "value        BLOB NOT NULL")
           .replace(_VALUES_TABLE, ""))
"""The layout before the split: the value in the outbox row, no outbox_values table."""


def sha(value: bytes) -> str:
    return hashlib.sha256(value).hexdigest()


def earlier_file(path: Path) -> None:
    """An outbox written by the connector before the split: one entry in each state."""
    db = sqlite3.connect(path)
    db.executescript(EARLIER)
    db.executemany(
        "INSERT INTO outbox (event_id, case_id, event_type, value, status, ledger_index,"
        " attempts, created_at, sent_at) VALUES (?, 'C', 'case.opened', ?, ?, ?, ?, 't', ?)",
        [("pending", b"v-pending", "pending", None, 0, None),
         ("sent", b"v-sent", "sent", None, 1, "2026-11-27T00:00:00+00:00"),
         ("accepted", b"v-accepted", "accepted", 4, 1, "2026-11-27T00:00:00+00:00")])
    db.execute("INSERT INTO receipt_positions VALUES (0, 17)")
    db.commit()
    db.close()


def test_an_earlier_file_is_converted_with_nothing_lost(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    earlier_file(path)
    outbox = Outbox(path)
    entries = {e: outbox.get(e) for e in ("pending", "sent", "accepted")}
    assert {e: (x.value, x.status, x.attempts, x.ledger_index) for e, x in entries.items()
            if x is not None} == {
        "pending": (b"v-pending", "pending", 0, None), "sent": (b"v-sent", "sent", 1, None),
        "accepted": (b"v-accepted", "accepted", 1, 4)}
    assert outbox.receipt_positions() == {0: 17}
    assert [e.event_id for e in outbox.unsent()] == ["pending"]
    # the converted hashes are the values' own: a receipt for these bytes applies, others not
    assert outbox.record_receipts([
        ReceiptRow(0, 18, "sent", "accepted", None, None, 9, "h", sha(b"v-sent")),
        ReceiptRow(0, 19, "pending", "rejected", "X", None, None, None, sha(b"forged"))]) == [
        True, False]
    assert not outbox.add("accepted", "C", "case.opened", b"v-accepted")  # same bytes
    assert outbox.add("pending", "C", "case.opened", b"v-new")  # other bytes replace
    assert outbox.get("pending").value == b"v-new"  # type: ignore[union-attr]
    outbox.close()
    columns = {r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(outbox)")}
    assert "value" not in columns and "value_sha256" in columns
    Outbox(path).close()  # opening a converted file again changes nothing


def test_a_conversion_that_fails_leaves_the_earlier_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    earlier_file(path)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE outbox_values (clash INTEGER)")  # the copy into it fails
    db.commit()
    db.close()
    with pytest.raises(sqlite3.OperationalError):
        Outbox(path)
    db = sqlite3.connect(path)
    assert db.execute("SELECT event_id, value FROM outbox ORDER BY seq").fetchall() == [
        ("pending", b"v-pending"), ("sent", b"v-sent"), ("accepted", b"v-accepted")]
    db.close()


def test_one_batch_with_an_id_twice_stores_the_last_bytes_and_counts_each_change() -> None:
    outbox = Outbox(":memory:")
    assert outbox.add_many([("e1", "C", "case.opened", b"a"), ("e1", "C", "case.opened", b"a"),
                            ("e2", "C", "case.opened", b"x"), ("e1", "C", "case.opened", b"b")]
                           ) == 3
    assert outbox.get("e1").value == b"b"  # type: ignore[union-attr]
    assert [e.event_id for e in outbox.unsent()] == ["e1", "e2"]  # e1 keeps its place


def test_batches_larger_than_one_query_are_stored_and_matched(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    rows = [(f"e{i}", "C", "case.opened", b"v%d" % i) for i in range(2 * QUERY_IDS + 7)]
    assert outbox.add_many(rows) == len(rows)
    assert outbox.add_many(rows) == 0
    applied = outbox.record_receipts([ReceiptRow(0, i + 1, e, "accepted", None, None, i, None,
                                                 sha(v)) for i, (e, _, _, v) in enumerate(rows)])
    assert all(applied) and outbox.counts() == {"accepted": len(rows)}


def test_awaiting_says_whether_any_entry_still_awaits_a_receipt() -> None:
    outbox = Outbox(":memory:")
    assert not outbox.awaiting()
    outbox.add("e1", "C", "case.opened", b"v")
    assert outbox.awaiting()
    outbox.mark_sent(outbox.unsent())
    assert outbox.awaiting()
    outbox.record_receipt(0, 1, "e1", "rejected", "X", None, None, None, sha(b"v"))
    assert not outbox.awaiting() and outbox.awaiting_count() == 0
