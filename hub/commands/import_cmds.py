"""`linkage-hub import FILE.csv --agency ID --key KEY.pem`: bulk import of penalty records."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from connectors.bulk_import import plan_import, send_planned
from connectors.connector import Connector, ReceiptTimeout
from connectors.outbox import describe_outcome
from connectors.penalty.records import PenaltyFileError
from hub.commands.common import CliError
from hub.runtime import resolve
from hub.settings import Settings
from schemas.signing import KeyFormatError, SigningKey


async def import_penalties(settings: Settings, args: argparse.Namespace) -> None:
    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise CliError(f"无法读取文件 / cannot read file: {exc}") from exc
    try:
        plan = plan_import(data, args.agency)
    except PenaltyFileError as exc:
        raise CliError(f"{exc.message_zh} / {exc.message_en}") from exc
    report = plan.report
    print(f"{report.summary_zh}\n{report.summary_en}", file=sys.stderr)
    for warning in report.warnings:
        print(f"  ! {warning.message_zh} / {warning.message_en}", file=sys.stderr)
    if args.report:
        Path(args.report).write_bytes(report.to_error_csv())
        print(f"错误报告 / error report: {args.report}", file=sys.stderr)
    elif report.errors:
        for error in report.errors[:20]:
            print(f"  第 {error.row_number} 行 / row {error.row_number} [{error.column}] "
                  f"{error.reason_code}: {error.message_zh} / {error.message_en}", file=sys.stderr)
    if args.dry_run or not plan.events:
        return
    try:
        key = SigningKey.from_file(Path(args.key))
    except (OSError, KeyFormatError) as exc:
        raise CliError(f"无法读取私钥 / cannot read private key: {exc}") from exc
    settings = resolve(settings, need_kafka=True, need_database=False)
    outbox = Path(args.outbox) if args.outbox else settings.home / "outbox" / f"{args.agency}.sqlite"
    hub_pub = (settings.keys_dir / "hub.pub.pem")
    from schemas.signing import load_public_pem

    connector = Connector(args.agency, key, bootstrap=settings.require_kafka(), outbox_path=outbox,
                          hub_public_key=load_public_pem(hub_pub.read_bytes())
                          if hub_pub.exists() else None)
    await connector.start()
    try:
        counts = await send_planned(connector, plan, args.wait, sys.stderr)
        rejected = [e for e in (connector.outbox.get(ev.event_id) for ev in plan.events)
                    if e is not None and e.status == "rejected"]
    except ReceiptTimeout as exc:
        raise CliError(f"{exc}(事件仍在发件箱中,重跑即可续传 / events stay in the outbox; "
                       "re-run to resume)") from exc
    finally:
        await connector.stop()
    for entry in rejected[:20]:
        print(f"  ✗ {entry.case_id} {entry.event_type} → "
              f"{describe_outcome(entry.status, entry.reason, entry.detail)}", file=sys.stderr)
    print("回执 / receipts: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    if report.errors:
        raise CliError(f"{report.rows_rejected} 行未导入 / rows not imported", code=3)
