"""A fixed data set for the statistics tests, folded by the real fold (streams.rules) and
written to the real `cases` table, with hand-computed expectations in the tests.

    A1 zs-aic 213  opened 09-28, over threshold 09-29, transfer approved 10-02 (2.0 d after
       the report), transferred 10-02 15:00 (0.25 d), accepted by zs-psb 10-04 (2.0 d),
       filed 10-10 (6.0 d, over the 3-day period), prosecuted 11-05 by the procuratorate
    A2 zs-aic 214  opened 10-05, over threshold 10-06 (1.0 d), fined 10-20 (15.0 d;
       12345.67 yuan + 500.00 confiscated; a natural person), transfer refused 10-31 23:30
       Shanghai time (10.0 d after the report)
    A3 zs-ipo 216  opened 10-31 23:59:59 +08:00 (October, though 15:59 UTC), fined 11-02
    A4 zs-aic 213  opened 11-01 00:00 +08:00 (November, though still October in UTC)
    zs-customs: nothing at all.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from streams.rules import CaseState
from streams.rules.case_state import CaseEvent
from streams.rules.fold import apply

SH = ZoneInfo("Asia/Shanghai")
ORG = {"kind": "organization", "id_type": "USCC", "id_number": "91442000MA4W1AB23X",
       "name": "古镇某灯饰厂"}
ORG2 = {"kind": "organization", "id_type": "USCC", "id_number": "91442000MA4X2CD452",
        "name": "中山某电子有限公司"}
PERSON_ID = "442000199001011234"
PERSON = {"kind": "person", "id_type": "PRC_ID", "id_number": PERSON_ID, "name": "张三"}


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


def _ev(case: str, agency: str, type_name: str, at: datetime, data: dict[str, Any]) -> CaseEvent:
    return CaseEvent(event_id=str(uuid.uuid4()), type_name=type_name, agency=agency,
                     case_id=case, time=at, data=data)


def _opened(offence: str, at: datetime, party: dict[str, str]) -> dict[str, Any]:
    return {"offence": offence, "opened_at": at.isoformat(), "summary": "测试",
            "parties": [party]}


def events() -> dict[str, list[CaseEvent]]:
    a1, a2, a3, a4 = "ST-A1", "ST-A2", "ST-A3", "ST-A4"
    return {
        a1: [
            _ev(a1, "zs-aic", "case.opened", t("2026-09-28T10:00"),
                _opened("trademark_counterfeiting", t("2026-09-28T10:00"), ORG)),
            _ev(a1, "zs-aic", "case.assessed", t("2026-09-29T10:00"),
                {"assessed_at": t("2026-09-29T10:00").isoformat(),
                 "illegal_business_amount": "86000.00"}),
            _ev(a1, "zs-aic", "transfer.decided", t("2026-10-02T09:00"),
                {"report_at": t("2026-09-30T09:00").isoformat(),
                 "decided_at": t("2026-10-02T09:00").isoformat(), "approved": True}),
            _ev(a1, "zs-aic", "case.transferred", t("2026-10-02T15:00"),
                {"to_agency": "zs-psb", "transferred_at": t("2026-10-02T15:00").isoformat(),
                 "documents": [{"kind": "transfer_letter", "title": "移送书",
                                "sha256": "ab" * 32}]}),
            _ev(a1, "zs-psb", "transfer.accepted", t("2026-10-04T15:00"),
                {"accepted_at": t("2026-10-04T15:00").isoformat(), "receipt_no": "R-1"}),
            _ev(a1, "zs-psb", "filing.decided", t("2026-10-10T15:00"),
                {"decided_at": t("2026-10-10T15:00").isoformat(), "filed": True,
                 "reasons": "涉嫌犯罪", "complex": False}),
            _ev(a1, "zs-procuratorate", "prosecution.decided", t("2026-11-05T10:00"),
                {"decided_at": t("2026-11-05T10:00").isoformat(), "prosecuted": True,
                 "reasons": "事实清楚"}),
        ],
        a2: [
            _ev(a2, "zs-aic", "case.opened", t("2026-10-05T09:00"),
                _opened("counterfeit_goods_sale", t("2026-10-05T09:00"), PERSON)),
            _ev(a2, "zs-aic", "case.assessed", t("2026-10-06T09:00"),
                {"assessed_at": t("2026-10-06T09:00").isoformat(), "sales_amount": "60000.00"}),
            _ev(a2, "zs-aic", "penalty.decided", t("2026-10-20T09:00"),
                {"decision_no": "中工商罚〔2026〕101号",
                 "decided_at": t("2026-10-20T09:00").isoformat(),
                 "fine": "12345.67", "confiscated": "500.00"}),
            _ev(a2, "zs-aic", "transfer.decided", t("2026-10-31T23:30"),
                {"report_at": t("2026-10-21T23:30").isoformat(),
                 "decided_at": t("2026-10-31T23:30").isoformat(), "approved": False,
                 "reasons": "证据不足"}),
        ],
        a3: [
            _ev(a3, "zs-ipo", "case.opened", t("2026-10-31T23:59:59"),
                _opened("patent_counterfeiting", t("2026-10-31T23:59:59"), ORG2)),
            _ev(a3, "zs-ipo", "penalty.decided", t("2026-11-02T10:00"),
                {"decision_no": "中知罚〔2026〕7号", "decided_at": t("2026-11-02T10:00").isoformat(),
                 "fine": "50000.00", "confiscated": "0.00"}),
        ],
        a4: [
            _ev(a4, "zs-aic", "case.opened", t("2026-11-01T00:00"),
                _opened("trademark_counterfeiting", t("2026-11-01T00:00"), ORG)),
        ],
    }


SCOPE = [("ST-A1", "zs-aic"), ("ST-A1", "zs-psb"), ("ST-A2", "zs-aic"), ("ST-A3", "zs-ipo"),
         ("ST-A4", "zs-aic")]
ALERTS = [  # rule, case, agency, raised, status, updated
    ("SHOULD_TRANSFER", "ST-A2", "zs-aic", t("2026-10-25T09:00"), "resolved",
     t("2026-11-03T09:00")),
    ("FILING_OVERDUE", "ST-A1", "zs-psb", t("2026-10-08T09:00"), "resolved",
     t("2026-10-10T15:00")),
    ("NOT_ACCEPTED", "ST-A1", "zs-psb", t("2026-09-15T09:00"), "open", t("2026-09-15T09:00")),
]


def states() -> list[CaseState]:
    out = []
    for evs in events().values():
        state: CaseState | None = None
        for e in evs:
            state = apply(state, e)
        assert state is not None
        out.append(state)
    return out


async def load(dsn: str) -> None:
    """Write the cases (the trigger queues them), the scope and the alerts, as the owner."""
    conn = await asyncpg.connect(dsn)
    try:
        for s in states():
            await conn.execute("INSERT INTO cases (case_id, agency, state) VALUES ($1, $2, $3)",
                               s.case_id, s.agency, s.model_dump_json())
        await conn.executemany("INSERT INTO case_scope (case_id, agency_id) VALUES ($1, $2)",
                               SCOPE)
        for rule, case, agency, raised, status, updated in ALERTS:
            await conn.execute(
                "INSERT INTO alerts (alert_id, rule_id, case_id, agency, status, payload,"
                " first_raised_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                uuid.uuid4(), rule, case, agency, status, json.dumps({"rule_id": rule}),
                raised, updated)
    finally:
        await conn.close()
