"""`linkage-hub parked list` / `parked retry [ID ...]`: records the hub could not settle.

A parked record (streams/ingress.py, hub/sql/parked.sql) was refused by the database or hit a
bug in the hub; it has no receipt yet. Once the cause is fixed, `retry` runs it through the
same ingress processor as the worker, so it gets its true outcome (and its receipt).
"""

from __future__ import annotations

import argparse
from typing import Any

from hub.adapters.ingress_store import PostgresIngressStore
from hub.adapters.kafka_publisher import BrokerUnavailable, KafkaPublisher
from hub.adapters.registry_store import PostgresRegistry
from hub.commands.common import CliError, database, print_json, print_table
from hub.runtime import resolve
from hub.settings import Settings
from streams.ingress import IngressProcessor, Outcome
from streams.ports import ParkedRecord


def _summary(p: ParkedRecord) -> dict[str, Any]:
    return {"parked_id": p.parked_id, "topic": p.record.topic, "partition": p.record.partition,
            "offset": p.record.offset, "reason": p.reason, "evidence": p.evidence,
            "parked_at": p.parked_at.isoformat(), "attempts": p.attempts,
            "resolved_at": p.resolved_at.isoformat() if p.resolved_at else None,
            "outcome": p.outcome}


async def parked_list(settings: Settings, args: argparse.Namespace) -> None:
    async with database(settings) as pool:
        parked = await PostgresIngressStore(pool).parked(include_resolved=args.all)
    if args.json:
        print_json([_summary(p) for p in parked])
        return
    print_table(["#", "主题 / topic", "分区:偏移 / partition:offset", "原因 / reason",
                 "次数 / attempts", "结果 / outcome", "证据 / evidence"],
                [[p.parked_id, p.record.topic, f"{p.record.partition}:{p.record.offset}",
                  p.reason, p.attempts, p.outcome or "-", p.evidence[:80]] for p in parked])


async def parked_retry(settings: Settings, args: argparse.Namespace) -> None:
    resolved = resolve(settings, need_kafka=True)
    bootstrap = resolved.require_kafka()
    settled = still = 0
    async with database(resolved) as pool:
        store = PostgresIngressStore(pool)
        parked = await store.parked(args.ids or None)
        missing = set(args.ids) - {p.parked_id for p in parked}
        if missing:
            raise CliError(f"没有待处理的搁置记录 / no unresolved parked record: "
                           f"{', '.join(map(str, sorted(missing)))}")
        processor = IngressProcessor(store, resolved.hub_key(), PostgresRegistry(pool).snapshot)
        try:
            async with KafkaPublisher.connect(bootstrap, settings.kafka_security) as publisher:
                for p in parked:
                    [result] = await processor.process([p.record], publisher)
                    if isinstance(result, Outcome):
                        await store.resolve_parked(p.parked_id, result.status.value,
                                                   result.received_at)
                        settled += 1
                        print(f"#{p.parked_id}: {result.status.value}"
                              f"{' ' + result.reason if result.reason else ''}")
                    else:
                        still += 1
                        print(f"#{p.parked_id}: 仍被搁置 / still parked: {result.parked.evidence}")
        except BrokerUnavailable as exc:
            raise CliError(str(exc)) from exc
    print(f"已处理 {settled} 条,仍搁置 {still} 条 / settled {settled}, still parked {still}")
    if still:
        raise CliError("仍有记录被搁置 / some records are still parked", code=3)
