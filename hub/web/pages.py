"""Server-rendered workbench pages (zh-CN first, then English; times in Asia/Shanghai).

Sessions: an HttpOnly, SameSite=Strict cookie holding a random id whose SHA-256 is stored
(hub/sql/accounts.sql). Every form carries a CSRF token: for a session, an HMAC keyed by the
session id (hub/web/security.py); for the login form, a double-submit cookie. A form
without the right token is refused with 403 before anything else is looked at.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from audit.checkpoint import open_checkpoint
from audit.errors import LedgerError
from audit.proofs import ConsistencyProof, verify_inclusion_json
from hub.access import ROLE_LABEL, Capability, Principal, Role
from hub.adapters.accounts_store import AccountError
from hub.adapters.workbench_store import AlertFilter
from hub.web import actions
from hub.web.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    ApiProblem,
    client_of,
    issue,
    login,
    page_needs,
    page_principal,
    session_of,
    workbench,
)
from hub.web.models import MAX_INDEX, USERNAME_PATTERN, AlertOut, CaseOut
from hub.web.security import csrf_for, new_token, same_secret, token_digest
from hub.web.state import Workbench
from hub.web.supervision import KIND_LABEL, SupervisionKind
from hub.web.views import board_alert, for_principal, local
from schemas.events import EVENT_TYPES
from streams.rules._figures import LABELS
from streams.rules.rules_config import RULE_CATALOGUE

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
def figure_label(name: str) -> str:
    return LABELS.get(name, (name, name))[0]


def event_label(type_name: str) -> str:
    spec = EVENT_TYPES.get(type_name)
    return spec.title_zh if spec else type_name


def timeline_rows(case: CaseOut) -> Markup:
    """The case page's timeline rows, built here rather than in Jinja: a case can have
    thousands of events, and this is five times faster (bench/workbench.py)."""
    base = f"/cases/{quote(case.case_id, safe='')}/events/"
    rows = []
    for e in case.timeline:
        rows.append(
            f"<tr><td>{e.ledger_index}</td><td>{local(e.time)}</td>"
            f"<td>{escape(event_label(e.type))} <small><code>{escape(e.type)}</code></small></td>"
            f"<td>{escape(e.agency_name)}</td><td><small>{e.event_id}</small></td>"
            f'<td><button class="verify" hx-get="{escape(base)}{e.ledger_index}/inclusion"'
            ' hx-target="closest td">验证 <small>Verify</small></button></td></tr>')
    return Markup("\n".join(rows))


templates.env.globals.update(local=local, role_label=ROLE_LABEL, kind_label=KIND_LABEL,
                             Capability=Capability, figure_label=figure_label,
                             event_label=event_label, timeline_rows=timeline_rows)

router = APIRouter(include_in_schema=False)
WB = Annotated[Workbench, Depends(workbench)]
User = Annotated[Principal, Depends(page_principal)]
CaseReader = Annotated[Principal, Depends(page_needs(Capability.READ_CASES))]
Supervisor = Annotated[Principal, Depends(page_needs(Capability.ISSUE_SUPERVISION))]
LedgerReader = Annotated[Principal, Depends(page_needs(Capability.READ_LEDGER))]
LogReader = Annotated[Principal, Depends(page_needs(Capability.READ_ACCESS_LOG))]
Admin = Annotated[Principal, Depends(page_needs(Capability.MANAGE_USERS))]

LIGHT_LABEL = {"red": ("红", "overdue"), "yellow": ("黄", "due soon"),
               "green": ("绿", "on track"), "none": ("—", "resolved")}
templates.env.globals["light_label"] = LIGHT_LABEL


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    principal: Principal | None = getattr(request.state, "principal", None)
    session: str | None = getattr(request.state, "session", None)
    context.update(user=principal, csrf=csrf_for(session) if session else "")
    return templates.TemplateResponse(request, name, context, status_code=status)


def problem_page(request: Request, status: int, zh: str, en: str) -> HTMLResponse:
    return render(request, "problem.html", status=status, status_code=status, zh=zh, en=en)


def check_csrf(request: Request, token: str | None) -> None:
    session: str | None = getattr(request.state, "session", None)
    if session is None or not same_secret(token, csrf_for(session)):
        raise ApiProblem(403, "csrf", "表单校验码缺失或无效（CSRF），请求被拒绝",
                         "missing or wrong form token (CSRF): request refused")


# -- logging in and out ---------------------------------------------------------------------


@router.get("/login")
async def login_form(request: Request, wb: WB) -> Response:
    if await session_of(request) is not None:
        return RedirectResponse("/", status_code=303)
    token = new_token()
    response = render(request, "login.html", login_csrf=token, error=None)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=wb.config.secure_cookies, path="/login", max_age=3600)
    return response


@router.post("/login")
async def login_submit(request: Request, wb: WB, username: Annotated[str, Form()] = "",
                       password: Annotated[str, Form()] = "",
                       csrf: Annotated[str, Form()] = "") -> Response:
    if not same_secret(csrf, request.cookies.get(LOGIN_CSRF_COOKIE)):
        raise ApiProblem(403, "csrf", "表单校验码缺失或无效（CSRF），请求被拒绝",
                         "missing or wrong form token (CSRF): request refused")
    result = await login(wb, username.strip(), password, client_of(request), "page")
    if result.principal is None:
        return render(request, "login.html", status=401, login_csrf=csrf,
                      error=(result.message_zh, result.message_en), username=username)
    token, _ = await issue(wb, result.principal, "session")
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                        secure=wb.config.secure_cookies, path="/",
                        max_age=int(wb.config.session_hours * 3600))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, principal: User, wb: WB,
                 csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf)
    await wb.accounts.revoke(token_digest(request.state.session))
    await wb.log(principal, "logout", client_of(request))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
async def home(principal: User) -> Response:
    target = {Role.ADMIN: "/admin/users", Role.AUDITOR: "/audit"}.get(principal.role, "/board")
    return RedirectResponse(target, status_code=303)


# -- the supervision desk -------------------------------------------------------------------


def _filter(status: str | None, agency: str | None, offence: str | None, rule: str | None,
            raised_from: str | None, raised_to: str | None) -> AlertFilter:
    def day(text: str | None, plus: int = 0) -> datetime | None:
        if not text:
            return None
        return actions.aware(datetime.fromisoformat(text) + timedelta(days=plus))

    return AlertFilter(status=status or None, agency=agency or None, offence=offence or None,
                       rule_id=rule or None, raised_from=day(raised_from),
                       raised_to=day(raised_to, 1))


async def _board_context(wb: Workbench, principal: Principal, params: dict[str, str],
                         offset: int, limit: int) -> dict[str, Any]:
    await wb.store.refresh_scope()
    try:
        f = _filter(params.get("status", "open"), params.get("agency"), params.get("offence"),
                    params.get("rule"), params.get("from"), params.get("to"))
    except ValueError:
        f = AlertFilter()
    page = await wb.store.board(principal.scope, f, offset=offset, limit=limit)
    names, now = await wb.names(), wb.now()
    alerts: list[AlertOut] = [for_principal(board_alert(r, names, now, wb.config.yellow_days),
                                            principal) for r in page.rows]
    deadlines = await wb.store.deadlines(principal.scope, limit=20)
    query = {k: v for k, v in params.items() if v and k not in ("offset",)}
    return dict(alerts=alerts, page=page, params=params, offset=offset, limit=limit,
                names=names, deadlines=deadlines, now=now,
                yellow_days=wb.config.yellow_days, rules=RULE_CATALOGUE, ruleset=wb.rules,
                query=urlencode(query),
                prev=urlencode({**query, "offset": max(offset - limit, 0)}),
                next=urlencode({**query, "offset": offset + limit}))


BOARD_KEYS = ("status", "agency", "offence", "rule", "from", "to", "limit")


def _board_params(request: Request) -> dict[str, str]:
    """The board's filters from the query string; the board shows open alerts by default."""
    return {k: request.query_params.get(k, "open" if k == "status" else "") for k in BOARD_KEYS}


