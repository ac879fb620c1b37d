"""The key window rule (audit/key_window.py): an entry's key was added before the entry was
received (within the tolerance) and not revoked by then; SignatureCheck and its pooled and
exported forms apply it, and a key without ``added_at`` (an older export) is counted, not
failed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit.errors import VerificationError
from audit.key_window import KEY_ADDED_TOLERANCE, KeyWindowViolation, key_window_violation
from audit.ledger import NewEntry
from audit.memory import InMemoryCheckpointStore, InMemoryLedger
from audit.note_keys import Ed25519Signer
from audit.recheck import (
    ParallelSignatureCheck,
    SignatureCheck,
    key_from_json,
    key_to_json,
    verify_ledger,
)
from connectors.events import build_event
from schemas.dsse import EVENT_PAYLOAD_TYPE
from schemas.events import Role
from schemas.signing import KeyRecord, SigningKey
from tests.records import sample_data

AGENCY = SigningKey.generate()
ORIGIN = "test.linkage-hub/ledger"
T0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
US = timedelta(microseconds=1)

moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1),
                       timezones=st.just(UTC))
tolerances = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=1))


def key(added_at: datetime | None, revoked_at: datetime | None = None) -> KeyRecord:
    return KeyRecord(AGENCY.keyid, "zs-aic", Role.ADMINISTRATIVE, AGENCY.public_key,
                     revoked_at, added_at)


@given(moments, moments, st.none() | moments, tolerances)
def test_the_window_is_added_minus_tolerance_up_to_revocation(
        added: datetime, received: datetime, revoked: datetime | None,
        tolerance: timedelta) -> None:
    violation = key_window_violation(key(added, revoked), received, tolerance)
    inside = added - tolerance <= received and (revoked is None or received < revoked)
    assert (violation is None) == inside
    if violation is KeyWindowViolation.NOT_YET_ADDED:
        assert received < added - tolerance
    if violation is KeyWindowViolation.REVOKED:
        assert revoked is not None and revoked <= received


@given(moments, moments, tolerances, tolerances)
def test_a_larger_tolerance_never_rejects_what_a_smaller_accepts(
        added: datetime, received: datetime, t1: timedelta, t2: timedelta) -> None:
    small, large = sorted((t1, t2))
    if key_window_violation(key(added), received, small) is None:
        assert key_window_violation(key(added), received, large) is None


@given(moments, st.none() | moments, tolerances)
def test_an_unknown_added_at_is_never_called_not_yet_added(
        received: datetime, revoked: datetime | None, tolerance: timedelta) -> None:
    assert key_window_violation(key(None, revoked), received, tolerance) is not (
        KeyWindowViolation.NOT_YET_ADDED)


def test_the_boundaries() -> None:
    zero = timedelta(0)
    assert key_window_violation(key(T0), T0, zero) is None  # added at the very instant
    assert key_window_violation(key(T0), T0 - US, zero) is KeyWindowViolation.NOT_YET_ADDED
    assert key_window_violation(key(T0), T0 - KEY_ADDED_TOLERANCE) is None
    assert (key_window_violation(key(T0), T0 - KEY_ADDED_TOLERANCE - US)
            is KeyWindowViolation.NOT_YET_ADDED)
    assert key_window_violation(key(T0, T0 + US), T0, zero) is None
    assert key_window_violation(key(T0, T0), T0, zero) is KeyWindowViolation.REVOKED
    with pytest.raises(ValueError, match="negative"):
        key_window_violation(key(T0), T0, -US)


def ledger_received_at(received: list[datetime]) -> InMemoryLedger:
    entries = []
    for i, at in enumerate(received):
        event_id, event = build_event("zs-aic", "case.opened", f"C-{i}",
                                      sample_data("case.opened"))
        record = AGENCY.sign_envelope(EVENT_PAYLOAD_TYPE, event).to_json_bytes()
        entries.append(NewEntry(event_id=event_id, agency_id="zs-aic", case_id=f"C-{i}",
                                event_type="case.opened", event_time=at, received_at=at,
                                keyid=AGENCY.keyid, record=record))
    return InMemoryLedger(entries)


async def run(ledger: InMemoryLedger, check: SignatureCheck,
              pooled: ParallelSignatureCheck | None = None) -> None:
    await verify_ledger(ledger, InMemoryCheckpointStore(), check,
                        Ed25519Signer.generate(ORIGIN).verifier, origin=ORIGIN, batch=4,
                        check_many=pooled)


async def test_recheck_names_the_first_entry_received_before_its_key_was_added() -> None:
    # Entries 0-2 were received before the key was registered (beyond the tolerance),
    # 3-9 after: the first bad index is 0, with a reason code and both messages.
    received = [T0 + timedelta(minutes=i - 3) * 10 for i in range(10)]
    keys = {AGENCY.keyid: key(T0)}
    await run(ledger_received_at(received[3:]), SignatureCheck(keys))  # honest: passes
    with pytest.raises(VerificationError) as serial:
        await run(ledger_received_at(received), SignatureCheck(keys))
    assert (serial.value.reason, serial.value.index) == ("key_not_yet_added", 0)
    assert "才登记" in serial.value.message_zh and "容差 60 秒" in serial.value.message_zh
    assert f"only registered at {T0.isoformat()}" in serial.value.message_en
    with ParallelSignatureCheck(keys, workers=2) as pooled:
        with pytest.raises(VerificationError) as parallel:
            await run(ledger_received_at(received), SignatureCheck(keys), pooled)
    assert (parallel.value.reason, parallel.value.index) == ("key_not_yet_added", 0)
    assert parallel.value.message_en == serial.value.message_en
    # A tolerance wide enough to cover 30 minutes accepts the same ledger.
    await run(ledger_received_at(received), SignatureCheck(keys, timedelta(minutes=31)))


async def test_a_key_without_added_at_is_counted_not_failed() -> None:
    check = SignatureCheck({AGENCY.keyid: key(None)})
    await run(ledger_received_at([T0, T0, T0]), check)
    assert check.undated == 3
    dated = SignatureCheck({AGENCY.keyid: key(T0)})
    await run(ledger_received_at([T0]), dated)
    assert dated.undated == 0


def test_exported_keys_carry_added_at_and_older_exports_still_read() -> None:
    record = key(T0, T0 + timedelta(days=1))
    doc = key_to_json(record)
    assert doc["added_at"] == T0.isoformat()
    assert key_from_json(doc).added_at == T0
    assert key_from_json(doc).revoked_at == T0 + timedelta(days=1)
    del doc["added_at"]  # written before key histories carried it
    assert key_from_json(doc).added_at is None


@pytest.mark.parametrize("damage", [
    {"added_at": "yesterday"}, {"revoked_at": "2026-13-45"}, {"public_pem": "not a key"},
    {"role": "mayor"}])
def test_a_damaged_exported_key_is_a_finding_not_a_traceback(damage: dict[str, str]) -> None:
    doc = {**key_to_json(key(T0)), **damage}
    with pytest.raises(VerificationError) as caught:
        key_from_json(doc)
    assert caught.value.reason == "bad_key"
    missing = {k: v for k, v in key_to_json(key(T0)).items() if k != "keyid"}
    with pytest.raises(VerificationError):
        key_from_json(missing)
