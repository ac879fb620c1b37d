"""`linkage-hub alerts list`: the current alerts for the procuratorate (contract section 4)."""

from __future__ import annotations

import argparse

from hub.adapters.case_store import PostgresCaseStore
from hub.adapters.postgres import translated_errors
from hub.commands.common import LOCAL_ZONE_LABEL, database, local_time, print_json, print_table
from hub.settings import Settings

STATUS_LABEL = {"open": "未解除 open", "resolved": "已解除 resolved"}


async def alerts_list(settings: Settings, args: argparse.Namespace) -> None:
    async with database(settings) as pool, translated_errors():
        alerts = await PostgresCaseStore(pool).list_alerts(status=args.status, case_id=args.case)
    if args.json:
        print_json([alert.model_dump(mode="json") for alert in alerts])
        return
    print_table(
        ["预警 alert id", "规则 rule", "状态 status", "案件 case", "责任机关 agency",
         f"触发 raised {LOCAL_ZONE_LABEL}", f"期限 due {LOCAL_ZONE_LABEL}", "说明 message"],
        [[a.alert_id, a.rule_id, STATUS_LABEL[a.status], a.case_id, a.agency,
          local_time(a.raised_at), local_time(a.due_at), a.message_zh] for a in alerts],
    )
    open_count = sum(1 for a in alerts if a.status == "open")
    print(f"共 {len(alerts)} 条，未解除 {open_count} 条 / {len(alerts)} alerts, {open_count} open")
