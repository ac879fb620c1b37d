"""What must hold after faults, read from the hub's database: ledger, outcomes, cases, alerts."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from streams.rules import assess
from streams.rules_runner import CaseFold, rules_from_env
from tests.eventually import eventually


def penalty_case_steps(index: int) -> list[tuple[str, dict[str, Any]]]:
    """A case (type, data) of zs-aic; an even index is over the threshold and punished instead
    of transferred (以罚代刑), which raises an alert; an odd one is not."""
    def ago(hours: float) -> str:
        return (datetime.now(UTC) - timedelta(hours=hours)).isoformat()

    amount = "86000.00" if index % 2 == 0 else "1000.00"
    return [
        ("case.opened", {"offence": "trademark_counterfeiting", "opened_at": ago(5),
                         "summary": "灯具", "parties": [{
                             "kind": "organization", "id_type": "USCC",
                             "id_number": f"9144{uuid.uuid4().hex[:10]}", "name": "古镇某灯饰厂"}]}),
        ("case.assessed", {"assessed_at": ago(4), "illegal_business_amount": amount}),
        ("penalty.decided", {"decision_no": f"中工商罚〔2026〕{index}号", "decided_at": ago(3),
                             "fine": "20000.00", "confiscated": "0.00"}),
    ]


AlertKey = tuple[str, str, str]
"""(case id, rule id, status)"""


async def fetch(dsn: str, query: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


async def ledger_size(dsn: str) -> int:
    return int((await fetch(dsn, "SELECT count(*) AS n FROM ledger"))[0]["n"])


async def assert_ledger_exactly(dsn: str, event_ids: Collection[str]) -> list[asyncpg.Record]:
    """The ledger is 0..n-1 without a gap and holds each of event_ids once; its rows."""
    ledger = await fetch(dsn, "SELECT ledger_index, event_id::text AS id, case_id "
                              "FROM ledger ORDER BY ledger_index")
    assert [r["ledger_index"] for r in ledger] == list(range(len(ledger))), "a gap"
    assert sorted(r["id"] for r in ledger) == sorted(event_ids), "missing or duplicate entries"
    return ledger


async def assert_cases_hold_the_ledger(dsn: str) -> bool:
    """Every case's stored state has folded every ledgered event of that case (True)."""
    ledgered: dict[str, set[str]] = {}
    for row in await fetch(dsn, "SELECT case_id, event_id::text AS id FROM ledger"):
        ledgered.setdefault(row["case_id"], set()).add(row["id"])
    stored = {row["case_id"]: set(row["ids"]) for row in await fetch(
        dsn, "SELECT case_id, array_agg(event_id) AS ids FROM case_state_events"
             " GROUP BY case_id")}
    missing = {c: ids - stored.get(c, set()) for c, ids in ledgered.items()
               if ids - stored.get(c, set())}
    assert not missing, f"ledgered events not in their case state: {missing}"
    return True


async def stored_alerts(dsn: str) -> set[AlertKey]:
    rows = await fetch(dsn, "SELECT case_id, rule_id, status FROM alerts")
    return {(r["case_id"], r["rule_id"], r["status"]) for r in rows}


async def fault_free_alerts(dsn: str) -> set[AlertKey]:
    """The ledger folded in index order and assessed in memory: what a clean run raises."""
    fold = CaseFold()
    for row in await fetch(dsn, "SELECT record FROM ledger ORDER BY ledger_index"):
        fold.add(bytes(row["record"]))
    rules = rules_from_env({})
    now = datetime.now(UTC)
    return {(a.case_id, a.rule_id, a.status)
            for state in fold.states.values() for a in assess(state, rules, now, []).decisions}


async def assert_alerts_fault_free(dsn: str, timeout: float = 120.0,
                                   logs: Callable[[], str] = lambda: "") -> set[AlertKey]:
    """Wait until the stored alerts are those of a fault-free run (and there are some)."""
    expected = await fault_free_alerts(dsn)
    assert expected, "the scenario raises alerts"

    async def settled() -> bool:
        return await stored_alerts(dsn) == expected

    await eventually(settled, timeout, interval=0.2, describe=logs)
    return expected
