"""The hub's public HTTP endpoints, unchanged in path and JSON (docs/ledger.md): health,
Prometheus metrics, and the ledger's checkpoint, proofs and cosignatures. No token needed:
proofs carry no party data and a witness signs what it checks."""

from __future__ import annotations

from typing import Annotated, Any

import aiohttp
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from audit.errors import LedgerError, VerificationError
from audit.note_keys import CosignatureVerifier, parse_vkey
from hub.adapters.postgres import StoreError, StoreUnavailable
from hub.web.auth import workbench
from hub.web.models import MAX_INDEX, Problem
from hub.web.state import Workbench

router = APIRouter()
WB = Annotated[Workbench, Depends(workbench)]

REGISTRY = CollectorRegistry(auto_describe=True)
HTTP_REQUESTS = Counter("linkage_web_requests_total",
                        "工作台 HTTP 请求 / workbench HTTP requests by status class",
                        ["status"], registry=REGISTRY)
LOGINS = Counter("linkage_web_logins_total", "登录尝试 / login attempts by outcome",
                 ["outcome"], registry=REGISTRY)

_NOT_FOUND = {"unknown_entry", "no_checkpoint", "not_covered"}
LEDGER_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem}, 404: {"model": Problem}, 409: {"model": Problem},
    422: {"model": Problem}, 503: {"model": Problem}}


def _error(status: int, reason: str, zh: str, en: str) -> JSONResponse:
    return JSONResponse({"error": reason, "message_zh": zh, "message_en": en}, status_code=status)


def ledger_error(exc: Exception) -> JSONResponse:
    """The hub's errors as the faust endpoints answered them (hub/http.py)."""
    if isinstance(exc, LedgerError):
        status = (404 if exc.reason in _NOT_FOUND
                  else 422 if isinstance(exc, VerificationError) else 409)
        return _error(status, exc.reason, exc.message_zh, exc.message_en)
    if isinstance(exc, StoreUnavailable):
        return _error(503, "unavailable", "数据库暂不可用", f"database unavailable: {exc}")
    if isinstance(exc, StoreError):
        return _error(500, "store_error", "数据库拒绝操作", f"database refused: {exc}")
    return _error(400, "bad_request", f"请求无效：{exc}", f"bad request: {exc}")


LEDGER_FAILURES = (LedgerError, StoreUnavailable, StoreError, ValueError, KeyError, TypeError)


@router.get("/healthz", tags=["public"])
async def healthz(wb: WB) -> dict[str, Any]:
    """健康检查 / liveness and database reachability."""
    if await wb.store.ping():
        return {"status": "ok", "pool": True}
    return {"status": "degraded", "pool": False}


@router.get("/metrics", tags=["public"], response_class=PlainTextResponse)
async def metrics(wb: WB) -> Response:
    """Prometheus：工作台自身指标加上工作进程的指标 / the workbench's and the worker's metrics."""
    body = generate_latest(REGISTRY)
    if wb.config.worker_metrics_url:
        try:
            timeout = aiohttp.ClientTimeout(total=2)
            async with aiohttp.ClientSession(timeout=timeout) as http, \
                    http.get(wb.config.worker_metrics_url) as answer:
                if answer.status == 200:
                    body = await answer.read() + body
        except (aiohttp.ClientError, TimeoutError, OSError):
            body += b"# worker metrics unavailable\n"
    return Response(body, media_type=CONTENT_TYPE_LATEST.split(";")[0])


@router.get("/v1/ledger/checkpoint", tags=["public"], response_class=PlainTextResponse,
            responses=LEDGER_ERRORS)
async def checkpoint(wb: WB) -> Response:
    """最新的已签名检查点（C2SP 签名注记）/ the latest signed checkpoint note."""
    try:
        stored = await wb.ledger.latest()
    except LEDGER_FAILURES as exc:
        return ledger_error(exc)
    if stored is None:
        return _error(404, "no_checkpoint", "尚无检查点", "no checkpoint yet")
    return PlainTextResponse(stored.note)


@router.get("/v1/ledger/proof/inclusion", tags=["public"], responses=LEDGER_ERRORS)
async def inclusion_proof(
    wb: WB, event_id: str | None = None,
    index: Annotated[int | None, Query(ge=0, le=MAX_INDEX)] = None,
    tree_size: Annotated[int | None, Query(ge=0, le=MAX_INDEX)] = None,
) -> Any:
    """包含证明（RFC 9162，合同第 5 节）/ inclusion proof JSON (contract section 5)."""
    try:
        proof = await wb.ledger.inclusion(event_id=event_id, index=index, tree_size=tree_size)
    except LEDGER_FAILURES as exc:
        return ledger_error(exc)
    return JSONResponse(proof.model_dump(mode="json"))


@router.get("/v1/ledger/proof/consistency", tags=["public"], responses=LEDGER_ERRORS)
async def consistency_proof(
    wb: WB, first: Annotated[int | None, Query(ge=0, le=MAX_INDEX)] = None,
    second: Annotated[int | None, Query(ge=0, le=MAX_INDEX)] = None,
) -> Any:
    """一致性证明 / consistency proof JSON between two tree sizes."""
    try:
        if first is None or second is None:
            raise ValueError("first and second are required")
        proof = await wb.ledger.consistency(first, second)
    except LEDGER_FAILURES as exc:
        return ledger_error(exc)
    return JSONResponse(proof.model_dump(mode="json"))


@router.get("/v1/ledger/cosignatures", tags=["public"], responses=LEDGER_ERRORS)
async def cosignatures(wb: WB, tree_size: Annotated[int | None, Query(ge=0, le=MAX_INDEX)] = None) -> Any:
    """检查点及其见证联署 / a checkpoint with its witnesses' cosignature lines."""
    try:
        stored, found = await wb.ledger.cosigned(tree_size)
    except LEDGER_FAILURES as exc:
        return ledger_error(exc)
    return JSONResponse({"tree_size": stored.tree_size,
                         "checkpoint": stored.note + "".join(c.line for c in found),
                         "cosignatures": [c.summary() for c in found]})


@router.post("/v1/ledger/cosignatures", tags=["public"], responses=LEDGER_ERRORS)
async def add_cosignature(request: Request, wb: WB) -> Any:
    """见证提交联署 / a witness submits its cosignature line ({tree_size, vkey, line})."""
    try:
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        witness = parse_vkey(str(body["vkey"]))
        if not isinstance(witness, CosignatureVerifier):
            raise ValueError("vkey is not a tlog-cosignature/v1 (type 0x04) key")
        stored = await wb.ledger.add_cosignature(int(body["tree_size"]), str(body["line"]),
                                                 witness)
    except LEDGER_FAILURES as exc:
        return ledger_error(exc)
    return JSONResponse({"stored": stored}, status_code=201 if stored else 200)
