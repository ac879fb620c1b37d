"""Simulated agencies for `linkage-hub up --demo`: realistic cases of the seed plan, some
breaking the rules, plus bad records, so a newcomer sees every outcome.

Time acceleration: the hub always judges deadlines against the real clock, so the demo
back-dates each scenario's events instead: a scenario that ends with a pending deadline of
N hours is stamped so that the deadline runs out `86400 / accelerate` real seconds after
its last event (60 s with the default 1440, "a legal day per minute"), and the hub's
deadline sweep raises the alert on screen then.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.connector import Connector, ReceiptTimeout
from schemas.cloudevent import readable_event_id
from schemas.dsse import EVENT_PAYLOAD_TYPE
from schemas.signing import SigningKey, public_pem

SHA = "5f" * 32
ALL_DOCS = ["transfer_letter", "investigation_report", "seized_items_list", "inspection_report"]


@dataclass(frozen=True)
class Step:
    """One event of a scenario: who sends it, and its data at a legal-time offset (hours)."""

    agency: str
    type_name: str
    at_hours: float
    data: Callable[[str], dict[str, Any]]


@dataclass(frozen=True)
class Scenario:
    title_zh: str
    title_en: str
    case_prefix: str
    steps: tuple[Step, ...]
    pending_hours: float = 0.0
    """How long nothing happened after the last step, in legal hours; 0 = no back-dating.
    A deadline of exactly that many hours (HANDOVER_LATE's 24 h) lapses 86400 / accelerate
    real seconds after the last step; deadlines counted in days end at a Shanghai midnight
    (moved past rest days), so scenarios that break one let it lapse well before now."""


def _party(name: str, uscc: str) -> list[dict[str, str]]:
    return [{"kind": "organization", "id_type": "USCC", "id_number": uscc, "name": name}]


def _docs(kinds: list[str]) -> list[dict[str, str]]:
    return [{"kind": k, "title": k, "sha256": SHA} for k in kinds]


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("古镇灯博会假冒注册商标灯具(按时移送)",
             "Counterfeit lamps at the Guzhen lighting fair (transferred on time)", "GZ-LAMP", (
        Step("zs-aic", "case.opened", 0, lambda t: {
            "offence": "trademark_counterfeiting", "opened_at": t, "summary": "灯博会现场查获假冒注册商标灯具 320 件",
            "parties": _party("中山市古镇某灯饰有限公司", "91442000MA4W1AB23X")}),
        Step("zs-aic", "case.assessed", 24, lambda t: {
            "assessed_at": t, "illegal_business_amount": "86000.00", "marks_count": 2}),
        Step("zs-aic", "transfer.decided", 30, lambda t: {
            "report_at": t, "decided_at": t, "approved": True}),
        Step("zs-aic", "case.transferred", 36, lambda t: {
            "to_agency": "zs-psb", "transferred_at": t, "documents": _docs(ALL_DOCS)}),
        Step("zs-psb", "transfer.accepted", 40, lambda t: {"accepted_at": t, "receipt_no": "ZSGA-2026-118"}),
        Step("zs-psb", "filing.decided", 60, lambda t: {"decided_at": t, "filed": True, "reasons": "达到立案追诉标准", "complex": False}),
        Step("zs-aic", "evidence.handed_over", 70, lambda t: {
            "handover_id": "H-GZ-1", "to_agency": "zs-psb", "handed_over_at": t,
            "items": [{"item_id": "LAMP-1", "description": "假冒商标吊灯", "quantity": 320}]}),
    )),
    Scenario("红木家具以次充好(以罚代刑)", "Shoddy redwood furniture (penalty instead of transfer)", "RW-FURN", (
        Step("zs-qts", "case.opened", 0, lambda t: {
            "offence": "shoddy_products", "opened_at": t, "summary": "以普通木材冒充红木销售",
            "parties": _party("中山市大涌某红木家具厂", "91442000MA51CD456Y")}),
        Step("zs-qts", "case.assessed", 12, lambda t: {"assessed_at": t, "sales_amount": "168000.00"}),
        Step("zs-qts", "penalty.decided", 48, lambda t: {
            "decision_no": "中质监罚〔2026〕27号", "decided_at": t, "fine": "50000.00", "confiscated": "12000.00"}),
    ), pending_hours=72),
    Scenario("盗版软件(移送迟延、材料不全、未受理)",
             "Pirated software (late, incomplete transfer, not accepted)", "SW-PIRACY", (
        Step("zs-culture", "case.opened", 0, lambda t: {
            "offence": "copyright_infringement", "opened_at": t, "summary": "网吧预装盗版软件",
            "parties": _party("中山市某网络科技有限公司", "91442000MA52EF789Z")}),
        Step("zs-culture", "case.assessed", 6, lambda t: {"assessed_at": t, "copies": 820}),
        Step("zs-culture", "transfer.decided", 10, lambda t: {"report_at": t, "decided_at": t, "approved": True}),
        Step("zs-culture", "case.transferred", 80, lambda t: {
            "to_agency": "zs-psb", "transferred_at": t,
            "documents": _docs(["transfer_letter", "investigation_report"])}),
    ), pending_hours=144),
    Scenario("假种子(公安未作立案决定)", "Fake seeds (police sit on the case)", "AG-SEED", (
        Step("zs-agri", "case.opened", 0, lambda t: {
            "offence": "fake_agricultural_inputs", "opened_at": t, "summary": "销售假冒水稻种子致减产",
            "parties": _party("中山市某种业有限公司", "91442000MA53GH012A")}),
        Step("zs-agri", "case.assessed", 4, lambda t: {"assessed_at": t, "production_loss": "35000.00"}),
        Step("zs-agri", "transfer.decided", 8, lambda t: {"report_at": t, "decided_at": t, "approved": True}),
        Step("zs-agri", "case.transferred", 12, lambda t: {
            "to_agency": "zs-psb", "transferred_at": t, "documents": _docs(ALL_DOCS)}),
        Step("zs-psb", "transfer.accepted", 14, lambda t: {"accepted_at": t, "receipt_no": "ZSGA-2026-131"}),
    ), pending_hours=360),
    Scenario("海关查扣侵权商品(批准移送后未移交)",
             "Customs seizure of infringing goods (approved, not handed over)", "CU-SEIZE", (
        Step("zs-customs", "case.opened", 0, lambda t: {
            "offence": "counterfeit_goods_sale", "opened_at": t, "summary": "出口货物中查扣假冒品牌灯具",
            "parties": _party("中山市某进出口有限公司", "91442000MA54JK345B")}),
        Step("zs-customs", "case.assessed", 2, lambda t: {"assessed_at": t, "unsold_goods_value": "210000.00"}),
        Step("zs-customs", "clue.notified", 3, lambda t: {"to_agency": "zs-psb", "summary": "货值逾十五万元,涉嫌销售假冒注册商标的商品罪"}),
        Step("zs-customs", "transfer.decided", 4, lambda t: {"report_at": t, "decided_at": t, "approved": True}),
    ), pending_hours=24),
    # The same shop, two agencies, each case under the 50,000 yuan threshold: together over it.
    Scenario("同一商户分别被查(拆分案件·工商)", "One shop, two agencies (split cases: AIC)", "SPLIT-AIC", (
        Step("zs-aic", "case.opened", 0, lambda t: {
            "offence": "counterfeit_goods_sale", "opened_at": t, "summary": "门店销售假冒品牌灯具",
            "parties": _party("中山市小榄某灯饰商行", "92442000MA56NP901D")}),
        Step("zs-aic", "case.assessed", 2, lambda t: {"assessed_at": t, "sales_amount": "32000.00"}),
    )),
    Scenario("同一商户分别被查(拆分案件·海关)", "One shop, two agencies (split cases: customs)", "SPLIT-CUS", (
        Step("zs-customs", "case.opened", 0, lambda t: {
            "offence": "counterfeit_goods_sale", "opened_at": t, "summary": "出口假冒品牌灯具",
            "parties": _party("中山市小榄某灯饰商行", "92442000MA56NP901D")}),
        Step("zs-customs", "case.assessed", 3, lambda t: {"assessed_at": t, "sales_amount": "27000.00"}),
    )),
)


def demo_keys(home: Path, agencies: list[str]) -> dict[str, SigningKey]:
    """Each simulated agency's key, generated once under LINKAGE_HOME/keys/demo."""
    directory = home / "keys" / "demo"
    keys = {}
    for agency in agencies:
        path = directory / f"{agency}.key.pem"
        if not path.exists():
            SigningKey.generate().write_pair(directory, agency)
        keys[agency] = SigningKey.from_file(path)
    return keys


def bad_records(connector: Connector, stranger: SigningKey) -> list[tuple[str, bytes, str]]:
    """(label, signed value, case id) of records the hub must reject, for the demo."""
    from connectors.events import build_event

    now = datetime.now(UTC)
    case = f"BAD-{uuid.uuid4().hex[:6]}"
    _, good = build_event(connector.agency_id, "case.opened", case, {
        "offence": "other", "opened_at": now.isoformat(), "summary": "演示 / demo",
        "parties": _party("演示单位", "91442000MA55LM678C")})
    event = json.loads(good)
    bad_schema = dict(event, id=str(uuid.uuid4()), type="cn.linkage.penalty.decided.v1",
                      data={"decision_no": "X", "decided_at": now.isoformat(), "fine": 5000.5,
                            "confiscated": "0"})
    skewed = dict(event, id=str(uuid.uuid4()), time=(now + timedelta(hours=2)).isoformat())
    not_permitted = dict(event, id=str(uuid.uuid4()), type="cn.linkage.transfer.accepted.v1",
                         data={"accepted_at": now.isoformat(), "receipt_no": "X"})

    def sign(e: dict[str, Any], key: SigningKey | None = None) -> bytes:
        raw = json.dumps(e, ensure_ascii=False).encode()
        return (key or connector._key).sign_envelope(EVENT_PAYLOAD_TYPE, raw).to_json_bytes()

    return [
        ("未登记密钥 / unknown key → UNKNOWN_KEY", sign(dict(event, id=str(uuid.uuid4())), stranger), case),
        ("金额用浮点数 / money as a float → SCHEMA_INVALID", sign(bad_schema), case),
        ("时间超前 / event in the future → CLOCK_SKEW", sign(skewed), case),
        ("行政机关发送受理 / agency sends acceptance → NOT_PERMITTED", sign(not_permitted), case),
        ("不是 JSON / not JSON → MALFORMED_ENVELOPE", b"{oops", case),
    ]


async def run_demo(bootstrap: str, home: Path, hub_public_key: Any, accelerate: float,
                   register: Callable[[str, str], Any]) -> None:
    """Run every scenario concurrently, then the bad records; print each receipt."""
    agencies = sorted({s.agency for sc in SCENARIOS for s in sc.steps})
    keys = demo_keys(home, agencies)
    for agency, key in keys.items():
        await register(agency, public_pem(key.public_key))
    connectors = {a: Connector(a, keys[a], bootstrap=bootstrap,
                               outbox_path=home / "demo" / f"{a}.sqlite",
                               hub_public_key=hub_public_key) for a in agencies}
    for c in connectors.values():
        await c.start()
    try:
        await asyncio.gather(*(run_scenario(sc, connectors, accelerate) for sc in SCENARIOS))
        aic = connectors["zs-aic"]
        sent = []
        for label, value, case in bad_records(aic, SigningKey.generate()):
            event_id = readable_event_id(value)
            aic.enqueue_raw(event_id or str(uuid.uuid4()), case, "bad", value)
            sent.append((label, event_id))
        for label, event_id in sent:
            outcome = "回执无事件编号 / receipt carries no event id"
            if event_id is not None:
                try:
                    entry = await aic.wait_for_receipt(event_id, timeout=30)
                    outcome = f"{entry.status} {entry.reason}: {entry.detail}"
                except ReceiptTimeout:
                    outcome = "等待回执超时 / no receipt yet"
            print(f"  ✗ {label}\n      → {outcome}", flush=True)
        print("演示完成:`linkage-hub ledger list`、`linkage-hub alerts list` 查看结果 / demo done: "
              "see `linkage-hub ledger list` and `linkage-hub alerts list`", flush=True)
    finally:
        for c in connectors.values():
            await c.stop()


async def run_scenario(scenario: Scenario, connectors: dict[str, Connector],
                       accelerate: float) -> None:
    """Send a scenario's steps, stamped with back-dated legal times (see module docstring)."""
    case_id = f"{scenario.case_prefix}-{datetime.now(UTC):%Y%m%d}-{uuid.uuid4().hex[:4]}"
    span = max(s.at_hours for s in scenario.steps)
    margin = timedelta(seconds=86400 / accelerate) if scenario.pending_hours else timedelta()
    start = datetime.now(UTC) - timedelta(hours=span + scenario.pending_hours) + margin
    print(f"▶ {scenario.title_zh} / {scenario.title_en}  [{case_id}]", flush=True)
    # Send the whole back-dated history at once: step by step, the hub would judge each
    # intermediate state against the real clock (e.g. an approval with the handover not yet
    # sent looks overdue) and raise alerts that the next step resolves.
    sent = []
    for step in scenario.steps:
        legal_time = start + timedelta(hours=step.at_hours)
        connector = connectors[step.agency]
        sent.append((step, connector, await connector.publish(
            step.type_name, case_id, step.data(legal_time.isoformat()), time=legal_time)))
    for step, connector, event_id in sent:
        await asyncio.sleep(0.5)
        try:
            entry = await connector.wait_for_receipt(event_id, timeout=60)
            index = f" #{entry.ledger_index}" if entry.ledger_index is not None else ""
            print(f"  {step.agency:<12} {step.type_name:<22} → {entry.status}{index}", flush=True)
        except ReceiptTimeout:
            print(f"  {step.agency:<12} {step.type_name:<22} → 等待回执超时 / no receipt yet",
                  flush=True)
