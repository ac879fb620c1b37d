"""`linkage-hub report monthly|disclosure|credit-list`: the month's bulletin (PDF + XLSX),
the 双公示 export (CSV + XLSX) and the credit-list feed (JSON + CSV), written to a directory,
each file's SHA-256 printed and written to the access log (issue 13)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hub.access import Scope
from hub.adapters.accounts_store import PostgresAccounts
from hub.adapters.stats_store import PostgresStatistics
from hub.adapters.workbench_store import PostgresWorkbench
from hub.commands.common import CliError, database, print_json
from hub.commands.user_cmds import cli_user
from hub.reports import service
from hub.reports.periods import PeriodError, parse_period
from hub.settings import Settings
from streams.rules_runner import startup_rules

EVERYTHING = Scope(everything=True, agency_id=None)


async def report(settings: Settings, args: argparse.Namespace) -> None:
    try:
        period = parse_period(args.period)
    except PeriodError as exc:
        raise CliError(str(exc)) from exc
    if args.sub != "credit-list" and period.kind != "month":
        raise CliError("月度通报与双公示按月生成，如 2026-10 / bulletins and disclosures are "
                       "monthly, e.g. 2026-10")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    async with database(settings) as pool:
        stats = PostgresStatistics(pool, startup_rules())
        wb = PostgresWorkbench(pool)
        await wb.refresh_scope()
        await stats.refresh()
        agencies = await wb.agency_names()

        def name(agency: str) -> str:
            return agencies.get(agency, (agency, "", ""))[0]

        if args.sub == "monthly":
            outputs = await service.monthly_bulletin(stats, EVERYTHING, period,
                                                     sorted(agencies), name)
            action = "report.bulletin"
        elif args.sub == "disclosure":
            outputs = [await service.disclosure_export(stats, EVERYTHING, period, name, f)
                       for f in ("csv", "xlsx")]
            action = "export.disclosure"
        else:
            outputs = [await service.credit_feed(stats, EVERYTHING, period, name, f)
                       for f in ("json", "csv")]
            action = "export.credit_list"
        written = []
        for out in outputs:
            path = out_dir / out.filename
            path.write_bytes(out.body)
            await PostgresAccounts(pool).log(
                None, action, target=out.filename, client="cli", username=cli_user(),
                detail={"sha256": out.sha256, "bytes": len(out.body), "channel": "cli"})
            written.append({"file": str(path), "sha256": out.sha256, "bytes": len(out.body)})
    if args.json:
        print_json(written)
    else:
        for w in written:
            print(f"{w['sha256']}  {w['file']}")
