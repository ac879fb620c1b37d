"""Statistics, the monthly bulletin, 双公示 disclosure and the credit-list feed (issue 13):
JSON API under /api/v1/ and the /statistics pages.

Who: every role that reads cases (officer, supervisor, auditor); an officer's figures are
those its own agency produced on cases of its scope (hub/adapters/stats_store.py `_visible`,
over the one `Scope`). Admins get 403. Every bulletin and export is written to the access
log with the SHA-256 of the bytes handed out.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response

from hub.access import Capability, Principal
from hub.adapters.stats_store import Filter, PostgresStatistics
from hub.reports import service
from hub.reports.charts import Bar, hbars, lines
from hub.reports.document import StatsDoc, build
from hub.reports.labels import OFFENCE_ZH, offence_zh
from hub.reports.periods import (
    MONTH_PATTERN,
    PERIOD_PATTERN,
    SHANGHAI,
    Period,
    PeriodError,
    parse_period,
)
from hub.reports.steps import BY_CODE, FUNNEL, STEP_CODES, STEPS, statutory_days
from hub.web.auth import ApiProblem, api_needs, client_of, page_needs, workbench
from hub.web.pages import render
from hub.web.state import Workbench
from hub.web.views import Names
from schemas.cloudevent import AGENCY_ID_PATTERN
from schemas.events import Offence

api = APIRouter(prefix="/api/v1", tags=["statistics"])
pages = APIRouter(include_in_schema=False)

WB = Annotated[Workbench, Depends(workbench)]
ApiReader = Annotated[Principal, Depends(api_needs(Capability.READ_CASES))]
PageReader = Annotated[Principal, Depends(page_needs(Capability.READ_CASES))]
PeriodQ = Annotated[str, Query(pattern=PERIOD_PATTERN, description="2026-10, 2026-Q4 or 2026")]
MonthP = Annotated[str, PathParam(pattern=MONTH_PATTERN)]
AgencyQ = Annotated[str | None, Query(pattern=AGENCY_ID_PATTERN)]
StepQ = Annotated[str, Query(pattern="^(" + "|".join(STEP_CODES) + ")$")]


def statistics_of(request: Request) -> PostgresStatistics:
    stats: PostgresStatistics = request.app.state.statistics
    return stats


def _period(text: str) -> Period:
    try:
        return parse_period(text)
    except PeriodError as exc:
        raise ApiProblem(422, "invalid_period", "期间无效", str(exc)) from exc


async def _fresh(request: Request, wb: Workbench) -> PostgresStatistics:
    """Scope and statistics brought up to the ledger and case store before a read."""
    stats = statistics_of(request)
    await wb.store.refresh_scope()
    await stats.refresh()
    return stats


async def _doc(request: Request, wb: Workbench, principal: Principal, period: str,
               agency: str | None, offence: Offence | None) -> StatsDoc:
    stats = await _fresh(request, wb)
    return await build(stats, principal.scope, _period(period), agency=agency,
                       offence=offence.value if offence else None)


def _agency_list(names: Names, principal: Principal) -> list[str]:
    if principal.scope.everything:
        return sorted(names.agencies)
    return [principal.agency_id]


# -- JSON API ------------------------------------------------------------------------------


@api.get("/statistics")
async def statistics(request: Request, principal: ApiReader, wb: WB, period: PeriodQ,
                     agency: AgencyQ = None, offence: Offence | None = None) -> dict[str, Any]:
    """按机关、罪名、期间统计 / figures by agency, offence and period, funnel, durations,
    alerts per rule."""
    doc = await _doc(request, wb, principal, period, agency, offence)
    return doc.as_json()


@api.get("/statistics/cases")
async def statistics_cases(request: Request, principal: ApiReader, wb: WB, period: PeriodQ,
                           step: StepQ, agency: AgencyQ = None, offence: Offence | None = None,
                           offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
                           limit: Annotated[int, Query(ge=1, le=1000)] = 200
                           ) -> dict[str, Any]:
    """一个数字背后的案件 / the cases behind one figure (drill-down)."""
    stats = await _fresh(request, wb)
    p = _period(period)
    rows, total = await stats.step_cases(
        principal.scope, Filter(p.start, p.end, agency, offence.value if offence else None),
        step, offset=offset, limit=limit)
    return {"period": p.label, "step": step, "total": total,
            "cases": [{"case_id": r["case_id"], "agency": r["agency"], "offence": r["offence"],
                       "at": r["at"].isoformat(),
                       "elapsed_days": None if r["elapsed_days"] is None
                       else str(r["elapsed_days"])} for r in rows]}


async def _send(request: Request, wb: WB, principal: Principal, action: str,
                out: service.Output, channel: str) -> Response:
    await wb.log(principal, action, client_of(request), target=out.filename,
                 detail={"sha256": out.sha256, "bytes": len(out.body), "channel": channel})
    return Response(out.body, media_type=out.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{out.filename}"',
                             "X-Content-SHA256": out.sha256})


EXPORTS = {"bulletin": "report.bulletin", "disclosure": "export.disclosure",
           "credit": "export.credit_list"}


async def _export(request: Request, wb: WB, principal: Principal, kind: str, period: str,
                  fmt: str, channel: str) -> Response:
    """One bulletin or export, for the caller's scope, logged with its SHA-256."""
    stats = await _fresh(request, wb)
    names = await wb.names()
    p, scope = _period(period), principal.scope
    if kind == "bulletin":
        (out,) = await service.monthly_bulletin(stats, scope, p, _agency_list(names, principal),
                                                names.zh, (fmt,))
    elif kind == "disclosure":
        out = await service.disclosure_export(stats, scope, p, names.zh, fmt)
    else:
        out = await service.credit_feed(stats, scope, p, names.zh, fmt)
    return await _send(request, wb, principal, EXPORTS[kind], out, channel)


