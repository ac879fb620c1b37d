"""`ledger verify` on every core: the pooled signature check finds what the serial one finds,
and still names the first bad index when bad entries fall in different chunks and batches."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from audit.errors import VerificationError
from audit.ledger import NewEntry
from audit.memory import InMemoryCheckpointStore, InMemoryLedger
from audit.note_keys import Ed25519Signer
from audit.recheck import ParallelSignatureCheck, SignatureCheck, verify_ledger
from connectors.events import build_event
from schemas.dsse import EVENT_PAYLOAD_TYPE
from schemas.events import Role
from schemas.signing import KeyRecord, SigningKey
from tests.records import sample_data

AGENCY = SigningKey.generate()
FORGER = SigningKey.generate()
KEYS = {AGENCY.keyid: KeyRecord(AGENCY.keyid, "zs-aic", Role.ADMINISTRATIVE, AGENCY.public_key)}
ORIGIN = "test.linkage-hub/ledger"
NOW = datetime.now(UTC)


def ledger_with(forged: set[int], size: int = 24) -> InMemoryLedger:
    entries = []
    for i in range(size):
        event_id, event = build_event("zs-aic", "case.opened", f"C-{i}",
                                      sample_data("case.opened"))
        signer = FORGER if i in forged else AGENCY
        record = signer.sign_envelope(EVENT_PAYLOAD_TYPE, event).to_json_bytes()
        entries.append(NewEntry(event_id=event_id, agency_id="zs-aic", case_id=f"C-{i}",
                                event_type="case.opened", event_time=NOW, received_at=NOW,
                                keyid=AGENCY.keyid, record=record))
    return InMemoryLedger(entries)


async def run(ledger: InMemoryLedger, pooled: ParallelSignatureCheck | None) -> None:
    await verify_ledger(ledger, InMemoryCheckpointStore(), SignatureCheck(KEYS),
                        Ed25519Signer.generate(ORIGIN).verifier, origin=ORIGIN, batch=8,
                        check_many=pooled)


async def test_the_pool_names_the_same_first_bad_index_as_the_serial_check() -> None:
    with ParallelSignatureCheck(KEYS, workers=2) as pooled:
        await run(ledger_with(set()), pooled)  # an intact ledger passes
        for forged in ({13, 21}, {3, 5, 20}, {23}):
            with pytest.raises(VerificationError) as serial:
                await run(ledger_with(forged), None)
            with pytest.raises(VerificationError) as parallel:
                await run(ledger_with(forged), pooled)
            assert parallel.value.index == serial.value.index == min(forged)
            assert parallel.value.reason == serial.value.reason == "bad_signature"
            assert parallel.value.message_en == serial.value.message_en
