"""The hub's public HTTP endpoints, unchanged in path and JSON (docs/ledger.md): health,
Prometheus metrics, and the ledger's checkpoint, proofs and cosignatures. No token needed:
proofs carry no party data and a witness signs what it checks."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import aiohttp
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from audit.errors import LedgerError, VerificationError
from audit.note_keys import CosignatureVerifier, parse_vkey
from hub.adapters.postgres import StoreError, StoreUnavailable, translated_errors
from hub.web.auth import workbench
from hub.web.models import Problem
from hub.web.state import Workbench
from schemas.reasons import bounded_text
from schemas.strict_json import StrictJsonError, index_value, load_object

log = logging.getLogger(__name__)
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
    400: {"model": Problem}, 403: {"model": Problem}, 404: {"model": Problem},
    409: {"model": Problem}, 422: {"model": Problem}, 500: {"model": Problem},
    503: {"model": Problem}}
# Query parameters are read as text and checked by `index_value`, exactly as hub/http.py
# does, so both servers answer a bad value with the same 400 (not FastAPI's 422).
Index = Annotated[str | None, Query(max_length=40, pattern=r"^[^\x00]*$")]


def _error(status: int, reason: str, zh: str, en: str) -> JSONResponse:
    return JSONResponse({"error": reason, "message_zh": zh, "message_en": en}, status_code=status)


def ledger_error(exc: Exception) -> JSONResponse:
    """The hub's errors as the worker's endpoints answer them (hub/http.py `_answer`)."""
    if isinstance(exc, LedgerError):
        status = (404 if exc.reason in _NOT_FOUND else 403 if exc.reason == "unknown_witness"
                  else 422 if isinstance(exc, VerificationError) else 409)
        return _error(status, exc.reason, exc.message_zh, exc.message_en)
    if isinstance(exc, StoreUnavailable):
        return _error(503, "unavailable", "数据库暂不可用", "database unavailable")
    if isinstance(exc, StoreError):
        log.error("HTTP request refused by the database: %s", exc)
        return _error(500, "store_error", "数据库拒绝操作", "database refused the operation")
    shown = bounded_text(str(exc) or type(exc).__name__, 200)
    return _error(400, "bad_request", f"请求无效：{shown}", f"bad request: {shown}")


LEDGER_FAILURES = (LedgerError, StoreUnavailable, StoreError, ValueError, KeyError, TypeError,
                   RecursionError)


def _int(value: str | None, name: str) -> int | None:
    return index_value(value, name) if value is not None else None


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


@router.get("/healthz", tags=["public"])
async def healthz(wb: WB) -> dict[str, Any]:
    """健康检查 / liveness and database reachability."""
    if await wb.store.ping():
        return {"status": "ok", "pool": True}
    return {"status": "degraded", "pool": False}


@router.get("/metrics", tags=["public"], response_class=PlainTextResponse)
async def metrics(wb: WB) -> Response:
    """Prometheus：工作台自身指标加上工作进程的指标 / the workbench's and the workers' metrics."""
    body = generate_latest(REGISTRY)
    # One URL per worker process, separated by spaces (`up`: ingress, then rules).
    for url in (wb.config.worker_metrics_url or "").split():
        try:
            timeout = aiohttp.ClientTimeout(total=2)
            async with aiohttp.ClientSession(timeout=timeout) as http, http.get(url) as answer:
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
        async with translated_errors():
            stored = await wb.ledger.latest()
    except LEDGER_FAILURES as exc:
        return ledger_error(exc)
    if stored is None:
        return _error(404, "no_checkpoint", "尚无检查点", "no checkpoint yet")
    return PlainTextResponse(stored.note)


@router.get("/v1/ledger/proof/inclusion", tags=["public"], responses=LEDGER_ERRORS)
async def inclusion_proof(wb: WB, event_id: Index = None, index: Index = None,
                          tree_size: Index = None) -> Any:
    """包含证明（RFC 9162，合同第 5 节）/ inclusion proof JSON (contract section 5)."""
    try:
        async with translated_errors():
            proof = await wb.ledger.inclusion(event_id=event_id, index=_int(index, "index"),
                                              tree_size=_int(tree_size, "tree_size"))
    except LEDGER_FAILURES as exc:
        return ledger_error(exc)
    return JSONResponse(proof.model_dump(mode="json"))


@router.get("/v1/ledger/proof/consistency", tags=["public"], responses=LEDGER_ERRORS)
async def consistency_proof(wb: WB, first: Index = None, second: Index = None) -> Any:
    """一致性证明 / consistency proof JSON between two tree sizes."""
    try:
        a, b = _int(first, "first"), _int(second, "second")
        if a is None or b is None:
            raise ValueError("first and second are required")
        async with translated_errors():
            proof = await wb.ledger.consistency(a, b)
    except LEDGER_FAILURES as exc:
        return ledger_error(exc)
    return JSONResponse(proof.model_dump(mode="json"))


@router.get("/v1/ledger/cosignatures", tags=["public"], responses=LEDGER_ERRORS)
async def cosignatures(wb: WB, tree_size: Index = None) -> Any:
    """检查点及其见证联署 / a checkpoint with its witnesses' cosignature lines."""
    try:
        async with translated_errors():
            stored, found = await wb.ledger.cosigned(_int(tree_size, "tree_size"))
    except LEDGER_FAILURES as exc:
        return ledger_error(exc)
    return JSONResponse({"tree_size": stored.tree_size,
                         "checkpoint": stored.note + "".join(c.line for c in found),
                         "cosignatures": [c.summary() for c in found]})


@router.post("/v1/ledger/cosignatures", tags=["public"], responses=LEDGER_ERRORS)
async def add_cosignature(request: Request, wb: WB) -> Any:
    """见证提交联署 / a witness submits its cosignature line ({tree_size, vkey, line})."""
    try:
        try:
            body = load_object(await request.body())
        except StrictJsonError as exc:
            raise ValueError(f"body is not a strict JSON object: {exc}") from None
        witness = parse_vkey(_text(body, "vkey"))
        if not isinstance(witness, CosignatureVerifier):
            raise ValueError("vkey is not a tlog-cosignature/v1 (type 0x04) key")
        async with translated_errors():
            stored = await wb.ledger.add_cosignature(
                index_value(body.get("tree_size"), "tree_size"), _text(body, "line"), witness)
    except LEDGER_FAILURES as exc:
        return ledger_error(exc)
    return JSONResponse({"stored": stored}, status_code=201 if stored else 200)
