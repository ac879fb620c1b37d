"""Every reason code of the contract, decided by the pure verifier (no servers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from schemas.events import EVENT_TYPES, Role
from schemas.reasons import Reason
from schemas.signing import SigningKey
from streams.verification import KeyRecord, RegistrySnapshot, Rejected, verify_record
from tests.records import BAD_RECORDS, valid

AIC = SigningKey.generate()
PSB = SigningKey.generate()
PROC = SigningKey.generate()
REVOKED = SigningKey.generate()
STRANGER = SigningKey.generate()


def registry(now: datetime) -> RegistrySnapshot:
    keys = {
        AIC.keyid: KeyRecord(AIC.keyid, "zs-aic", Role.ADMINISTRATIVE, AIC.public_key),
        PSB.keyid: KeyRecord(PSB.keyid, "zs-psb", Role.POLICE, PSB.public_key),
        PROC.keyid: KeyRecord(PROC.keyid, "zs-procuratorate", Role.PROCURATORATE, PROC.public_key),
        REVOKED.keyid: KeyRecord(REVOKED.keyid, "zs-aic", Role.ADMINISTRATIVE,
                                 REVOKED.public_key, now - timedelta(hours=1)),
    }
    permissions = {role: frozenset(n for n, s in EVENT_TYPES.items() if role in s.roles)
                   for role in Role}
    return RegistrySnapshot(keys, permissions)


def verify(record: object) -> object:
    now = datetime.now(UTC)
    return verify_record(record.topic, record.key, record.value, registry(now), now)  # type: ignore[attr-defined]


@pytest.mark.parametrize("type_name", sorted(EVENT_TYPES))
def test_every_event_type_verifies_for_a_permitted_sender(type_name: str) -> None:
    from tests.records import sender_of

    sender = sender_of(type_name)
    key = {"zs-aic": AIC, "zs-psb": PSB, "zs-procuratorate": PROC}[sender]
    verified = verify(valid(key, sender, type_name))
    assert verified.spec.name == type_name  # type: ignore[attr-defined]


@pytest.mark.parametrize("code", sorted(BAD_RECORDS))
def test_each_reason_code(code: str) -> None:
    record = BAD_RECORDS[code](AIC, STRANGER)
    with pytest.raises(Rejected) as info:
        verify(record)
    assert info.value.reason == Reason(code)
    assert info.value.detail
    if record.event_id:
        assert info.value.event_id == record.event_id


def test_key_revoked() -> None:
    with pytest.raises(Rejected) as info:
        verify(valid(REVOKED, "zs-aic", "case.opened"))
    assert info.value.reason is Reason.KEY_REVOKED


def test_key_revoked_only_from_its_revocation_time() -> None:
    now = datetime.now(UTC)
    snapshot = registry(now)
    from tests.records import event_dict, signed

    earlier = now - timedelta(hours=2)
    event = event_dict("zs-aic", "case.opened", "C-2", time=(earlier - timedelta(minutes=1)).isoformat())
    record = signed(REVOKED, "zs-aic", event)
    assert verify_record(record.topic, record.key, record.value, snapshot, earlier)


def test_schema_invalid_points_at_the_bad_field() -> None:
    with pytest.raises(Rejected) as info:
        verify(BAD_RECORDS["SCHEMA_INVALID"](AIC, STRANGER))
    assert info.value.detail.startswith("/data/fine:")


def test_signature_by_another_agencys_key_is_a_source_mismatch() -> None:
    record = valid(PSB, "zs-psb", "clue.notified")
    moved = type(record)("linkage.ingress.zs-aic", record.key, record.value, record.event_id)
    with pytest.raises(Rejected) as info:
        verify(moved)
    assert info.value.reason is Reason.SOURCE_MISMATCH


def test_record_without_key_is_a_case_mismatch() -> None:
    record = valid(AIC, "zs-aic", "case.opened")
    with pytest.raises(Rejected) as info:
        verify(type(record)(record.topic, None, record.value, record.event_id))
    assert info.value.reason is Reason.CASE_MISMATCH


def test_event_time_within_skew_is_accepted() -> None:
    from tests.records import event_dict, now_iso, signed

    event = event_dict("zs-aic", "case.opened", "C-1", time=now_iso(timedelta(minutes=4)))
    assert verify(signed(AIC, "zs-aic", event))


@pytest.mark.parametrize("offset_hours", [0, 8, -5, 14])
@pytest.mark.parametrize("skew_minutes", [-90, 4, 6])
def test_event_time_is_read_as_its_instant_in_utc(offset_hours: int, skew_minutes: int) -> None:
    """`VerifiedEvent.event_time` is the event's time as a `datetime.UTC` time (what the ledger
    stores), and the clock-skew check judges that instant whatever the event's offset."""
    from tests.records import event_dict, signed

    now = datetime.now(UTC)
    at = (now + timedelta(minutes=skew_minutes)).astimezone(
        timezone(timedelta(hours=offset_hours)))
    event = event_dict("zs-aic", "case.opened", "C-1", time=at.isoformat())
    record = signed(AIC, "zs-aic", event)
    if skew_minutes > 5:
        with pytest.raises(Rejected) as info:
            verify_record(record.topic, record.key, record.value, registry(now), now)
        assert info.value.reason is Reason.CLOCK_SKEW
        return
    verified = verify_record(record.topic, record.key, record.value, registry(now), now)
    assert verified.event_time.tzinfo is UTC
    assert verified.event_time == verified.event.time == at
    assert verified.event_time.utcoffset() == timedelta(0)
