"""The connector's outbox applies a receipt only to the bytes it judged (contract v1.1 §3)."""

from __future__ import annotations

import hashlib

from connectors.outbox import Outbox


def sha(value: bytes) -> str:
    return hashlib.sha256(value).hexdigest()


def receipt(outbox: Outbox, offset: int, event_id: str, status: str, value: bytes,
            reason: str | None = None, index: int | None = None) -> bool:
    return outbox.record_receipt(0, offset, event_id, status, reason, "d", index,
                                 "aGFzaA==" if index is not None else None, sha(value))


def test_a_rejection_of_other_bytes_never_overrides_a_pending_or_accepted_entry() -> None:
    outbox = Outbox(":memory:")
    outbox.add("e1", "C", "case.opened", b"mine")
    assert not receipt(outbox, 1, "e1", "rejected", b"forged", "MALFORMED_EVENT")
    assert outbox.get("e1").status == "pending"  # type: ignore[union-attr]
    assert receipt(outbox, 2, "e1", "accepted", b"mine", index=7)
    assert not receipt(outbox, 3, "e1", "rejected", b"forged", "SCHEMA_INVALID")
    entry = outbox.get("e1")
    assert entry is not None and (entry.status, entry.ledger_index) == ("accepted", 7)
    assert outbox.receipt_positions() == {0: 3}


def test_a_resend_of_an_id_with_other_content_ends_as_duplicate_not_the_earlier_accepted() -> None:
    outbox = Outbox(":memory:")
    outbox.add("e1", "C", "case.opened", b"first")
    receipt(outbox, 1, "e1", "accepted", b"first", index=3)
    assert not outbox.add("e1", "C", "case.opened", b"first")  # same bytes: nothing to send
    assert outbox.add("e1", "C", "case.opened", b"second")  # other bytes: sent again
    assert [e.event_id for e in outbox.unsent()] == ["e1"]
    assert not receipt(outbox, 2, "e1", "accepted", b"first", index=3)  # e.g. read again
    assert receipt(outbox, 3, "e1", "duplicate", b"second", index=3)
    entry = outbox.get("e1")
    assert entry is not None and (entry.status, entry.value) == ("duplicate", b"second")


def test_a_receipt_without_a_hash_from_a_10_hub_still_applies() -> None:
    outbox = Outbox(":memory:")
    outbox.add("e1", "C", "case.opened", b"mine")
    assert outbox.record_receipt(0, 1, "e1", "accepted", None, None, 1, "aGFzaA==")
    assert outbox.get("e1").status == "accepted"  # type: ignore[union-attr]
