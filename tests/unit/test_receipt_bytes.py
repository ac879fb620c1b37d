"""The hub's receipt envelopes (streams.ingress.receipt_envelope, which writes the payload from
the outcome's members and signs with schemas.signing.EnvelopeSigner) are byte for byte what the
Receipt model and SigningKey.sign_model write, for any outcome the store can hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.dsse import RECEIPT_PAYLOAD_TYPE
from schemas.receipt import Receipt, ReceiptStatus
from schemas.signing import SigningKey
from streams.ingress import receipt_envelope, receipt_signer, stored_receipt
from streams.ports import StoredOutcome

HUB = SigningKey.generate()
SIGNER = receipt_signer(HUB)

TEXT = st.none() | st.text(max_size=40) | st.sampled_from([
    "已于账本序号 3 接收 / already accepted at ledger index 3", "a\x00b", "tab\there",
    "quote\" back\\slash", "\u2028\u2029", "\x7f\x1f", "😀", "</script>"])
OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
TIMES = st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2999, 12, 30),
                     timezones=st.just(UTC) | OFFSETS)
OUTCOMES = st.builds(
    StoredOutcome,
    key=st.tuples(st.text(max_size=20), st.integers(0, 2**31 - 1), st.integers(0, 2**63 - 1),
                  st.binary(min_size=32, max_size=32)),
    status=st.sampled_from(ReceiptStatus),
    event_id=st.none() | st.uuids().map(str) | st.text(max_size=40),
    received_at=TIMES, reason=TEXT, detail=TEXT,
    ledger_index=st.none() | st.integers(0, 2**63 - 1),
    leaf_hash=st.none() | st.binary(max_size=40),
    record=st.none() | st.binary(max_size=20))


@settings(max_examples=400, deadline=None)
@given(stored=OUTCOMES)
def test_receipt_envelopes_are_the_models_bytes(stored: StoredOutcome) -> None:
    receipt = stored_receipt(stored)
    assert receipt_envelope(SIGNER, stored) == HUB.sign_model(RECEIPT_PAYLOAD_TYPE, receipt)
    assert Receipt.model_validate_json(receipt.model_dump_json()) == receipt
