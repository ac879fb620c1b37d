"""The statistics document of a period: what the page, the JSON API and the bulletin show.

One builder, so the page, the API, the PDF and the XLSX cannot disagree: every figure is
read from the PostgreSQL statistics (hub/adapters/stats_store.py) once, here.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hub.access import Scope
from hub.adapters.stats_store import Filter, PostgresStatistics
from hub.reports.periods import Period
from hub.reports.steps import FUNNEL, STEP_CODES

ZERO = Decimal("0.00")


@dataclass
class StatsDoc:
    period: Period
    agency: str | None
    offence: str | None
    totals: dict[str, int]
    by_agency: dict[str, dict[str, int]]
    by_offence: dict[str, dict[str, int]]
    funnel: list[dict[str, Any]]
    durations: dict[str, dict[str, Any]]
    penalties: dict[str, dict[str, Any]]
    alerts: dict[str, dict[str, int]]
    trend: dict[str, dict[str, int]]
    overdue: dict[str, int] = field(default_factory=dict)
    transferred_cases: list[dict[str, Any]] = field(default_factory=list)

    def penalty_totals(self) -> dict[str, Any]:
        return {"count": sum(p["count"] for p in self.penalties.values()),
                "fine": sum((p["fine"] for p in self.penalties.values()), ZERO),
                "confiscated": sum((p["confiscated"] for p in self.penalties.values()), ZERO)}

    def as_json(self) -> dict[str, Any]:
        def money(v: Decimal) -> str:
            return f"{v:.2f}"

        return {
            "period": self.period.label, "kind": self.period.kind,
            "from": self.period.start.isoformat(), "to": self.period.end.isoformat(),
            "agency": self.agency, "offence": self.offence,
            "totals": self.totals,
            "by_agency": self.by_agency, "by_offence": self.by_offence,
            "funnel": [{**f, "rate": None if f["rate"] is None else str(f["rate"])}
                       for f in self.funnel],
            "durations": {k: {**v, "median": _s(v["median"]), "p90": _s(v["p90"]),
                              "deadline": _s(v["deadline"])} for k, v in self.durations.items()},
            "penalties": {a: {"count": p["count"], "fine": money(p["fine"]),
                              "confiscated": money(p["confiscated"])}
                          for a, p in self.penalties.items()},
            "penalty_totals": {k: (money(v) if isinstance(v, Decimal) else v)
                               for k, v in self.penalty_totals().items()},
            "alerts": self.alerts, "trend": self.trend,
        }


def _s(v: Decimal | None) -> str | None:
    return None if v is None else str(v)


def funnel(totals: dict[str, int]) -> list[dict[str, Any]]:
    """Each stage with its count and its rate over the stage before (None for the first or
    when the stage before has no case)."""
    out: list[dict[str, Any]] = []
    prev: int | None = None
    for code in FUNNEL:
        n = totals.get(code, 0)
        rate = None if not prev else (Decimal(n) / Decimal(prev)).quantize(Decimal("0.0001"))
        out.append({"step": code, "count": n, "rate": rate})
        prev = n
    return out


async def build(store: PostgresStatistics, scope: Scope, period: Period, *,
                agency: str | None = None, offence: str | None = None,
                bulletin: bool = False) -> StatsDoc:
    f = Filter(period.start, period.end, agency, offence)
    # independent queries, each on its own pooled connection: PostgreSQL runs them at once
    (by_agency, by_offence, trend), durations, penalties, alerts = await asyncio.gather(
        store.counts(scope, f), store.durations(scope, f), store.penalties(scope, f),
        store.alerts(scope, f))
    totals = {code: sum(a.get(code, 0) for a in by_agency.values()) for code in STEP_CODES}
    doc = StatsDoc(
        period=period, agency=agency, offence=offence, totals=totals, by_agency=by_agency,
        by_offence=by_offence, funnel=funnel(totals), durations=durations,
        penalties=penalties, alerts=alerts, trend=trend)
    if bulletin:
        doc.overdue = await store.overdue(scope, period.end)
        doc.transferred_cases = await store.stage_as_of(scope, f, period.end)
    return doc
