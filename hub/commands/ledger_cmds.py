"""`linkage-hub ledger ...`: list entries, checkpoints, proofs, verification, export."""

from __future__ import annotations

import argparse

from audit.postgres import PostgresLedger
from hub.commands.common import database, print_json, print_table
from hub.settings import Settings


async def ledger_list(settings: Settings, args: argparse.Namespace) -> None:
    async with database(settings) as pool:
        entries = await PostgresLedger(pool).entries(
            case_id=args.case, agency_id=args.agency, start=args.start, limit=args.limit
        )
    if args.json:
        print_json([e.summary() for e in entries])
        return
    print_table(
        ["序号 index", "机关 agency", "案件 case", "类型 type", "事件时间 event time",
         "接收时间 received", "事件 event id"],
        [[e.ledger_index, e.agency_id, e.case_id, e.event_type,
          e.event_time.isoformat(timespec="seconds"), e.received_at.isoformat(timespec="seconds"),
          e.event_id] for e in entries],
    )