Fmt = Annotated[str, PathParam(pattern="^(pdf|xlsx)$")]
TableFmt = Annotated[str, PathParam(pattern="^(csv|xlsx)$")]
FeedFmt = Annotated[str, PathParam(pattern="^(json|csv)$")]
FILES: dict[int | str, dict[str, Any]] = {
    200: {"content": {service.PDF: {}, service.XLSX: {}, "text/csv": {}}}}


@api.get("/statistics/bulletin/{month}.{fmt}", responses=FILES)
async def bulletin_api(request: Request, principal: ApiReader, wb: WB, month: MonthP,
                       fmt: Fmt) -> Response:
    """月度通报 PDF / XLSX（SHA-256 记入访问日志）/ the monthly bulletin."""
    return await _export(request, wb, principal, "bulletin", month, fmt, "api")


@api.get("/disclosure/{month}.{fmt}", responses=FILES)
async def disclosure_api(request: Request, principal: ApiReader, wb: WB, month: MonthP,
                         fmt: TableFmt) -> Response:
    """双公示 行政处罚信息 / the month's penalty decisions in the national format."""
    return await _export(request, wb, principal, "disclosure", month, fmt, "api")


@api.get("/credit-list/{period}.{fmt}", responses={200: {"content": {"application/json": {},
                                                                     "text/csv": {}}}})
async def credit_api(request: Request, principal: ApiReader, wb: WB,
                     period: Annotated[str, PathParam(pattern=PERIOD_PATTERN)],
                     fmt: FeedFmt) -> Response:
    """红黑名单推送 / parties with IP penalties or criminal filings in the period."""
    return await _export(request, wb, principal, "credit", period, fmt, "api")


# -- pages ---------------------------------------------------------------------------------


def _query(**params: str | None) -> str:
    return urlencode({k: v for k, v in params.items() if v})


