"""The JSON API under /api/v1/ (contract section 7): tokens, alerts, cases, supervision,
ledger, access log, users. Same scope rules as the pages: they share hub/web/views.py and
every case or alert read goes through a `Scope` (hub/access.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import PlainTextResponse

from connectors.outbox import OutboxEntry
from hub.access import Capability, Principal, Role
from hub.adapters.accounts_store import AccountError
from hub.adapters.workbench_store import AlertFilter
from hub.web import actions
from hub.web.auth import (
    ApiProblem,
    api_needs,
    api_principal,
    client_of,
    issue,
    login,
    not_found,
    workbench,
)
from hub.web.models import (
    MAX_INDEX,
    NAME_PATTERN,
    RULE_PATTERN,
    TEXT_PATTERN,
    USERNAME_PATTERN,
    AccessEntryOut,
    AgencyOut,
    AlertOut,
    AlertStats,
    CaseId,
    CaseOut,
    CheckpointOut,
    InclusionCheck,
    LedgerEntryOut,
    Me,
    NewUser,
    Problem,
    ReceiptOut,
    SupervisionRequest,
    TokenRequest,
    TokenResponse,
    UserOut,
)
from hub.web.security import token_digest
from hub.web.state import Workbench
from hub.web.views import board_alert, for_principal
from schemas.cloudevent import AGENCY_ID_PATTERN
from schemas.events import Offence

ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": Problem, "description": "无法存储的字符 / unstorable characters"},
    401: {"model": Problem, "description": "没有有效令牌 / no valid token"},
    403: {"model": Problem, "description": "角色无权 / the role may not"},
}
NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"model": Problem, "description": "未找到或不在权限范围内 / unknown or out of scope"}}

router = APIRouter(prefix="/api/v1", responses=ERRORS)

WB = Annotated[Workbench, Depends(workbench)]
Anyone = Annotated[Principal, Depends(api_principal)]
CaseReader = Annotated[Principal, Depends(api_needs(Capability.READ_CASES))]
Supervisor = Annotated[Principal, Depends(api_needs(Capability.ISSUE_SUPERVISION))]
LedgerReader = Annotated[Principal, Depends(api_needs(Capability.READ_LEDGER))]
LogReader = Annotated[Principal, Depends(api_needs(Capability.READ_ACCESS_LOG))]
Admin = Annotated[Principal, Depends(api_needs(Capability.MANAGE_USERS))]


@router.post("/tokens", response_model=TokenResponse, tags=["auth"],
             responses={400: {"model": Problem}, 401: {"model": Problem},
                        423: {"model": Problem}})
async def create_token(body: TokenRequest, request: Request, wb: WB) -> TokenResponse:
    """用户名和密码换取 API 令牌 / exchange a user name and password for a bearer token."""
    result = await login(wb, body.username, body.password, client_of(request), "api")
    if result.principal is None:
        status = 423 if result.error == "locked" else 401
        raise ApiProblem(status, result.error or "bad_credentials", result.message_zh,
                         result.message_en)
    token, expires_at = await issue(wb, result.principal, "api")
    return TokenResponse(token=token, expires_at=expires_at)


@router.delete("/tokens/current", status_code=204, tags=["auth"])
async def revoke_token(request: Request, principal: Anyone, wb: WB) -> Response:
    """吊销当前令牌 / revoke the token of this request."""
    auth = request.headers.get("authorization", "")
    await wb.accounts.revoke(token_digest(auth.split(" ", 1)[1].strip()))
    await wb.log(principal, "token.revoke", client_of(request))
    return Response(status_code=204)


@router.get("/me", response_model=Me, tags=["auth"])
async def me(principal: Anyone, wb: WB) -> Me:
    """当前用户 / who the token belongs to."""
    names = await wb.names()
    return Me(username=principal.username, role=principal.role.value,
              agency=principal.agency_id, agency_name=names.zh(principal.agency_id))


@router.get("/agencies", response_model=list[AgencyOut], tags=["registry"])
async def agencies(principal: Anyone, wb: WB) -> list[AgencyOut]:
    """机关名录 / the registered agencies by name."""
    names = await wb.names()
    return [AgencyOut(id=a, name=zh, name_en=en, role=role)
            for a, (zh, en, role) in sorted(names.agencies.items())]


def _alert_filter(status: str | None, agency: str | None, offence: Offence | None,
                  rule: str | None, case: str | None, raised_from: datetime | None,
                  raised_to: datetime | None) -> AlertFilter:
    return AlertFilter(status=status, agency=agency, offence=offence.value if offence else None,
                       rule_id=rule, case_id=case, raised_from=actions.aware(raised_from),
                       raised_to=actions.aware(raised_to))


Status = Annotated[str | None, Query(pattern="^(open|resolved)$")]
AgencyId = Annotated[str | None, Query(pattern=AGENCY_ID_PATTERN)]
RuleId = Annotated[str | None, Query(pattern=RULE_PATTERN)]
CaseFilter = Annotated[str | None, Query(pattern=TEXT_PATTERN, max_length=200)]
From = Annotated[datetime | None, Query(alias="from")]
To = Annotated[datetime | None, Query(alias="to")]
PAGE_HEADERS = {"X-Total-Count": {"schema": {"type": "integer"},
                                  "description": "符合条件的预警总数 / alerts matching the filter"}}


@router.get("/alerts", response_model=list[AlertOut], tags=["supervision"],
            responses={200: {"headers": PAGE_HEADERS}})
async def alerts(
    principal: CaseReader, wb: WB, response: Response,
    status: Status = None, agency: AgencyId = None, offence: Offence | None = None,
    rule: RuleId = None, case: CaseFilter = None, raised_from: From = None,
    raised_to: To = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[AlertOut]:
    """权限范围内的预警（合同第 4 节），最新在前；总数见 X-Total-Count /
    the alerts of contract section 4 in the caller's scope, newest first; the total matching
    the filter is in X-Total-Count (page with offset and limit)."""
    await wb.store.refresh_scope()
    f = _alert_filter(status, agency, offence, rule, case, raised_from, raised_to)
    page = await wb.store.board(principal.scope, f, offset=offset, limit=limit)
    names, now = await wb.names(), wb.now()
    response.headers["X-Total-Count"] = str(page.total)
    return [for_principal(board_alert(r, names, now, wb.config.yellow_days), principal)
            for r in page.rows]


@router.get("/alerts/stats", response_model=AlertStats, tags=["supervision"])
async def alert_stats(
    principal: CaseReader, wb: WB,
    status: Status = None, agency: AgencyId = None, offence: Offence | None = None,
    rule: RuleId = None, case: CaseFilter = None, raised_from: From = None,
    raised_to: To = None,
) -> AlertStats:
    """预警统计：总数与各规则数量 / how many alerts match, and how many per rule (the
    counts per rule ignore the rule filter, as on the board)."""
    await wb.store.refresh_scope()
    f = _alert_filter(status, agency, offence, rule, case, raised_from, raised_to)
    page = await wb.store.board(principal.scope, f, limit=1)
    return AlertStats(total=page.total, per_rule=page.per_rule)


@router.get("/alerts/export", tags=["supervision"], response_class=PlainTextResponse,
            responses={200: {"content": {"text/csv": {}}}})
async def export(
    request: Request, principal: CaseReader, wb: WB,
    status: Annotated[str | None, Query(pattern="^(open|resolved)$")] = None,
    agency: Annotated[str | None, Query(pattern=AGENCY_ID_PATTERN)] = None,
    offence: Offence | None = None,
    rule: Annotated[str | None, Query(pattern=RULE_PATTERN)] = None,
    raised_from: Annotated[datetime | None, Query(alias="from")] = None,
    raised_to: Annotated[datetime | None, Query(alias="to")] = None,
) -> Response:
    """导出预警 CSV（记入访问日志）/ the alerts as CSV (the export is logged)."""
    f = AlertFilter(status=status, agency=agency, offence=offence.value if offence else None,
                    rule_id=rule, raised_from=actions.aware(raised_from),
                    raised_to=actions.aware(raised_to))
    body = await actions.export_alerts(wb, principal, f, client_of(request), "api")
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="alerts.csv"'})


@router.get("/cases/{case_id}", response_model=CaseOut, responses=NOT_FOUND, tags=["supervision"])
async def case(case_id: CaseId, request: Request, principal: CaseReader, wb: WB) -> CaseOut:
    """案件：当事人、金额与标准、阶段、期限、预警、时间线 / the case with its timeline."""
    found = await actions.read_case(wb, principal, case_id, client_of(request), "api")
    if found is None:
        raise not_found()
    return found


@router.get("/cases/{case_id}/events/{ledger_index}/inclusion", response_model=InclusionCheck,
            responses=NOT_FOUND, tags=["supervision"])
async def inclusion(case_id: CaseId, ledger_index: Annotated[int, Path(ge=0, le=MAX_INDEX)],
                    principal: CaseReader,
                    wb: WB) -> InclusionCheck:
    """核验事件的包含证明 / check an event's inclusion against the latest signed checkpoint."""
    check = await actions.check_inclusion(wb, principal, case_id, ledger_index)
    if check is None:
        raise not_found("事件", "event")
    return check


