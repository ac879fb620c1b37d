"""What the case page shows, from a folded case state: stage, thresholds, open deadlines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.events import build_event
from hub.adapters.workbench_store import CaseRecord
from hub.web.views import Names, case_out, light, stage_of
from schemas.dsse import EVENT_PAYLOAD_TYPE
from schemas.signing import SigningKey
from streams.rules.engine import next_due, pending_deadlines
from streams.rules.rules_config import default_rules_path, load_rules
from streams.rules_runner import CaseFold

KEY = SigningKey.generate()
NOW = datetime.now(UTC)
RULES = load_rules(default_rules_path())


def folded(case_id: str, *events: tuple[str, dict[str, Any], datetime]) -> CaseFold:
    fold = CaseFold()
    for type_name, data, at in events:
        _, raw = build_event("zs-aic", type_name, case_id, data, time=at)
        fold.add(KEY.sign_envelope(EVENT_PAYLOAD_TYPE, raw).to_json_bytes())
    return fold


def over_threshold(case_id: str) -> CaseFold:
    opened, assessed = NOW - timedelta(hours=3), NOW - timedelta(hours=2)
    return folded(case_id, (
        "case.opened", {"offence": "trademark_counterfeiting", "opened_at": opened.isoformat(),
                        "summary": "灯具", "parties": [{"kind": "organization", "id_type": "USCC",
                                                      "id_number": "91442000MA4W1AB23X",
                                                      "name": "古镇某灯饰厂"}]}, opened), (
        "case.assessed", {"assessed_at": assessed.isoformat(),
                          "illegal_business_amount": "86000.00"}, assessed))


def test_open_deadlines_are_the_rules_still_running() -> None:
    state = over_threshold("V-1").states["V-1"]
    pending = pending_deadlines(state, RULES, NOW)
    assert "SHOULD_TRANSFER" in {p.rule_id for p in pending}
    assert all(p.due.at > NOW for p in pending)
    assert pending == sorted(pending, key=lambda p: p.due.at)
    first = next_due(state, RULES, NOW)
    assert first is not None and first >= pending[0].due.at, "next_due is the first late instant"
    assert pending_deadlines(state, RULES, NOW + timedelta(days=400)) == [], "all missed by then"


def test_the_case_document_of_a_folded_case() -> None:
    state = over_threshold("V-2").states["V-2"]
    record = CaseRecord("V-2", state, None, [], [])
    view = case_out(record, Names({"zs-aic": ("市工商局", "AIC", "administrative")}), RULES,
                    NOW, 3.0)
    assert view.stage.code == "assessed" and view.agency_name == "市工商局"
    met = {t.name for t in view.thresholds if t.met}
    assert "illegal_business_amount" in met
    assert [d.rule_id for d in view.open_deadlines][:1] == ["SHOULD_TRANSFER"]
    assert view.open_deadlines[0].what_zh == RULES.rules["SHOULD_TRANSFER"].title_zh
    assert stage_of(None).code == "unknown"


def test_lights() -> None:
    assert light("open", None, NOW, 3) == "red"
    assert light("open", NOW - timedelta(minutes=1), NOW, 3) == "red"
    assert light("open", NOW + timedelta(days=2), NOW, 3) == "yellow"
    assert light("open", NOW + timedelta(days=5), NOW, 3) == "green"
    assert light("resolved", NOW + timedelta(days=5), NOW, 3) == "none"
