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
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from connectors.connector import Connector, ReceiptTimeout
from connectors.console import say
from connectors.events import build_event
from connectors.outbox import STATUS_LABEL, describe_outcome
from schemas.alert import Alert
from schemas.cloudevent import readable_event_id
from schemas.dsse import ALERT_PAYLOAD_TYPE, EVENT_PAYLOAD_TYPE, Envelope
from schemas.receipt import Receipt
from schemas.signing import SigningKey, public_pem, verify_envelope_signature
from schemas.topics import ALERTS

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
    # Contract v1.1: reverse transfer. Prosecution declined, a 检察意见 proposes a penalty and
    # the agency never replies (OPINION_NOT_ANSWERED after two months).
    Scenario("不起诉后检察意见未回复(反向衔接)", "Opinion after non-prosecution, never answered (reverse transfer)",
             "RV-OPINION", (
        Step("zs-aic", "case.opened", 0, lambda t: {
            "offence": "trademark_counterfeiting", "opened_at": t, "summary": "网店销售假冒注册商标的灯具配件",
            "parties": _party("中山市东凤某电器商行", "91442000MA57QR2345")}),
        Step("zs-aic", "case.assessed", 4, lambda t: {"assessed_at": t, "illegal_business_amount": "52000.00"}),
        Step("zs-aic", "transfer.decided", 8, lambda t: {"report_at": t, "decided_at": t, "approved": True}),
        Step("zs-aic", "case.transferred", 12, lambda t: {
            "to_agency": "zs-psb", "transferred_at": t, "documents": _docs(ALL_DOCS)}),
        Step("zs-psb", "transfer.accepted", 14, lambda t: {"accepted_at": t, "receipt_no": "ZSGA-2026-207"}),
        Step("zs-psb", "filing.decided", 30, lambda t: {"decided_at": t, "filed": True, "reasons": "达到立案追诉标准", "complex": False}),
        Step("zs-aic", "evidence.handed_over", 40, lambda t: {
            "handover_id": "H-RV-1", "to_agency": "zs-psb", "handed_over_at": t,
            "items": [{"item_id": "PART-1", "description": "假冒商标灯具配件", "quantity": 1500}]}),
        Step("zs-procuratorate", "prosecution.decided", 400, lambda t: {
            "decided_at": t, "prosecuted": False, "reasons": "犯罪情节轻微，认罪认罚，决定不起诉"}),
        Step("zs-procuratorate", "opinion.issued", 410, lambda t: {
            "opinion_id": "ZSJ-YJ-2026-9", "to_agency": "zs-aic", "issued_at": t,
            "proposal": "administrative_penalty", "summary": "建议依法给予没收违法所得及罚款的行政处罚"}),
    ), pending_hours=24 * 70),
    # Contract v1.1: an e-commerce platform's notice (seed item 18) nobody decided on.
    Scenario("电商平台通报售假线索(逾期未决定)", "E-commerce platform notice, not decided", "CL-PLATFORM", (
        Step("zs-aic", "clue.received", 0, lambda t: {
            "clue_id": "PT-2026-0815", "channel": "ecommerce_platform", "received_at": t,
            "platform": "某电商平台", "summary": "平台监测到店铺销售疑似假冒注册商标灯具",
            "parties": _party("中山市横栏某灯饰网店", "91442000MA58TU5673")}),
    ), pending_hours=24 * 60),
    # Contract v1.1: a named report (seed item 20); a case is opened, the reporter never told.
    Scenario("实名举报立案后未告知举报人", "Named report: case opened, reporter not told", "CL-REPORT", (
        Step("zs-aic", "clue.received", 0, lambda t: {
            "clue_id": "12345-2026-3321", "channel": "hotline_12345", "received_at": t,
            "summary": "12345 热线实名举报某店销售假冒商标灯泡", "reporter_named": True}),
        Step("zs-aic", "case.opened", 48, lambda t: {
            "offence": "trademark_counterfeiting", "opened_at": t, "summary": "根据实名举报立案",
            "clue_id": "12345-2026-3321",
            "parties": _party("中山市南头某灯泡经营部", "91442000MA4UAAAA15")}),
    ), pending_hours=24 * 20),
    # Screening (practice): a fine at 90% of the 50,000 threshold (降格处理), and the same shop
    # fined by a second agency (多头受罚) — one party, validated 统一社会信用代码.
    Scenario("临界数额罚款(降格处理筛查)", "A fine at 90% of the threshold (screening)", "SC-NEAR", (
        Step("zs-aic", "case.opened", 0, lambda t: {
            "offence": "counterfeit_goods_sale", "opened_at": t, "summary": "销售假冒品牌开关插座",
            "parties": _party("中山市横栏某灯饰网店", "91442000MA58TU5673")}),
        Step("zs-aic", "case.assessed", 6, lambda t: {"assessed_at": t, "sales_amount": "45000.00"}),
        Step("zs-aic", "penalty.decided", 30, lambda t: {
            "decision_no": "中工商罚〔2026〕88号", "decided_at": t, "fine": "30000.00", "confiscated": "4500.00"}),
    )),
    Scenario("海关再次处罚同一网店(多头受罚筛查)", "Customs fines the same shop too (screening)", "SC-MULTI", (
        Step("zs-customs", "case.opened", 0, lambda t: {
            "offence": "counterfeit_goods_sale", "opened_at": t, "summary": "出口环节查获同款假冒开关插座",
            "parties": _party("中山市横栏某灯饰网店", "91442000MA58TU5673")}),
        Step("zs-customs", "penalty.decided", 20, lambda t: {
            "decision_no": "中关缉违字〔2026〕31号", "decided_at": t, "fine": "20000.00", "confiscated": "0.00"}),
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


def bad_records(connector: Connector, stranger: SigningKey,
                case: str) -> list[tuple[str, bytes, str]]:
    """(label, signed value, case id) of records the hub must reject, for the demo."""
    now = datetime.now(UTC)
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


ALERT_LABEL = {"open": "预警 open", "resolved": "解除 resolved"}
ALERT_SLACK_SECONDS = 10.0
"""How long past the last demo deadline to keep watching for alerts (the hub sweeps every
second; this covers a loaded machine)."""


def open_alert(value: bytes, hub_public_key: Ed25519PublicKey) -> Alert | None:
    """An alert from `linkage.alerts`, or None unless it is signed by the hub."""
    try:
        envelope = Envelope.model_validate_json(value)
        if envelope.payload_type != ALERT_PAYLOAD_TYPE or not any(
                verify_envelope_signature(envelope, s.signature_bytes(), hub_public_key)
                for s in envelope.signatures):
            return None
        return Alert.model_validate_json(envelope.payload_bytes())
    except (ValidationError, ValueError):
        return None


def describe_alert(alert: Alert) -> str:
    """An alert for people (its messages already give the due time in Asia/Shanghai)."""
    return (f"  ⚠ {ALERT_LABEL[alert.status]} {alert.rule_id} [{alert.case_id}] "
            f"{alert.message_zh} / {alert.message_en}")


@dataclass
class Tally:
    """What the demo showed: receipts by status, alerts by status."""

    outcomes: Counter[str] = field(default_factory=Counter)
    alerts: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        outcomes = ", ".join(f"{STATUS_LABEL[s]} {self.outcomes[s]}" for s in STATUS_LABEL)
        alerts = ", ".join(f"{ALERT_LABEL[s]} {self.alerts[s]}" for s in ALERT_LABEL)
        return f"回执 / receipts: {outcomes}; 预警 / alerts: {alerts}"


async def watch_alerts(bootstrap: str, hub_public_key: Ed25519PublicKey, cases: set[str],
                       tally: Tally) -> None:
    """Print each hub-signed alert about the demo's cases as the procuratorate receives it."""
    consumer = AIOKafkaConsumer(ALERTS, bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        await consumer.start()  # inside: a cancelled start must still be stopped
        seen: set[tuple[str, str]] = set()
        async for message in consumer:
            alert = open_alert(message.value or b"", hub_public_key)
            if alert is None or alert.case_id not in cases:
                continue
            if (alert.alert_id, alert.status) in seen:  # a re-published alert
                continue
            seen.add((alert.alert_id, alert.status))
            tally.alerts[alert.status] += 1
            say(describe_alert(alert))
    finally:
        await consumer.stop()


async def send_raw_and_read_receipt(bootstrap: str, connector: Connector, case_id: str,
                                    value: bytes, match: Callable[[Receipt], bool],
                                    timeout: float = 60.0) -> Receipt | None:
    """Send record bytes outside the connector's outbox and return the hub's receipt that
    `match`es: for records the outbox cannot track (a second copy of an accepted record,
    whose outbox entry keeps its first outcome; a record with no readable event id)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False)
    try:
        await consumer.start()
        await consumer.topics()
        partitions = consumer.partitions_for_topic(connector.receipts_topic) or {0}
        tps = [TopicPartition(connector.receipts_topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)  # pinned before the record is sent
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        try:
            await producer.start()
            await producer.send_and_wait(connector.ingress_topic, value,
                                         key=case_id.encode("utf-8"))
        finally:
            await producer.stop()
        async with asyncio.timeout(timeout):
            async for message in consumer:
                receipt = connector.open_receipt(message.value or b"")
                if receipt is not None and match(receipt):
                    return receipt
    except TimeoutError:
        return None
    finally:
        await consumer.stop()
    return None


def case_id_of(scenario: Scenario) -> str:
    return f"{scenario.case_prefix}-{datetime.now(UTC):%Y%m%d}-{uuid.uuid4().hex[:4]}"


async def run_demo(bootstrap: str, home: Path, hub_public_key: Ed25519PublicKey,
                   accelerate: float, register: Callable[[str, str], Any]) -> Tally:
    """Run every scenario concurrently, re-send one accepted record (a duplicate), send the
    bad records, and print every receipt and every alert the hub raises about these cases
    until the last back-dated deadline has lapsed."""
    agencies = sorted({s.agency for sc in SCENARIOS for s in sc.steps})
    keys = demo_keys(home, agencies)
    for agency, key in keys.items():
        await register(agency, public_pem(key.public_key))
    connectors = {a: Connector(a, keys[a], bootstrap=bootstrap,
                               outbox_path=home / "demo" / f"{a}.sqlite",
                               hub_public_key=hub_public_key) for a in agencies}
    case_ids = {scenario: case_id_of(scenario) for scenario in SCENARIOS}
    tally = Tally()
    bad_case = f"BAD-{uuid.uuid4().hex[:6]}"
    watcher = asyncio.create_task(watch_alerts(bootstrap, hub_public_key,
                                               {*case_ids.values(), bad_case}, tally))
    for c in connectors.values():
        await c.start()
    try:
        sent = await asyncio.gather(*(run_scenario(sc, case_ids[sc], connectors, accelerate,
                                                   tally) for sc in SCENARIOS))
        alerts_due = asyncio.get_running_loop().time() + 86400 / accelerate + ALERT_SLACK_SECONDS
        aic = connectors["zs-aic"]
        first_accepted = next((event_id for event_id in sent[0]
                               if (e := aic.outbox.get(event_id)) and e.status == "accepted"),
                              None)
        if first_accepted is not None:
            say("↻ 重发一条已接收的记录（如确认丢失后的重试）/ re-send an accepted record "
                  "(as after a lost acknowledgement)")
            entry = aic.outbox.get(first_accepted)
            assert entry is not None
            receipt = await send_raw_and_read_receipt(
                bootstrap, aic, entry.case_id, entry.value,
                lambda r: r.event_id == first_accepted)
            say("  → " + _show_receipt(receipt, tally))
        await send_bad_records(bootstrap, aic, bad_case, tally)
        remaining = alerts_due - asyncio.get_running_loop().time()
        if remaining > 0:
            say(f"… 等待到期预警（约 {remaining:.0f} 秒）/ waiting about {remaining:.0f} s for "
                  "deadline alerts")
            await asyncio.sleep(remaining)
        say(f"演示完成 / demo done. {tally.summary()}\n"
              "查看 / see: `linkage-hub ledger list`, `linkage-hub alerts list`")
        return tally
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        for c in connectors.values():
            await c.stop()


def legal_times(
    scenario: Scenario, now: datetime, accelerate: float
) -> list[tuple[Step, datetime]]:
    """Each step with its back-dated legal time (see the module docstring)."""
    span = max(s.at_hours for s in scenario.steps)
    margin = timedelta(seconds=86400 / accelerate) if scenario.pending_hours else timedelta()
    start = now - timedelta(hours=span + scenario.pending_hours) + margin
    return [(step, start + timedelta(hours=step.at_hours)) for step in scenario.steps]


def _show_receipt(receipt: Receipt | None, tally: Tally) -> str:
    if receipt is None:
        return "等待回执超时 / no receipt yet"
    tally.outcomes[receipt.status.value] += 1
    return describe_outcome(receipt.status.value, receipt.reason, receipt.detail,
                            receipt.ledger_index)


async def send_bad_records(bootstrap: str, aic: Connector, case: str, tally: Tally) -> None:
    """Records the hub must reject, each with its receipt (reason in zh and en)."""
    sent = []
    for label, value, _ in bad_records(aic, SigningKey.generate(), case):
        event_id = readable_event_id(value)
        if event_id is not None:
            aic.enqueue_raw(event_id, case, "bad", value)
        sent.append((label, event_id, value))
    for label, event_id, value in sent:
        if event_id is None:  # no id to key the receipt by: read it off the receipts topic
            receipt = await send_raw_and_read_receipt(
                bootstrap, aic, case, value,
                lambda r: r.event_id is None and r.status.value == "rejected")
            outcome = _show_receipt(receipt, tally)
        else:
            try:
                entry = await aic.wait_for_receipt(event_id, timeout=30)
                tally.outcomes[entry.status] += 1
                outcome = describe_outcome(entry.status, entry.reason, entry.detail)
            except ReceiptTimeout:
                outcome = "等待回执超时 / no receipt yet"
        say(f"  ✗ {label}\n      → {outcome}")


async def run_scenario(scenario: Scenario, case_id: str, connectors: dict[str, Connector],
                       accelerate: float, tally: Tally) -> list[str]:
    """Send a scenario's steps, stamped with back-dated legal times (see module docstring);
    returns the event ids."""
    # Send the whole back-dated history at once: step by step, the hub would judge each
    # intermediate state against the real clock (e.g. an approval with the handover not yet
    # sent looks overdue) and raise alerts that the next step resolves.
    sent = []
    for step, legal_time in legal_times(scenario, datetime.now(UTC), accelerate):
        connector = connectors[step.agency]
        sent.append((step, connector, await connector.publish(
            step.type_name, case_id, step.data(legal_time.isoformat()), time=legal_time)))
    lines = [f"▶ {scenario.title_zh} / {scenario.title_en}  [{case_id}]"]
    for step, connector, event_id in sent:
        try:
            entry = await connector.wait_for_receipt(event_id, timeout=60)
            tally.outcomes[entry.status] += 1
            outcome = describe_outcome(entry.status, entry.reason, entry.detail,
                                       entry.ledger_index)
        except ReceiptTimeout:
            outcome = "等待回执超时 / no receipt yet"
        lines.append(f"  {step.agency:<12} {step.type_name:<22} → {outcome}")
    say("\n".join(lines))  # one block per case, not interleaved
    return [event_id for _, _, event_id in sent]