def _receipt(entry: OutboxEntry) -> ReceiptOut:
    return ReceiptOut(event_id=entry.event_id, case_id=entry.case_id, status=entry.status,
                      reason=entry.reason, detail=entry.detail,
                      ledger_index=entry.ledger_index, leaf_hash=entry.leaf_hash)


@router.post("/cases/{case_id}/supervisions", response_model=ReceiptOut, status_code=201,
             responses={**NOT_FOUND, 409: {"model": Problem}, 503: {"model": Problem}},
             tags=["supervision"])
async def supervise(case_id: CaseId, body: SupervisionRequest, request: Request,
                    principal: Supervisor, wb: WB) -> ReceiptOut:
    """发出检察监督（supervision.issued），经发件箱签名发送并等待回执 / issue supervision."""
    entry = await actions.issue_supervision(wb, principal, case_id, body.kind, body.to_agency,
                                            client_of(request), body.wait_seconds)
    return _receipt(entry)


@router.get("/supervisions/{event_id}", response_model=ReceiptOut, responses=NOT_FOUND,
            tags=["supervision"])
async def supervision(event_id: uuid.UUID, principal: Supervisor, wb: WB) -> ReceiptOut:
    """已发出监督的回执 / the receipt of an issued supervision."""
    entry = await actions.supervision_entry(wb, principal, str(event_id))
    if entry is None:
        raise not_found("监督", "supervision")
    return _receipt(entry)