def charts(doc: StatsDoc, names: Names, agencies: list[str]) -> dict[str, Any]:
    """The page's three charts, each bar a drill-down link."""
    p, off = doc.period.label, doc.offence

    def drill(step: str, agency: str | None = None) -> str:
        return "/statistics/cases?" + _query(period=p, step=step, agency=agency or doc.agency,
                                             offence=off)

    funnel = hbars([Bar(f"{BY_CODE[f['step']].zh}", f["count"], drill(f["step"]),
                        "" if f["rate"] is None else f"（{float(f['rate']) * 100:.1f}%）")
                    for f in doc.funnel], title="衔接漏斗 Funnel", chart_id="chart-funnel")
    shown = [a for a in agencies if doc.agency in (None, a)]
    per_agency = hbars([Bar(names.zh(a), doc.by_agency.get(a, {}).get("opened", 0),
                            drill("opened", a)) for a in shown],
                       title="各单位行政立案 Cases opened by agency", chart_id="chart-agencies")
    months = doc.period.months
    trend = lines(months, [(BY_CODE[c].zh, [doc.trend.get(m, {}).get(c, 0) for m in months])
                           for c in ("opened", "transferred", "filed")],
                  title="月度趋势 Trend by month", chart_id="chart-trend")
    return {"funnel": funnel, "agencies": per_agency, "trend": trend}


@pages.get("/statistics")
async def statistics_page(request: Request, principal: PageReader, wb: WB,
                          period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
                          agency: AgencyQ = None, offence: Offence | None = None) -> Response:
    label = period or wb.now().astimezone(SHANGHAI).strftime("%Y-%m")
    doc = await _doc(request, wb, principal, label, agency, offence)
    names = await wb.names()
    agencies = _agency_list(names, principal)
    return render(request, "statistics.html", doc=doc, names=names, agencies=agencies,
                  charts=charts(doc, names, agencies), steps=STEPS, step_codes=STEP_CODES,
                  funnel_codes=FUNNEL, offences=OFFENCE_ZH, offence_zh=offence_zh,
                  deadline=lambda c: statutory_days(wb.rules, BY_CODE[c]),
                  q=lambda **kw: _query(**{"period": doc.period.label, "agency": doc.agency,
                                           "offence": doc.offence, **kw}))


@pages.get("/statistics/cases")
async def statistics_cases_page(request: Request, principal: PageReader, wb: WB,
                                period: PeriodQ, step: StepQ, agency: AgencyQ = None,
                                offence: Offence | None = None,
                                offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0
                                ) -> Response:
    stats = await _fresh(request, wb)
    p = _period(period)
    rows, total = await stats.step_cases(
        principal.scope, Filter(p.start, p.end, agency, offence.value if offence else None),
        step, offset=offset, limit=200)
    return render(request, "statistics_cases.html", rows=rows, total=total, period=p,
                  step=BY_CODE[step], names=await wb.names(), offence_zh=offence_zh,
                  back="/statistics?" + _query(
                      period=p.label, agency=agency, offence=offence.value if offence else None),
                  next=None if offset + len(rows) >= total else "?" + _query(
                      period=p.label, step=step, agency=agency,
                      offence=offence.value if offence else None,
                      offset=str(offset + len(rows))))


@pages.get("/statistics/bulletin/{month}.{fmt}")
async def bulletin_page(request: Request, principal: PageReader, wb: WB, month: MonthP,
                        fmt: Fmt) -> Response:
    return await _export(request, wb, principal, "bulletin", month, fmt, "page")


@pages.get("/statistics/disclosure/{month}.{fmt}")
async def disclosure_page(request: Request, principal: PageReader, wb: WB, month: MonthP,
                          fmt: TableFmt) -> Response:
    return await _export(request, wb, principal, "disclosure", month, fmt, "page")


@pages.get("/statistics/credit-list/{period}.{fmt}")
async def credit_page(request: Request, principal: PageReader, wb: WB,
                      period: Annotated[str, PathParam(pattern=PERIOD_PATTERN)],
                      fmt: FeedFmt) -> Response:
    return await _export(request, wb, principal, "credit", period, fmt, "page")
