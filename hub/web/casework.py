"""Officers' case work pages (issue 11): 网上移送、网上受理 for agencies without a case system.

An officer opens a case and records each step of it as the event its agency would send:
every form is derived from the event's model (hub/web/forms.py) and, once valid, signed with
the agency's key held encrypted by the hub and sent through the connector's outbox (the very
path of the supervisor's `supervision.issued`, hub/web/supervision.py); the page then shows
the hub's receipt. The form carries its event id from the moment it is shown, so a double
submit sends one event (the outbox keeps one entry per id; the hub ledgers an id once).
Transfers carry documents (hub/web/documents.py): checked, stored content-addressed, their
SHA-256 bound into `case.transferred`; a receiving officer downloads them, re-hashed, and
each download is access-logged. The inbox lists events addressed to the agency, unread first.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup, escape
from starlette.datastructures import FormData, UploadFile

from hub.access import Capability, Principal
from hub.adapters.casework_store import PostgresCasework
from hub.web.auth import client_of, page_needs, workbench
from hub.web.documents import (
    DocumentRefused,
    DocumentTampered,
    FolderStore,
    check_upload,
    sniff,
)
from hub.web.forms import Errors, fields_of, parse
from hub.web.pages import check_csrf, problem_page, render, templates
from hub.web.state import Workbench
from schemas.events import EVENT_TYPES, Role
from streams.rules.engine import pending_deadlines

WB = Annotated[Workbench, Depends(workbench)]
Officer = Annotated[Principal, Depends(page_needs(Capability.WORK_CASES))]

DOCUMENT_KINDS: dict[str, tuple[str, str]] = {
    "transfer_letter": ("移送书", "transfer letter"),
    "investigation_report": ("涉嫌犯罪案件情况的调查报告", "investigation report"),
    "seized_items_list": ("涉案物品清单", "list of seized items"),
    "inspection_report": ("检验报告或鉴定意见", "inspection report"),
    "other": ("其他材料", "other"),
}
NOT_FROM_FORMS = {"supervision.issued", "prosecution.decided", "opinion.issued"}
"""Sent by a procuratorate's own desk, not from an agency officer's case-work forms."""

router = APIRouter(prefix="/work", include_in_schema=False)
_submitting = asyncio.Lock()


def spec_title(type_name: str) -> Markup:
    spec = EVENT_TYPES.get(type_name)
    if spec is None:
        return Markup(escape(type_name))
    return Markup(f"{escape(spec.title_zh)} <small>{escape(spec.title_en)}</small>")


def time_left(due: datetime, now: datetime) -> str:
    """剩余 / left (or 已逾期 / overdue), in days and hours."""
    seconds = (due - now).total_seconds()
    days, rest = divmod(int(abs(seconds)) // 3600, 24)
    text = f"{days} 天 {rest} 小时 / {days} d {rest} h"
    return f"剩余 {text} left" if seconds >= 0 else f"已逾期 {text} overdue"


templates.env.globals.update(spec_title=spec_title, time_left=time_left)


def documents_of(request: Request) -> FolderStore:
    store: FolderStore = request.app.state.documents
    return store


def casework_of(request: Request) -> PostgresCasework:
    store: PostgresCasework = request.app.state.casework
    return store


async def agency_role(wb: Workbench, agency_id: str) -> Role | None:
    role = (await wb.names()).agencies.get(agency_id, ("", "", ""))[2]
    return Role(role) if role in {r.value for r in Role} else None


async def allowed_types(wb: Workbench, principal: Principal) -> list[str]:
    role = await agency_role(wb, principal.agency_id)
    return [name for name, spec in EVENT_TYPES.items()
            if role in spec.roles and name not in NOT_FROM_FORMS]


async def _visible(wb: Workbench, principal: Principal, case_id: str) -> Any:
    await wb.store.refresh_scope()
    return await wb.store.case(principal.scope, case_id, timeline_limit=0)


@router.get("")
async def desk(request: Request, principal: Officer, wb: WB) -> Response:
    """The officer's desk: open a case, go to a case, and the agency's inbox."""
    await wb.store.refresh_scope()
    items = await casework_of(request).inbox(principal.scope, principal.agency_id)
    now = wb.now()
    rows = []
    for item in items[:100]:
        due = None
        if not item.read or item.type_name == "case.transferred":
            record = await wb.store.case(principal.scope, item.case_id, timeline_limit=0)
            if record is not None and record.state is not None:
                pending = pending_deadlines(record.state, wb.rules, now)
                due = pending[0].due.at if pending else None
                if item.type_name == "case.transferred" and (record.state.acceptances
                                                             or record.state.forwards):
                    due = None
        rows.append((item, due))
    return render(request, "work_desk.html", rows=rows, names=await wb.names(), now=now,
                  types=await allowed_types(wb, principal))


@router.get("/go")
async def go(principal: Officer, case_id: str = "") -> Response:
    return RedirectResponse(f"/work/cases/{quote(case_id.strip(), safe='')}", status_code=303)


@router.post("/inbox/{event_id}")
async def open_item(event_id: uuid.UUID, request: Request, principal: Officer,
                    wb: WB) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get("csrf", "")))
    case_id = str(form.get("case_id", ""))
    await casework_of(request).mark_read(principal.agency_id, str(event_id), principal.username)
    return RedirectResponse(f"/work/cases/{quote(case_id, safe='')}", status_code=303)


@router.get("/cases/{case_id}")
async def case_work(case_id: str, request: Request, principal: Officer, wb: WB) -> Response:
    record = await _visible(wb, principal, case_id)
    if record is None:
        return problem_page(request, 404, "案件不存在或不在权限范围内", "no such case in your scope")
    transfers = await casework_of(request).events(principal.scope, case_id,
                                                  ("case.transferred",))
    documents = [(event, doc) for _, event in transfers for doc in event.data.get("documents", [])]
    return render(request, "work_case.html", case_id=case_id, record=record,
                  documents=documents, kinds=DOCUMENT_KINDS, names=await wb.names(),
                  types=await allowed_types(wb, principal))


def _form_page(request: Request, wb_names: Any, type_name: str, case_id: str | None,
               values: dict[str, str], errors: Errors, event_id: str, status: int = 200
               ) -> Response:
    return render(request, "work_form.html", status=status, type_name=type_name,
                  spec=EVENT_TYPES[type_name], fields=fields_of(type_name), case_id=case_id,
                  values=values, errors=errors, event_id=event_id, names=wb_names,
                  kinds=DOCUMENT_KINDS)


async def _refusal(request: Request, wb: Workbench, principal: Principal, type_name: str,
                   case_id: str | None) -> Response | None:
    """Why this officer may not record this event on this case (None: it may)."""
    if type_name not in await allowed_types(wb, principal):
        return problem_page(request, 404, "本机关不能发送此类事件", "not an event your agency sends")
    if case_id is not None and await _visible(wb, principal, case_id) is None:
        return problem_page(request, 404, "案件不存在或不在权限范围内", "no such case in your scope")
    return None


@router.get("/open")
async def open_form(request: Request, principal: Officer, wb: WB) -> Response:
    return await _refusal(request, wb, principal, "case.opened", None) or _form_page(
        request, await wb.names(), "case.opened", None, {}, {}, str(uuid.uuid4()))


@router.get("/cases/{case_id}/events/{type_name}")
async def event_form(case_id: str, type_name: str, request: Request, principal: Officer,
                     wb: WB) -> Response:
    return await _refusal(request, wb, principal, type_name, case_id) or _form_page(
        request, await wb.names(), type_name, case_id, {}, {}, str(uuid.uuid4()))


async def _uploads(form: FormData, limit: int) -> tuple[list[tuple[str, str, bytes]], Errors]:
    """(kind, title, content) of every uploaded document, checked; errors by field."""
    found: list[tuple[str, str, bytes]] = []
    errors: Errors = {}
    for kind, (zh, _) in DOCUMENT_KINDS.items():
        upload = form.get(f"doc_{kind}")
        if not isinstance(upload, UploadFile) or not upload.filename:
            continue
        content = await upload.read(limit + 1)
        try:
            check_upload(content, limit)
        except DocumentRefused as refused:
            errors[f"doc_{kind}"] = (refused.zh, refused.en)
            continue
        found.append((kind, f"{zh}（{Path(upload.filename).name}）", content))
    return found, errors


async def _submit(request: Request, principal: Principal, wb: Workbench, type_name: str,
                  case_id: str | None) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get("csrf", "")))
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    names = await wb.names()
    try:
        event_id = str(uuid.UUID(values.get("event_id", "")))
    except ValueError:
        return problem_page(request, 400, "表单缺少事件编号", "the form lacks its event id")
    errors: Errors = {}
    if case_id is None:
        case_id = values.get("case_id", "").strip()
        if not case_id or "\x00" in case_id or len(case_id) > 200:
            errors["case_id"] = ("必填，至多 200 个字符", "required, at most 200 characters")
    store = documents_of(request)
    uploads, upload_errors = ([], {}) if type_name != "case.transferred" else \
        await _uploads(form, store.limit)
    errors.update(upload_errors)
    placeholders = [{"kind": k, "title": t, "sha256": "0" * 64} for k, t, _ in uploads]
    data, field_errors = parse(type_name, values, placeholders)
    errors.update(field_errors)
    if "to_agency" in data and data["to_agency"] not in names.agencies:
        errors["to_agency"] = ("未登记的机关", "no such agency")
    if errors:
        return _form_page(request, names, type_name, case_id, values, errors, event_id, 422)
    if not wb.desk.available:
        return problem_page(request, 503, "未连接 Kafka，无法发送", "no Kafka broker to send to")
    if uploads:  # every check passed: only now is anything stored
        data["documents"] = [{"kind": k, "title": t, "sha256": store.put(c).sha256}
                             for k, t, c in uploads]
    async with _submitting:  # one event per form: a second submit finds the first's entry
        connector = await wb.desk.connector(principal.agency_id)
        if connector.outbox.get(event_id) is None:
            connector.enqueue(type_name, case_id, data, event_id=event_id)
            await wb.log(principal, "event.send", client_of(request), target=case_id,
                         detail={"event_id": event_id, "type": type_name})
    await wb.desk.wait(principal.agency_id, event_id, 10.0)
    return RedirectResponse(f"/work/receipts/{event_id}", status_code=303)


@router.post("/open")
async def open_submit(request: Request, principal: Officer, wb: WB) -> Response:
    return await _refusal(request, wb, principal, "case.opened", None) or await _submit(
        request, principal, wb, "case.opened", None)


@router.post("/cases/{case_id}/events/{type_name}")
async def event_submit(case_id: str, type_name: str, request: Request, principal: Officer,
                       wb: WB) -> Response:
    return await _refusal(request, wb, principal, type_name, case_id) or await _submit(
        request, principal, wb, type_name, case_id)


@router.get("/receipts/{event_id}")
async def receipt(event_id: uuid.UUID, request: Request, principal: Officer,
                  wb: WB) -> Response:
    entry = await wb.desk.entry(principal.agency_id, str(event_id)) \
        if wb.desk.available else None
    if entry is None:
        return problem_page(request, 404, "未找到该事件", "no such event of your agency")
    return render(request, "work_receipt.html", entry=entry,
                  spec=EVENT_TYPES.get(entry.event_type))


@router.get("/cases/{case_id}/documents/{sha256}")
async def download(case_id: str, sha256: str, request: Request, principal: Officer,
                   wb: WB) -> Response:
    """A document bound into one of the case's transfers, checked against its hash."""
    await wb.store.refresh_scope()
    transfers = await casework_of(request).events(principal.scope, case_id,
                                                  ("case.transferred",))
    listed = [d for _, e in transfers for d in e.data.get("documents", [])
              if d.get("sha256") == sha256]
    client = client_of(request)
    if not listed:
        await wb.log(principal, "document.download", client, target=f"{case_id}/{sha256}",
                     outcome="not_found")
        return problem_page(request, 404, "该案件没有此文件", "no such document in this case")
    try:
        content = documents_of(request).get(sha256)
    except DocumentTampered:
        await wb.log(principal, "document.download", client, target=f"{case_id}/{sha256}",
                     outcome="tampered")
        return problem_page(request, 409, "文件与移送时登记的哈希不符，可能已被篡改，未提供下载",
                            "the stored file does not match the hash bound into the transfer; "
                            "it may have been tampered with and is not served")
    if content is None:
        await wb.log(principal, "document.download", client, target=f"{case_id}/{sha256}",
                     outcome="missing")
        return problem_page(request, 404, "文件未存放在本枢纽", "the file is not stored on this hub")
    await wb.log(principal, "document.download", client, target=f"{case_id}/{sha256}")
    media = sniff(content) or "application/octet-stream"
    extension = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg",
                 "image/tiff": "tif"}.get(media, "bin")
    return Response(content, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{sha256[:16]}.{extension}"',
        "X-Content-SHA256": sha256})
