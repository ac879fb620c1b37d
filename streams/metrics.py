"""Prometheus metrics of the hub (records by outcome, latency, ledger size, alerts)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

INGRESS_RECORDS = Counter(
    "linkage_ingress_records_total",
    "入口记录数(按机关、结果、原因) / ingress records by agency, outcome and reason",
    ["agency", "outcome", "reason"],
)
INGRESS_LATENCY = Histogram(
    "linkage_ingress_latency_seconds",
    "从记录写入 Kafka 到数据库提交的时延 / record timestamp to database commit",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
INGRESS_BATCH_SECONDS = Histogram(
    "linkage_ingress_batch_seconds",
    "一批记录的处理时长 / time to process one ingress batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
INGRESS_RETRIES = Counter(
    "linkage_ingress_retries_total", "入口批次重试次数 / ingress batch retries"
)
LEDGER_SIZE = Gauge("linkage_ledger_size", "账本条目数 / ledger entries (tree size)")
ALERTS_PUBLISHED = Counter(
    "linkage_alerts_published_total", "已发布预警 / alerts published", ["rule_id", "status"]
)
ALERTS_OPEN = Gauge("linkage_alerts_open", "未解除的预警数 / alerts currently open")
RULES_RETRIES = Counter(
    "linkage_rules_retries_total", "规则批次重试次数 / rules batch retries (events and sweep)"
)
INGRESS_PARKED = Counter(
    "linkage_ingress_parked_total",
    "搁置待运维处理的入口记录(按机关、原因) / ingress records parked for operators, by agency "
    "and reason (store_refused, hub_bug)",
    ["agency", "reason"],
)
RULES_EVENTS_PARKED = Counter(
    "linkage_rules_events_parked_total",
    "规则无法应用而搁置的事件次数 / events the rules could not apply, parked for a retry",
)
