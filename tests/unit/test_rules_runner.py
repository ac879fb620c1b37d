"""The rules runner's pure parts: the alert diff, event decoding, the in-memory fold, rule loading."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest

from connectors.events import build_event
from schemas.alert import Alert
from schemas.dsse import ALERT_PAYLOAD_TYPE, EVENT_PAYLOAD_TYPE, Envelope
from schemas.signing import SigningKey, verify_envelope_signature
from streams.rules import CaseState, apply, evaluate, load_rules
from streams.rules_runner import (
    BadEvent,
    CaseFold,
    Transition,
    alert_envelope,
    decode_event,
    diff_alerts,
    read_accepted,
    rules_from_env,
    startup_rules,
)

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
KEY = SigningKey.generate()
RULES = load_rules()


def alert(alert_id: str, status: Literal["open", "resolved"] = "open", case_id: str = "C1",
          **facts: Any) -> Alert:
    return Alert(alert_id=alert_id, rule_id="HANDOVER_LATE", status=status,
                 case_id=case_id, agency="zs-aic", raised_at=NOW, due_at=NOW,
                 legal_basis="SC Art 5", facts=facts, message_zh="【批准后未及时移送】逾期。",
                 message_en="[Handover to police late] overdue.")


def applied(previous: dict[str, Alert], changes: list[Transition]) -> dict[str, Alert]:
    return {**previous, **{t.alert.alert_id: t.alert for t in changes}}


def test_a_new_open_decision_is_raised_once() -> None:
    changes = diff_alerts({}, [alert("a")], {"C1"}, NOW)
    assert [(t.alert.alert_id, t.previous, t.alert.status) for t in changes] == [("a", None, "open")]
    assert diff_alerts(applied({}, changes), [alert("a")], {"C1"}, NOW) == []


def test_a_decision_resolving_an_open_alert_keeps_its_id() -> None:
    changes = diff_alerts({"a": alert("a")}, [alert("a", "resolved")], {"C1"}, NOW)
    assert [(t.alert.alert_id, t.previous, t.alert.status) for t in changes] == [
        ("a", "open", "resolved")]


def test_a_late_act_seen_only_as_resolved_is_recorded() -> None:
    changes = diff_alerts({}, [alert("late", "resolved")], {"C1"}, NOW)
    assert [(t.previous, t.alert.status) for t in changes] == [(None, "resolved")]
    assert diff_alerts(applied({}, changes), [alert("late", "resolved")], {"C1"}, NOW) == []


def test_an_open_alert_no_longer_supported_is_retracted() -> None:
    [change] = diff_alerts({"a": alert("a")}, [], {"C1"}, NOW)
    assert change.previous == "open" and change.alert.status == "resolved"
    assert change.alert.facts["resolution"] == "no_longer_supported"
    assert change.alert.message_en.endswith("resolved.")
    assert "予以解除" in change.alert.message_zh


def test_only_evaluated_cases_lose_their_alerts() -> None:
    assert diff_alerts({"a": alert("a", case_id="C2")}, [], {"C1"}, NOW) == []
    assert diff_alerts({"a": alert("a")}, [], {"C1"}, NOW, retract_unsupported=False) == []
    assert diff_alerts({"a": alert("a", "resolved")}, [], {"C1"}, NOW) == []


def test_a_resolved_alert_the_engine_opens_again_is_reopened() -> None:
    [change] = diff_alerts({"a": alert("a", "resolved")}, [alert("a")], {"C1"}, NOW)
    assert (change.previous, change.alert.status) == ("resolved", "open")


def test_unchanged_status_publishes_nothing_even_if_facts_moved() -> None:
    assert diff_alerts({"a": alert("a", x=1)}, [alert("a", x=2)], {"C1"}, NOW) == []


def record(agency: str, type_name: str, case_id: str, data: dict[str, Any]) -> bytes:
    _, raw = build_event(agency, type_name, case_id, data)
    return KEY.sign_envelope(EVENT_PAYLOAD_TYPE, raw).to_json_bytes()


def at(hours: float) -> str:
    return (NOW - timedelta(days=10) + timedelta(hours=hours)).isoformat()


PARTY = [{"kind": "organization", "id_type": "USCC", "id_number": "9144X", "name": "某厂"}]
PENALTY_CASE = [
    record("zs-aic", "case.opened", "P1", {"offence": "trademark_counterfeiting",
                                           "opened_at": at(0), "parties": PARTY, "summary": "s"}),
    record("zs-aic", "case.assessed", "P1", {"assessed_at": at(1),
                                             "illegal_business_amount": "86000.00"}),
    record("zs-aic", "penalty.decided", "P1", {"decision_no": "罚1", "decided_at": at(2),
                                               "fine": "1000.00", "confiscated": "0.00"}),
]
TRANSFER = record("zs-aic", "case.transferred", "P1", {
    "to_agency": "zs-psb", "transferred_at": at(200),
    "documents": [{"kind": k, "title": k, "sha256": "0" * 64} for k in
                  ("transfer_letter", "investigation_report", "seized_items_list",
                   "inspection_report")]})


def test_engine_decisions_through_the_diff_raise_then_resolve_the_same_alert() -> None:
    fold = CaseFold()
    for value in PENALTY_CASE:
        fold.add(value)
    state = fold.states["P1"]
    first = diff_alerts({}, evaluate(state, RULES, NOW), {"P1"}, NOW)
    penalty = [t.alert for t in first if t.alert.rule_id == "PENALTY_INSTEAD_OF_TRANSFER"]
    assert [a.status for a in penalty] == ["open"]
    stored = applied({}, first)
    assert diff_alerts(stored, evaluate(state, RULES, NOW), {"P1"}, NOW) == []  # re-run: silent
    fold.add(TRANSFER)
    later = diff_alerts(stored, evaluate(fold.states["P1"], RULES, NOW), {"P1"}, NOW)
    resolved = [t for t in later if t.alert.alert_id == penalty[0].alert_id]
    assert [(t.previous, t.alert.status) for t in resolved] == [("open", "resolved")]


def test_decode_event_reads_the_ledgered_envelope() -> None:
    event = decode_event(PENALTY_CASE[0])
    assert (event.case_id, event.type_name, event.agency) == ("P1", "case.opened", "zs-aic")
    with pytest.raises(BadEvent):
        decode_event(b"{not json")
    with pytest.raises(BadEvent):
        decode_event(KEY.sign_envelope(EVENT_PAYLOAD_TYPE, b'{"id": 1}').to_json_bytes())


def test_the_runner_reads_a_record_once_and_applies_it_as_the_careful_path_does() -> None:
    """The live path (`read_accepted`) validates each record once; a record it cannot vouch
    for (here: another DSSE writer's layout, URL-safe base64 with no padding) goes the careful
    way; both fold to the state `apply` over `decode_event` gives, and junk is still BadEvent."""
    careful = fast = odd = None
    for value in PENALTY_CASE:
        read = read_accepted(value)
        assert read.data is not None and read.record == value
        envelope = json.loads(value)
        envelope["payload"] = base64.urlsafe_b64encode(
            base64.b64decode(envelope["payload"])).decode().rstrip("=")
        other = read_accepted(json.dumps({"extra": 1, **envelope}).encode())
        assert other.data is None and other.event == decode_event(value)
        careful = apply(careful, decode_event(value))
        fast = read.applied_to(fast or CaseState(case_id="P1"))
        odd = other.applied_to(odd or CaseState(case_id="P1"))
        assert fast == careful == odd
    with pytest.raises(BadEvent):
        read_accepted(b"{not json")
    with pytest.raises(BadEvent):
        read_accepted(KEY.sign_envelope(EVENT_PAYLOAD_TYPE, b'{"id": 1}').to_json_bytes())


def test_the_fold_counts_and_skips_what_it_cannot_apply() -> None:
    fold = CaseFold()
    _, raw = build_event("zs-aic", "case.closed", "P2", {"closed_at": at(1)}, validate=False)
    no_outcome = KEY.sign_envelope(EVENT_PAYLOAD_TYPE, raw).to_json_bytes()
    for value in (*PENALTY_CASE, PENALTY_CASE[0], b"junk", no_outcome):
        fold.add(value)
    assert (fold.events, fold.bad) == (4, 2)  # the repeated event is folded, idempotently
    assert sorted(fold.states) == ["P1"]
    assert len(fold.states["P1"].event_ids) == 3


def test_alert_envelope_is_signed_by_the_hub() -> None:
    a = alert("3f1c0a5e-2b1d-5f5e-9a6d-1c2b3a4d5e6f")
    envelope = Envelope.model_validate_json(alert_envelope(KEY, a))
    assert envelope.payload_type == ALERT_PAYLOAD_TYPE
    assert verify_envelope_signature(envelope, envelope.signatures[0].signature_bytes(),
                                     KEY.public_key)
    payload = json.loads(envelope.payload_bytes())
    assert set(payload) == {"alert_id", "rule_id", "status", "case_id", "agency", "raised_at",
                            "due_at", "legal_basis", "facts", "message_zh", "message_en"}
    # The runner serialises each alert once, for its row and its envelope: the same bytes as
    # signing the model (Ed25519 signatures are deterministic).
    assert alert_envelope(KEY, a, a.model_dump_json().encode("utf-8")) == alert_envelope(KEY, a) == \
        KEY.sign_model(ALERT_PAYLOAD_TYPE, a)


def test_rules_come_from_the_environment(tmp_path: Path) -> None:
    override = tmp_path / "override.toml"
    override.write_text("[rules.SPLIT_CASES]\nenabled = false\n", encoding="utf-8")
    rules = rules_from_env({"LINKAGE_RULES_OVERRIDE": str(override)})
    assert not rules.rules["SPLIT_CASES"].enabled
    assert rules_from_env({}).rules["SPLIT_CASES"].enabled


def test_a_bad_rule_file_stops_the_worker_with_its_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[rules.HANDOVER_LATE.deadlines.handover]\namount = -1\n", encoding="utf-8")
    with pytest.raises(SystemExit) as stopped:
        startup_rules({"LINKAGE_RULES_OVERRIDE": str(bad)})
    message = str(stopped.value)
    assert "refuses to start" in message
    assert "rules.HANDOVER_LATE.deadlines.handover.amount" in message and str(bad) in message
