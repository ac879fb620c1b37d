"""The outbox's fast paths (issue 14) equal its careful ones: ids the caller has just drawn
are stored without being looked up first, with the same outcome as when they are; entries
read back without the dataclass's `__init__` are the same entries."""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from connectors.outbox import Outbox, OutboxEntry, ReceiptRow

IDS = st.sampled_from(["e0", "e1", "e2", "e3", "e4", "e5"])
VALUES = st.sampled_from([b"a", b"b", b"c"])
BATCHES = st.lists(st.lists(st.tuples(IDS, VALUES), max_size=6), max_size=5)


def state(outbox: Outbox) -> list[tuple[object, ...]]:
    """Everything stored but the clock's columns."""
    db: sqlite3.Connection = outbox._db
    return db.execute("SELECT seq, event_id, case_id, event_type, value_sha256, status, reason,"
                      " detail, ledger_index, leaf_hash, attempts, value FROM outbox"
                      " JOIN outbox_values USING (seq) ORDER BY seq").fetchall()


@settings(max_examples=200, deadline=None)
@given(batches=BATCHES)
def test_fresh_ids_skip_the_lookup_with_the_same_outcome(
        batches: list[list[tuple[str, bytes]]]) -> None:
    """`fresh` names ids not stored yet (what `new_event_id` draws); repeated within a batch
    they are still counted once per change, as the careful path counts them."""
    careful, fast = Outbox(":memory:"), Outbox(":memory:")
    for batch in batches:
        rows = [(e, "C", "case.opened", v) for e, v in batch]
        stored = {r[0] for r in careful._db.execute("SELECT event_id FROM outbox")}
        fresh = {e for e, _ in batch if e not in stored}
        assert fast.add_many(rows, fresh) == careful.add_many(rows)
        assert state(fast) == state(careful)
        fast.mark_sent(fast.unsent()[:2])
        careful.mark_sent(careful.unsent()[:2])
    careful.close()
    fast.close()


def test_a_fresh_id_marked_in_a_later_batch_is_new_even_if_the_batch_repeats_it() -> None:
    outbox = Outbox(":memory:")
    rows = [("f", "C", "case.opened", b"x"), ("f", "C", "case.opened", b"x"),
            ("f", "C", "case.opened", b"y")]
    assert outbox.add_many(rows, {"f"}) == 2  # x, then y replaces it; the repeat of x is not
    assert outbox.get("f").value == b"y"  # type: ignore[union-attr]


def test_entries_read_back_are_the_entries_the_dataclass_builds() -> None:
    outbox = Outbox(":memory:")
    outbox.add_many([("e1", "C1", "case.opened", b"v1"), ("e2", "C2", "case.closed", b"v2")])
    outbox.mark_sent(outbox.unsent()[:1])
    outbox.record_receipts([ReceiptRow(0, 1, "e1", "accepted", None, "d", 7, "h",
                                       hashlib.sha256(b"v1").hexdigest())])
    got = [outbox.get("e1"), *outbox.unsent()]
    assert got == [
        OutboxEntry("e1", "C1", "case.opened", b"v1", "accepted", None, "d", 7, "h", 1,
                    hashlib.sha256(b"v1").hexdigest(), 1),
        OutboxEntry("e2", "C2", "case.closed", b"v2", "pending", None, None, None, None, 0,
                    hashlib.sha256(b"v2").hexdigest(), 2)]
    assert len({*got}) == 2 and repr(got[0]).startswith("OutboxEntry(event_id='e1'")


@settings(max_examples=100, deadline=None)
@given(batches=BATCHES, sent=st.lists(st.integers(0, 6), max_size=5))
def test_pending_reads_what_unsent_reads(batches: list[list[tuple[str, bytes]]],
                                         sent: list[int]) -> None:
    """The send loop's lean read (`pending`) is `unsent`'s entries, in order, limit and all,
    and marks them sent alike, whatever was replaced or sent before."""
    outbox = Outbox(":memory:")
    for batch, count in zip(batches, sent + [0] * len(batches), strict=False):
        outbox.add_many([(e, "C", "case.opened", v) for e, v in batch])
        for limit in (1, 3, 500):
            assert [(p.seq, p.event_id, p.case_id, p.value, p.value_sha256)
                    for p in outbox.pending(limit)] == [
                (e.seq, e.event_id, e.case_id, e.value, e.value_sha256)
                for e in outbox.unsent(limit)]
        outbox.mark_sent(outbox.pending(count))
    outbox.close()


class _Forgetful(dict[str, tuple[int, str]]):
    """An `_judged` that keeps nothing: every receipt is judged by asking the database."""

    def __setitem__(self, key: str, value: tuple[int, str]) -> None:
        pass


FEW_IDS, TWO_VALUES = st.sampled_from(["e0", "e1", "e2"]), st.sampled_from([b"a", b"b"])
OPS = st.lists(st.one_of(
    st.tuples(st.just("add"), st.lists(st.tuples(FEW_IDS, TWO_VALUES), max_size=3)),
    st.tuples(st.just("send"), st.integers(0, 3)),
    st.tuples(st.just("receipts"), st.lists(st.tuples(FEW_IDS, st.none() | TWO_VALUES),
                                            max_size=3)),
    st.tuples(st.just("elsewhere"), st.tuples(FEW_IDS, TWO_VALUES))), max_size=10)
REPLACED_HERE = [("add", [("e0", b"a")]), ("send", 1), ("add", [("e0", b"b")]),
                 ("receipts", [("e0", b"a")])]
REPLACED_ELSEWHERE = [("add", [("e0", b"a")]), ("send", 1), ("elsewhere", ("e0", b"b")),
                      ("receipts", [("e0", b"a")])]


@settings(max_examples=150, deadline=None)
@example(ops=REPLACED_HERE)
@example(ops=REPLACED_ELSEWHERE)
@given(ops=OPS)
def test_receipts_judged_from_memory_as_from_the_database(
        tmp_path_factory: Any, ops: list[tuple[str, Any]]) -> None:
    """Receipts judged against what `pending` read (`Outbox._judged`) are judged as the
    database judges them, whatever was added, replaced or sent meanwhile, here or by
    another connection to the same file ("elsewhere": another process replacing bytes)."""
    directory = tmp_path_factory.mktemp("o")
    fast, careful = Outbox(directory / "fast.sqlite"), Outbox(directory / "careful.sqlite")
    careful._judged = _Forgetful()
    for outbox in (fast, careful):  # the same outcomes, sooner
        outbox._db.execute("PRAGMA synchronous=OFF")
    offset = 0
    for op, arg in ops:
        for outbox in (fast, careful):
            if op == "add":
                outbox.add_many([(e, "C", "case.opened", v) for e, v in arg])
            elif op == "send":
                outbox.mark_sent(outbox.pending(arg))
            elif op == "elsewhere":
                other = sqlite3.connect(outbox._db.execute("PRAGMA database_list").fetchone()[2])
                other.execute("UPDATE outbox SET value_sha256 = ?, status = 'pending'"
                              " WHERE event_id = ?", (hashlib.sha256(arg[1]).hexdigest(), arg[0]))
                other.commit()
                other.close()
        if op == "receipts":
            offset += 1
            rows = [ReceiptRow(0, offset, e, "accepted", None, None, 1, None,
                               None if v is None else hashlib.sha256(v).hexdigest())
                    for e, v in arg]
            assert fast.record_receipts(rows) == careful.record_receipts(rows)
        assert state(fast) == state(careful)
    assert len(fast._judged) <= len(state(fast))
    fast.close()
    careful.close()