@router.get("/ledger/entries", response_model=list[LedgerEntryOut], tags=["audit"])
async def ledger_entries(
    principal: LedgerReader, wb: WB, request: Request,
    start: Annotated[int, Query(ge=0, le=MAX_INDEX)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    case: Annotated[str | None, Query(pattern=TEXT_PATTERN, max_length=200)] = None,
    agency: Annotated[str | None, Query(pattern=AGENCY_ID_PATTERN)] = None,
    type: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
    time_from: Annotated[datetime | None, Query(alias="from")] = None,
    time_to: Annotated[datetime | None, Query(alias="to")] = None,
) -> list[LedgerEntryOut]:
    """账本条目（不含记录内容）/ ledger entries' metadata (never the record bytes)."""
    rows = await wb.store.ledger_page(start=start, limit=limit, case_id=case, agency=agency,
                                      event_type=type, time_from=actions.aware(time_from),
                                      time_to=actions.aware(time_to))
    return [LedgerEntryOut.model_validate(r) for r in rows]


@router.get("/ledger/checkpoints", response_model=list[CheckpointOut], tags=["audit"])
async def checkpoints(principal: LedgerReader, wb: WB,
                      limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[CheckpointOut]:
    """已签名检查点及见证联署 / signed checkpoints with their witness cosignatures."""
    return [CheckpointOut.model_validate(c) for c in await wb.store.checkpoints(limit=limit)]


@router.get("/access-log", response_model=list[AccessEntryOut], tags=["audit"])
async def access_log(
    principal: LogReader, wb: WB,
    before: Annotated[int | None, Query(ge=1, le=MAX_INDEX)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    username: Annotated[str | None, Query(pattern=USERNAME_PATTERN)] = None,
    action: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
) -> list[AccessEntryOut]:
    """访问日志（只可追加）/ the append-only access log, newest first."""
    rows = await wb.accounts.access_log(before=before, limit=limit, username=username,
                                        action=action)
    return [AccessEntryOut(seq=r.seq, at=r.at, username=r.username, role=r.role,
                           agency=r.agency_id, action=r.action, target=r.target,
                           client=r.client, outcome=r.outcome, detail=r.detail) for r in rows]


@router.get("/users", response_model=list[UserOut], tags=["admin"])
async def users(principal: Admin, wb: WB) -> list[UserOut]:
    """用户 / users."""
    return [UserOut(username=u.username, agency=u.agency_id, role=u.role.value,
                    display_name=u.display_name, disabled=u.disabled_at is not None,
                    locked_until=u.locked_until, created_at=u.created_at)
            for u in await wb.accounts.users()]


@router.post("/users", response_model=UserOut, status_code=201,
             responses={409: {"model": Problem}}, tags=["admin"])
async def create_user(body: NewUser, request: Request, principal: Admin, wb: WB) -> UserOut:
    """添加用户（Argon2id 存储密码）/ add a user (its password stored as an Argon2id hash)."""
    await actions.add_user(wb, principal, body.username, body.agency, Role(body.role),
                           body.password, body.display_name, client_of(request))
    user = await wb.accounts.user(body.username)
    assert user is not None
    return UserOut(username=user.username, agency=user.agency_id, role=user.role.value,
                   display_name=user.display_name, disabled=False,
                   locked_until=user.locked_until, created_at=user.created_at)


@router.post("/users/{username}/disable", status_code=204, responses=NOT_FOUND, tags=["admin"])
async def disable_user(username: Annotated[str, Path(pattern=USERNAME_PATTERN)],
                       request: Request, principal: Admin, wb: WB) -> Response:
    """停用用户并吊销其令牌 / disable a user and revoke its tokens and sessions."""
    try:
        await wb.accounts.disable(username)
    except AccountError as exc:
        raise not_found("用户", "user") from exc
    await wb.log(principal, "user.disable", client_of(request), target=username)
    return Response(status_code=204)


__all__ = ["router"]
