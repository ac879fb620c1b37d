"""Contract v1.1 event types: each role may send exactly what the contract's table says."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.reasons import Reason
from schemas.signing import SigningKey
from streams.verification import Rejected, verify_record
from tests.records import V11_SENDER_ROLES, valid
from tests.unit.test_verification import AIC, PROC, PSB, registry

SENDERS: dict[str, tuple[str, SigningKey]] = {
    "administrative": ("zs-aic", AIC),
    "police": ("zs-psb", PSB),
    "procuratorate": ("zs-procuratorate", PROC),
}
ALLOWED = V11_SENDER_ROLES


@pytest.mark.parametrize(
    ("type_name", "role"), [(t, r) for t in ALLOWED for r in SENDERS], ids=lambda v: str(v)
)
def test_v11_permissions_by_role(type_name: str, role: str) -> None:
    agency, key = SENDERS[role]
    record = valid(key, agency, type_name)
    now = datetime.now(UTC)
    if role in ALLOWED[type_name]:
        verified = verify_record(record.topic, record.key, record.value, registry(now), now)
        assert verified.spec.name == type_name
    else:
        with pytest.raises(Rejected) as info:
            verify_record(record.topic, record.key, record.value, registry(now), now)
        assert info.value.reason is Reason.NOT_PERMITTED
