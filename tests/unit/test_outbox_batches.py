"""The outbox's batched writes: one commit per receipt batch, all of it or none of it."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from connectors.outbox import Outbox, ReceiptRow


def row(offset: int, event_id: str | None, status: str, value: bytes | None,
        partition: int = 0) -> ReceiptRow:
    return ReceiptRow(partition, offset, event_id, status, None, None, offset, None,
                      hashlib.sha256(value).hexdigest() if value is not None else None)


def test_a_receipt_batch_applies_in_order_and_keeps_the_last_position_per_partition() -> None:
    outbox = Outbox(":memory:")
    outbox.add_many([(f"e{i}", "C", "case.opened", f"v{i}".encode()) for i in range(4)])
    applied = outbox.record_receipts([
        row(1, "e0", "accepted", b"v0"),
        row(2, "e1", "rejected", b"forged"),   # other bytes: ignored
        row(3, None, "", None),                # unreadable receipt: only the position moves
        row(4, "e0", "duplicate", b"v0"),      # accepted is never overwritten
        row(9, "e2", "duplicate", b"v2", partition=1),
    ])
    assert applied == [True, False, False, True, True]
    assert {e: outbox.get(e).status for e in ("e0", "e1", "e2", "e3")} == {  # type: ignore[union-attr]
        "e0": "accepted", "e1": "pending", "e2": "duplicate", "e3": "pending"}
    assert outbox.receipt_positions() == {0: 4, 1: 9}
    assert outbox.awaiting_count() == 2


def test_a_batch_that_fails_midway_applies_nothing_not_even_its_position(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    outbox.add_many([("e0", "C", "case.opened", b"v0"), ("e1", "C", "case.opened", b"v1")])
    bad = ReceiptRow(0, 2, "e1", "accepted", None, None, "not an int", None)  # type: ignore[arg-type]
    outbox._db.execute("CREATE TRIGGER refuse BEFORE UPDATE OF ledger_index ON outbox"
                       " WHEN typeof(NEW.ledger_index) = 'text'"
                       " BEGIN SELECT RAISE(ABORT, 'refused'); END")
    with pytest.raises(sqlite3.IntegrityError):
        outbox.record_receipts([row(1, "e0", "accepted", b"v0"), bad])
    assert outbox.get("e0").status == "pending"  # type: ignore[union-attr]
    assert outbox.receipt_positions() == {}
    outbox.close()
    reopened = Outbox(tmp_path / "o.sqlite")  # and the file is usable afterwards
    assert reopened.awaiting_count() == 2


def test_mark_sent_marks_the_whole_batch_and_a_restart_sends_it_again() -> None:
    outbox = Outbox(":memory:")
    outbox.add_many([(f"e{i}", "C", "case.opened", b"x%d" % i) for i in range(3)])
    outbox.mark_sent(outbox.unsent()[:2])
    assert [e.event_id for e in outbox.unsent()] == ["e2"]
    assert outbox.awaiting_count() == 3  # sent is not receipted
    assert outbox.requeue_unreceipted() == 2
    assert [e.event_id for e in outbox.unsent()] == ["e0", "e1", "e2"]


def test_an_entry_replaced_while_its_batch_was_sent_stays_pending() -> None:
    """add_many with other bytes for an id whose old bytes are in flight: the ack of the
    old bytes does not mark the new ones sent, so they go out in the next batch."""
    outbox = Outbox(":memory:")
    outbox.add_many([("e0", "C", "case.opened", b"old"), ("e1", "C", "case.opened", b"x")])
    in_flight = outbox.unsent()
    assert outbox.add("e0", "C", "case.opened", b"new")  # replaced meanwhile
    outbox.mark_sent(in_flight)
    assert [(e.event_id, e.value) for e in outbox.unsent()] == [("e0", b"new")]
    assert outbox.get("e1").status == "sent"  # type: ignore[union-attr]
