"""Runs the rule scenarios in tests/scenarios/*.toml: event sequences and the alerts expected when.

Scenario shape (TOML, one `[[scenario]]` per case):

    [[scenario]]
    id = "st-open"                       # unique
    article = "SC Art 5"                 # the article it tests (required)
    override = { ... }                   # optional rule-file override (same shape as rules.toml)
    events = [ { type = "case.assessed", at = "...", illegal_business_amount = "60000" }, ... ]
    checks = [ { at = "...", alerts = ["SHOULD_TRANSFER:open"] }, ... ]

Event shorthand: `type`, `at` (the type's own *_at time), optional `case` (default "C1"),
`agency` (default by role), `time` (send time, default `at`), `party` (an id_number) and
`id_type` (default "USCC") for case.opened, `docs` (document kinds) for case.transferred; any
other key is a data field.
Defaults fill the remaining required fields; the data is then validated by the contract models.

At each check the runner folds, per case, the events sent by then, evaluates the check's case
(default "C1") with the other cases sharing a party as `related`, and compares (rule, status)
pairs exactly. A table instead of "RULE:status" can also pin `due_at`, `raised_at`, and a
subset of `facts`, and the responsible `agency`. Every check also verifies that the result is the same for the events in
reverse order and on a second run, and `next_due` when given.
"""

from __future__ import annotations

import tomllib
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from streams.rules import (
    RULE_CATALOGUE,
    AlertDecision,
    CaseEvent,
    CaseState,
    RuleSet,
    apply,
    default_rules_path,
    evaluate,
    next_due,
    parse_rules,
)
from tests.records import OWN_TIME

HERE = Path(__file__).parent
NAMESPACE = uuid.UUID("6b1c7c1e-1f40-4a8e-9a7e-3f0b5a0c2d11")

POLICE_TYPES = {
    "transfer.accepted",
    "transfer.forwarded",
    "filing.decided",
    "reconsideration.decided",
}
PROCURATORATE_TYPES = {"supervision.issued", "prosecution.decided", "opinion.issued"}
ALL_DOCS = ["transfer_letter", "investigation_report", "seized_items_list", "inspection_report"]
SHA = "0" * 64


def _defaults(kind: str, index: int, spec: dict[str, Any]) -> dict[str, Any]:
    if kind == "case.opened":
        party = spec.pop("party", "91442000MA0000001X")
        id_type = spec.pop("id_type", "USCC")
        person = id_type in ("身份证", "居民身份证", "PRC_ID")
        return {
            "offence": "trademark_counterfeiting",
            "summary": "案情摘要",
            "parties": [
                {
                    "kind": "person" if person else "organization",
                    "id_type": id_type,
                    "id_number": party,
                    "name": "某人" if person else "某公司",
                }
            ],
        }
    if kind == "penalty.decided":
        return {
            "decision_no": f"中工商罚〔2025〕{index}号",
            "fine": "1000.00",
            "confiscated": "0.00",
        }
    if kind == "transfer.decided":
        return {"approved": True, "report_at": spec.get("at")}
    if kind == "case.transferred":
        docs = spec.pop("docs", ALL_DOCS)
        return {
            "to_agency": "zs-psb",
            "documents": [{"kind": kind, "title": kind, "sha256": SHA} for kind in docs],
        }
    if kind == "transfer.accepted":
        return {"receipt_no": f"R{index}"}
    if kind == "filing.decided":
        filed = spec.get("filed", True)
        return {"filed": True} if filed else {"reasons": "证据不足"}
    if kind == "reconsideration.decided":
        return {"upheld": True}
    if kind == "supervision.requested":
        return {"reasons": "应当立案"}
    if kind == "supervision.issued":
        return {"to_agency": "zs-psb"}
    if kind == "evidence.handed_over":
        return {
            "handover_id": "H1",
            "to_agency": "zs-psb",
            "items": [{"item_id": "I1", "description": "假冒商品", "quantity": 100}],
        }
    if kind == "evidence.received":
        return {"handover_id": "H1", "discrepancies": []}
    if kind == "case.closed":
        return {"outcome": "结案"}
    if kind == "prosecution.decided":
        return {"prosecuted": False, "reasons": "犯罪情节轻微，决定不起诉"}
    if kind == "opinion.issued":
        return {
            "opinion_id": "OP1",
            "to_agency": "zs-aic",
            "proposal": "administrative_penalty",
            "summary": "建议给予行政处罚",
        }
    if kind == "opinion.replied":
        reasons = {} if "outcome" in spec else {"reasons": "已作出行政处罚"}
        return {"opinion_id": "OP1", "outcome": "penalty_imposed", **reasons}
    if kind == "clue.received":
        return {"clue_id": "Q1", "channel": "hotline_12345", "summary": "群众举报"}
    if kind == "clue.answered":
        return {"clue_id": "Q1", "outcome": "case_opened"}
    return {}


