"""What the CLI and the workbench share: the month's bulletin files and the exports, each
with its SHA-256 (written to the access log by the caller)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from hub.access import Scope
from hub.adapters.stats_store import Filter, PostgresStatistics
from hub.reports import bulletin, disclosure
from hub.reports.document import build
from hub.reports.periods import Period


@dataclass(frozen=True)
class Output:
    filename: str
    media_type: str
    body: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()


PDF = "application/pdf"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"


async def monthly_bulletin(store: PostgresStatistics, scope: Scope, period: Period,
                           agencies: list[str], name: Callable[[str], str],
                           formats: tuple[str, ...] = ("pdf", "xlsx")) -> list[Output]:
    doc = await build(store, scope, period, bulletin=True)
    out = []
    if "pdf" in formats:
        out.append(Output(f"bulletin-{period.label}.pdf", PDF,
                          bulletin.bulletin_pdf(doc, agencies, name)))
    if "xlsx" in formats:
        out.append(Output(f"bulletin-{period.label}.xlsx", XLSX,
                          bulletin.bulletin_xlsx(doc, agencies, name)))
    return out


async def disclosure_export(store: PostgresStatistics, scope: Scope, period: Period,
                            name: Callable[[str], str], fmt: str) -> Output:
    records = await store.penalty_records(scope, Filter(period.start, period.end))
    rows = disclosure.disclosure_rows(records, name)
    if fmt == "xlsx":
        return Output(f"shuanggongshi-{period.label}.xlsx", XLSX,
                      disclosure.disclosure_xlsx(rows, period.end))
    return Output(f"shuanggongshi-{period.label}.csv", CSV, disclosure.disclosure_csv(rows))


async def credit_feed(store: PostgresStatistics, scope: Scope, period: Period,
                      name: Callable[[str], str], fmt: str) -> Output:
    entries = await store.credit_entries(scope, Filter(period.start, period.end))
    rows = disclosure.credit_rows(entries, name)
    if fmt == "csv":
        return Output(f"credit-list-{period.label}.csv", CSV, disclosure.credit_csv(rows))
    body = json.dumps({"period": period.label, "from": period.start.isoformat(),
                       "to": period.end.isoformat(), "entries": rows},
                      ensure_ascii=False, indent=1).encode("utf-8")
    return Output(f"credit-list-{period.label}.json", "application/json", body)