@router.get("/board")
async def board(request: Request, principal: CaseReader, wb: WB,
                offset: Annotated[int, Query(ge=0, le=MAX_INDEX)] = 0,
                limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Response:
    params = _board_params(request)
    context = await _board_context(wb, principal, params, offset, limit)
    return render(request, "board.html", **context)


@router.get("/board/rows")
async def board_rows(request: Request, principal: CaseReader, wb: WB,
                     offset: Annotated[int, Query(ge=0, le=MAX_INDEX)] = 0,
                     limit: Annotated[int, Query(ge=1, le=200)] = 50) -> Response:
    """The board's live part (htmx polls it every few seconds)."""
    params = _board_params(request)
    context = await _board_context(wb, principal, params, offset, limit)
    return render(request, "_board_rows.html", **context)


@router.get("/board/export.csv")
async def board_export(request: Request, principal: CaseReader, wb: WB) -> Response:
    params = {k: request.query_params.get(k, "") for k in BOARD_KEYS}
    try:
        f = _filter(params.get("status"), params.get("agency"), params.get("offence"),
                    params.get("rule"), params.get("from"), params.get("to"))
    except ValueError:
        f = AlertFilter()
    body = await actions.export_alerts(wb, principal, f, client_of(request), "page")
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="alerts.csv"'})


@router.get("/cases/{case_id}")
async def case_page(case_id: str, request: Request, principal: CaseReader, wb: WB) -> Response:
    view = await actions.read_case(wb, principal, case_id, client_of(request), "page")
    if view is None:
        return problem_page(request, 404, f"未找到案件 {case_id}", f"case {case_id} not found")
    names = await wb.names()
    issued = []
    if principal.can(Capability.ISSUE_SUPERVISION):
        for row in await wb.accounts.access_log(username=principal.username,
                                                action="supervision.issue", limit=200):
            if row.target == case_id:
                entry = await actions.supervision_entry(wb, principal,
                                                        str(row.detail.get("event_id")))
                issued.append((row, entry))
    targets = sorted({a for a in [view.agency, *(e.agency for e in view.timeline)] if a}
                     | {a.agency for a in view.open_alerts})
    return render(request, "case.html", case=view, names=names, issued=issued, ruleset=wb.rules,
                  targets=targets, kinds=KIND_LABEL,
                  can_issue=principal.can(Capability.ISSUE_SUPERVISION)
                  and wb.desk.available)


@router.get("/cases/{case_id}/events/{ledger_index}/inclusion")
async def inclusion_fragment(case_id: str, ledger_index: Annotated[int, PathParam(ge=0, le=MAX_INDEX)],
                             request: Request,
                             principal: CaseReader, wb: WB) -> Response:
    check = await actions.check_inclusion(wb, principal, case_id, ledger_index)
    if check is None:
        return problem_page(request, 404, "未找到事件", "event not found")
    return render(request, "_inclusion.html", check=check)


@router.post("/cases/{case_id}/supervisions")
async def supervise(case_id: str, request: Request, principal: Supervisor, wb: WB,
                    kind: Annotated[str, Form()] = "", to_agency: Annotated[str, Form()] = "",
                    csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf)
    if kind not in KIND_LABEL:
        return problem_page(request, 422, "监督类型无效", "invalid supervision kind")
    chosen: SupervisionKind = kind  # type: ignore[assignment]  # checked just above
    entry = await actions.issue_supervision(wb, principal, case_id, chosen, to_agency,
                                            client_of(request), 10.0)
    return RedirectResponse(f"/cases/{case_id}/supervisions/{entry.event_id}", status_code=303)


@router.get("/cases/{case_id}/supervisions/{event_id}")
async def supervision_receipt(case_id: str, event_id: uuid.UUID, request: Request,
                              principal: Supervisor, wb: WB) -> Response:
    entry = await actions.supervision_entry(wb, principal, str(event_id))
    if entry is None or entry.case_id != case_id:
        return problem_page(request, 404, "未找到该监督", "supervision not found")
    return render(request, "receipt.html", entry=entry, case_id=case_id)


# -- the audit desk -------------------------------------------------------------------------


@router.get("/audit")
async def audit(request: Request, principal: LedgerReader, wb: WB,
                start: Annotated[int, Query(ge=0, le=MAX_INDEX)] = 0,
                limit: Annotated[int, Query(ge=1, le=500)] = 50) -> Response:
    q = request.query_params

    def when(name: str, plus: int = 0) -> datetime | None:
        text = q.get(name)
        try:
            return actions.aware(datetime.fromisoformat(text) + timedelta(days=plus)) \
                if text else None
        except ValueError:
            return None

    rows = await wb.store.ledger_page(
        start=start, limit=limit, case_id=q.get("case") or None,
        agency=q.get("agency") or None, event_type=q.get("type") or None,
        time_from=when("from"), time_to=when("to", 1))
    keep = {k: v for k, v in q.items() if v and k != "start"}
    head = await wb.ledger.ledger.tree_head()
    return render(request, "audit.html", rows=rows, names=await wb.names(), params=q,
                  start=start, limit=limit, size=head.size,
                  next=urlencode({**keep, "start": rows[-1]["ledger_index"] + 1})
                  if rows else None)


@router.get("/audit/checkpoints")
async def audit_checkpoints(request: Request, principal: LedgerReader, wb: WB) -> Response:
    return render(request, "checkpoints.html", checkpoints=await wb.store.checkpoints(limit=30))


@router.get("/audit/proof")
async def audit_proof(request: Request, principal: LedgerReader, wb: WB,
                      index: Annotated[int | None, Query(ge=0, le=MAX_INDEX)] = None,
                      first: Annotated[int | None, Query(ge=0, le=MAX_INDEX)] = None,
                      second: Annotated[int | None, Query(ge=0, le=MAX_INDEX)] = None) -> Response:
    """An inclusion proof (by index) or a consistency proof (first, second), checked here."""
    result: dict[str, Any] = {}
    try:
        if index is not None:
            proof = await wb.ledger.inclusion(index=index)
            entry = await wb.ledger.ledger.entry_at(index)
            assert entry is not None
            cp = verify_inclusion_json(proof, entry.record, wb.ledger.checkpointer.verifier,
                                       origin=wb.settings.origin)
            result = dict(kind="inclusion", document=proof.model_dump(mode="json"),
                          verified=True, size=cp.size)
        elif first is not None and second is not None:
            cproof: ConsistencyProof = await wb.ledger.consistency(first, second)
            # Checked against the two signed checkpoints when both sizes have one.
            older, newer = wb.ledger.store.at(first), wb.ledger.store.at(second)
            notes = (await older, await newer)
            verified: bool | None = None
            if notes[0] is not None and notes[1] is not None:
                verifier = wb.ledger.checkpointer.verifier
                a = open_checkpoint(notes[0].note, verifier, origin=wb.settings.origin)
                b = open_checkpoint(notes[1].note, verifier, origin=wb.settings.origin)
                cproof.verify(a.root_hash, b.root_hash)
                verified = True
            result = dict(kind="consistency", document=cproof.model_dump(mode="json"),
                          verified=verified, size=second)
    except (LedgerError, ValueError) as exc:
        zh = getattr(exc, "message_zh", str(exc))
        en = getattr(exc, "message_en", str(exc))
        result = dict(kind="error", zh=zh, en=en)
    return render(request, "proof.html", result=result, index=index, first=first,
                  second=second)


@router.get("/audit/access-log")
async def audit_access_log(request: Request, principal: LogReader, wb: WB,
                           before: Annotated[int | None, Query(ge=1, le=MAX_INDEX)] = None) -> Response:
    q = request.query_params
    rows = await wb.accounts.access_log(before=before, limit=50,
                                        username=q.get("username") or None,
                                        action=q.get("action") or None)
    keep = {k: v for k, v in q.items() if v and k != "before"}
    await wb.log(principal, "access_log.read", client_of(request))
    return render(request, "access_log.html", rows=rows, params=q,
                  next=urlencode({**keep, "before": rows[-1].seq}) if rows else None)


# -- administration -------------------------------------------------------------------------


@router.get("/admin/users")
async def admin_users(request: Request, principal: Admin, wb: WB) -> Response:
    return render(request, "users.html", users=await wb.accounts.users(), names=await wb.names(),
                  now=wb.now())


@router.post("/admin/users")
async def admin_add_user(request: Request, principal: Admin, wb: WB,
                         username: Annotated[str, Form()] = "",
                         agency: Annotated[str, Form()] = "",
                         role: Annotated[str, Form()] = "",
                         password: Annotated[str, Form()] = "",
                         display_name: Annotated[str, Form()] = "",
                         csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf)
    try:
        chosen = Role(role)
    except ValueError:
        return problem_page(request, 422, "角色无效", "invalid role")
    if not re.fullmatch(USERNAME_PATTERN, username):
        return problem_page(request, 422, "用户名无效（a-z、0-9、. _ -，2–32 位）",
                            "invalid user name (a-z, 0-9, . _ -; 2-32)")
    await actions.add_user(wb, principal, username, agency, chosen, password, display_name,
                           client_of(request))
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users/{username}/disable")
async def admin_disable(username: str, request: Request, principal: Admin, wb: WB,
                        csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf)
    try:
        await wb.accounts.disable(username)
    except AccountError:
        return problem_page(request, 404, f"未知用户 {username}", f"unknown user {username}")
    await wb.log(principal, "user.disable", client_of(request), target=username)
    return RedirectResponse("/admin/users", status_code=303)


__all__ = ["problem_page", "router"]
