"""The hub's HTTP service on the faust web server: health, Prometheus metrics, ledger.

Ledger endpoints (contract §5 wire forms):

- ``GET /v1/ledger/checkpoint``: the latest signed checkpoint note (text/plain)
- ``GET /v1/ledger/proof/inclusion?event_id=ID`` or ``?index=N``, optional ``&tree_size=S``:
  inclusion proof JSON (against the latest checkpoint, issued on demand if the entry is
  not covered yet, or against the checkpoint of exactly ``tree_size``)
- ``GET /v1/ledger/proof/consistency?first=A&second=B``: consistency proof JSON
- ``GET /v1/ledger/cosignatures[?tree_size=S]``: a checkpoint with its witnesses' lines
- ``POST /v1/ledger/cosignatures`` ``{"tree_size", "vkey", "line"}``: a witness submits its
  cosignature line; it is stored only if it verifies with ``vkey`` over that checkpoint

Errors are JSON ``{"error": reason, "message_zh", "message_en"}``: 400 ``bad_request`` for any
malformed request (integers outside 0..2^63-1, bodies that are not strict JSON objects, too
deep, wrong types); 403 ``unknown_witness`` for a cosignature from a witness the operator
did not configure (audit/checkpointer.py ``LedgerProofs.add_cosignature``); 503 when the
database is unavailable; 500 ``store_error`` without the database's text (it is logged).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.web import View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from audit.checkpointer import LedgerProofs
from audit.errors import LedgerError, VerificationError
from audit.note_keys import CosignatureVerifier, parse_vkey
from hub.adapters.postgres import StoreError, StoreUnavailable, translated_errors
from schemas.reasons import bounded_text
from schemas.strict_json import StrictJsonError, index_value, load_object

log = logging.getLogger(__name__)

LedgerGetter = Callable[[], Awaitable[LedgerProofs]]

_NOT_FOUND = {"unknown_entry", "no_checkpoint", "not_covered"}


def register_views(app: faust.App, state: dict[str, Any],
                   ledger: LedgerGetter | None = None) -> None:
    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok", "pool": "pool" in state})

    @app.page("/metrics")
    async def metrics_view(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    if ledger is not None:
        _ledger_views(app, ledger)


def _error(web: Any, status: int, reason: str, zh: str, en: str) -> Any:
    return web.json({"error": reason, "message_zh": zh, "message_en": en}, status=status)


async def _answer(web: Any, handler: Callable[[], Awaitable[Any]]) -> Any:
    """Run a ledger handler, mapping the hub's errors to HTTP statuses."""
    try:
        async with translated_errors():
            return await handler()
    except LedgerError as exc:
        status = (404 if exc.reason in _NOT_FOUND else 403 if exc.reason == "unknown_witness"
                  else 422 if isinstance(exc, VerificationError) else 409)
        return _error(web, status, exc.reason, exc.message_zh, exc.message_en)
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        shown = bounded_text(str(exc) or type(exc).__name__, 200)
        return _error(web, 400, "bad_request", f"请求无效：{shown}", f"bad request: {shown}")
    except StoreUnavailable:
        return _error(web, 503, "unavailable", "数据库暂不可用", "database unavailable")
    except StoreError as exc:
        log.error("HTTP request refused by the database: %s", exc)
        return _error(web, 500, "store_error", "数据库拒绝操作", "database refused the operation")


def _int(request: Any, name: str) -> int | None:
    value = request.query.get(name)
    return index_value(value, name) if value is not None else None


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


def _ledger_views(app: faust.App, ledger: LedgerGetter) -> None:
    @app.page("/v1/ledger/checkpoint")
    async def checkpoint_view(web: Any, request: Any) -> Any:
        async def run() -> Any:
            stored = await (await ledger()).latest()
            if stored is None:
                return _error(web, 404, "no_checkpoint", "尚无检查点", "no checkpoint yet")
            return web.text(stored.note, content_type="text/plain")

        return await _answer(web, run)

    @app.page("/v1/ledger/proof/inclusion")
    async def inclusion_view(web: Any, request: Any) -> Any:
        async def run() -> Any:
            proof = await (await ledger()).inclusion(
                event_id=request.query.get("event_id"), index=_int(request, "index"),
                tree_size=_int(request, "tree_size"))
            return web.json(proof.model_dump(mode="json"))

        return await _answer(web, run)

    @app.page("/v1/ledger/proof/consistency")
    async def consistency_view(web: Any, request: Any) -> Any:
        async def run() -> Any:
            first, second = _int(request, "first"), _int(request, "second")
            if first is None or second is None:
                raise ValueError("first and second are required")
            proof = await (await ledger()).consistency(first, second)
            return web.json(proof.model_dump(mode="json"))

        return await _answer(web, run)

    @app.page("/v1/ledger/cosignatures")
    class CosignaturesView(View):
        async def get(self, request: Any) -> Any:
            async def run() -> Any:
                stored, cosignatures = await (await ledger()).cosigned(_int(request, "tree_size"))
                return self.json({
                    "tree_size": stored.tree_size,
                    "checkpoint": stored.note + "".join(c.line for c in cosignatures),
                    "cosignatures": [c.summary() for c in cosignatures],
                })

            return await _answer(self, run)

        async def post(self, request: Any) -> Any:
            async def run() -> Any:
                try:
                    body = load_object(await request.read())
                except StrictJsonError as exc:
                    raise ValueError(f"body is not a strict JSON object: {exc}") from None
                witness = parse_vkey(_text(body, "vkey"))
                if not isinstance(witness, CosignatureVerifier):
                    raise ValueError("vkey is not a tlog-cosignature/v1 (type 0x04) key")
                stored = await (await ledger()).add_cosignature(
                    index_value(body.get("tree_size"), "tree_size"), _text(body, "line"),
                    witness)
                return self.json({"stored": stored}, status=201 if stored else 200)

            return await _answer(self, run)