def build_event(scenario_id: str, index: int, raw: dict[str, Any]) -> CaseEvent:
    spec = dict(raw)
    kind = spec.pop("type")
    at = spec["at"]
    case_id = spec.pop("case", "C1")
    event_id = spec.pop("id", str(uuid.uuid5(NAMESPACE, f"{scenario_id}/{index}")))
    sent = spec.pop("time", at)
    default_agency = (
        "zs-psb"
        if kind in POLICE_TYPES
        else "zs-procuratorate"
        if kind in PROCURATORATE_TYPES
        else "zs-aic"
    )
    agency = spec.pop("agency", default_agency)
    data = _defaults(kind, index, spec)
    spec.pop("at")
    data.update(spec)
    if kind in OWN_TIME:
        data[OWN_TIME[kind]] = at
    return CaseEvent(
        event_id=event_id,
        type_name=kind,
        agency=agency,
        case_id=case_id,
        time=datetime.fromisoformat(sent),
        data=data,
    )


def load_scenarios() -> list[dict[str, Any]]:
    scenarios: list[dict[str, Any]] = []
    for path in sorted(HERE.glob("*.toml")):
        for scenario in tomllib.loads(path.read_text(encoding="utf-8"))["scenario"]:
            scenarios.append({**scenario, "file": path.name})
    return scenarios


SCENARIOS = load_scenarios()
BASE_DOCUMENT = tomllib.loads(default_rules_path().read_text(encoding="utf-8"))
BASE_RULES = parse_rules(BASE_DOCUMENT)


def states_at(events: list[CaseEvent], moment: datetime, reverse: bool) -> dict[str, CaseState]:
    states: dict[str, CaseState] = {}
    known = [event for event in events if event.time <= moment]
    for event in reversed(known) if reverse else known:
        states[event.case_id] = apply(states.get(event.case_id), event)
    return states


def related_to(states: dict[str, CaseState], case_id: str) -> list[CaseState]:
    keys = states[case_id].party_keys
    return [s for cid, s in sorted(states.items()) if cid != case_id and s.party_keys & keys]


def _matches(alert: AlertDecision, expected: dict[str, Any]) -> bool:
    if alert.rule_id != expected["rule"] or alert.status != expected.get("status", "open"):
        return False
    if "agency" in expected and alert.agency != expected["agency"]:
        return False
    for name in ("due_at", "raised_at"):
        if name in expected:
            value = getattr(alert, name)
            if value is None or value != datetime.fromisoformat(expected[name]):
                return False
    return all(alert.facts.get(key) == value for key, value in expected.get("facts", {}).items())


def _expected(item: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(item, str):
        rule, _, status = item.partition(":")
        return {"rule": rule, "status": status or "open"}
    return item


def test_there_are_enough_scenarios_and_every_rule_is_exercised() -> None:
    assert len(SCENARIOS) >= 40
    ids = [scenario["id"] for scenario in SCENARIOS]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    raised: set[tuple[str, str]] = set()
    for scenario in SCENARIOS:
        assert scenario.get("article", "").strip(), f"{scenario['id']} names no article"
        for check in scenario["checks"]:
            for item in check.get("alerts", []):
                expected = _expected(item)
                raised.add((expected["rule"], expected.get("status", "open")))
    for rule_id in RULE_CATALOGUE:
        assert (rule_id, "open") in raised or (rule_id, "resolved") in raised, rule_id


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["id"] for s in SCENARIOS])
def test_scenario(scenario: dict[str, Any]) -> None:
    rules: RuleSet = (
        parse_rules(BASE_DOCUMENT, scenario["override"]) if "override" in scenario else BASE_RULES
    )
    events = [build_event(scenario["id"], i, raw) for i, raw in enumerate(scenario["events"])]
    ids_by_rule: dict[tuple[str, str], set[str]] = {}
    for check in scenario["checks"]:
        moment = datetime.fromisoformat(check["at"])
        case_id = check.get("case", "C1")
        states = states_at(events, moment, reverse=False)
        assert case_id in states, f"no event of {case_id} sent by {moment}"
        case, related = states[case_id], related_to(states, case_id)
        alerts = evaluate(case, rules, moment, related)
        where = f"{scenario['id']} at {check['at']}"

        expected = [_expected(item) for item in check.get("alerts", [])]
        got = Counter((a.rule_id, a.status) for a in alerts)
        want = Counter((e["rule"], e.get("status", "open")) for e in expected)
        assert got == want, f"{where}: got {sorted(got.elements())}, " + "".join(
            f"\n  {a.rule_id} {a.status} {a.message_en}" for a in alerts
        )
        for item in expected:
            assert any(_matches(a, item) for a in alerts), f"{where}: nothing matches {item}"

        reordered = states_at(events, moment, reverse=True)
        assert reordered == states, f"{where}: state depends on arrival order"
        assert evaluate(reordered[case_id], rules, moment, related) == alerts, where
        assert evaluate(case, rules, moment, related) == alerts, f"{where}: not deterministic"
        if "next_due" in check:
            due = next_due(case, rules, moment)
            want_due = check["next_due"]
            assert (due.isoformat() if due else "") == want_due, f"{where}: next_due {due}"
        for alert in alerts:
            ids_by_rule.setdefault((case_id, alert.rule_id), set()).add(alert.alert_id)
    if scenario.get("stable_ids", True):
        for (case_id, rule_id), ids in ids_by_rule.items():
            assert len(ids) == 1, f"{scenario['id']}: {case_id} {rule_id} changed alert id: {ids}"
