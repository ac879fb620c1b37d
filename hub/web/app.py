"""The workbench's FastAPI app: pages at /, the JSON API at /api/v1/, /openapi.json, and the
hub's public endpoints (/healthz, /metrics, /v1/ledger/...) on one origin (contract section 7).

`linkage-hub web` serves it with uvicorn on LINKAGE_HTTP_PORT; `linkage-hub up` starts and
supervises that process beside the worker (docs/workbench.md says why a separate process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from hub.adapters.accounts_store import PostgresAccounts
from hub.adapters.postgres import StoreUnavailable, create_pool, migrate
from hub.adapters.registry_store import PostgresRegistry, RegistryError
from hub.adapters.workbench_store import PostgresWorkbench
from hub.settings import Settings
from hub.web import api, pages, public
from hub.web.auth import ApiProblem, LoginRequired, PageForbidden
from hub.web.state import WebConfig, Workbench
from hub.web.supervision import KeyVault, SupervisionDesk, master_secret
from hub.wiring import open_ledger
from streams.rules_runner import startup_rules

log = logging.getLogger(__name__)

HERE = Path(__file__).parent


def vendor_dir() -> Path:
    """Front-end packages installed from the npm registry by `make setup` (never in git)."""
    return Path(os.environ.get("LINKAGE_WEB_VENDOR", HERE / "node_modules"))


async def _scope_refresher(wb: Workbench) -> None:
    """Keep case_scope close behind the ledger (requests also refresh before reading)."""
    while True:
        try:
            await wb.store.refresh_scope()
        except StoreUnavailable as exc:
            log.warning("权限范围暂未更新 / scope not refreshed yet: %s", exc)
        except Exception:  # a bug: log it, try again at the next round
            log.exception("scope refresh failed")
        await asyncio.sleep(1.0)


def _bad_text(value: Any) -> bool:
    if isinstance(value, str):
        if "\x00" in value:
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_bad_text(k) or _bad_text(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_bad_text(v) for v in value)
    return False


async def unstorable(request: Request) -> bool:
    """True if the path, query or (JSON or form) body holds NUL or a lone surrogate."""
    if "\x00" in request.url.path or "%00" in request.url.query \
            or _bad_text(dict(request.query_params)):
        return True
    if request.method in ("POST", "PUT", "PATCH"):
        body = await request.body()
        if request.headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded") and (b"\x00" in body or b"%00" in body):
            return True
        # JSON bodies are checked by their models (patterns), so that schema-valid data
        # is never refused here; the one free-text body field, a password, is only hashed.
    return False


def create_app(settings: Settings, config: WebConfig | None = None) -> FastAPI:
    config = config or WebConfig.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        dsn = settings.require_database()
        await migrate(dsn)
        pool = await create_pool(dsn, max_size=10)
        owner = await create_pool(dsn, max_size=1, restricted=False)

        async def register(agency_id: str, pem: str) -> None:
            """Register the workbench's key of a procuratorate (once; an agency change)."""
            try:
                keyid = await PostgresRegistry(owner).add_key(agency_id, pem)
            except RegistryError:
                return  # already registered: the key file and the registry agree
            await PostgresAccounts(pool).log(None, "agency.add_key", target=agency_id,
                                             client="workbench", username="workbench",
                                             detail={"keyid": keyid, "held_by": "workbench"})

        desk = SupervisionDesk(settings, KeyVault(settings.keys_dir / "workbench",
                                                  master_secret(settings)),
                               register, settings.kafka)
        wb = Workbench(settings=settings, config=config,
                       accounts=PostgresAccounts(pool), store=PostgresWorkbench(pool),
                       ledger=open_ledger(pool, settings), rules=startup_rules(), desk=desk)
        app.state.workbench = wb
        refresher = asyncio.create_task(_scope_refresher(wb), name="scope-refresher")
        try:
            yield
        finally:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
            await desk.stop()
            await owner.close()
            await pool.close()

    app = FastAPI(
        title="linkage-hub 两法衔接工作台 / workbench API",
        version="1.1",
        description="合同第 7 节 / contract section 7: pages at /, JSON API under /api/v1/.",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's Swagger page loads its scripts from a CDN: not on an intranet
        redoc_url=None,
    )
    app.include_router(public.router)
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    vendor = vendor_dir()
    if vendor.is_dir():
        app.mount("/vendor", StaticFiles(directory=vendor), name="vendor")

    @app.middleware("http")
    async def refuse_unstorable_text(request: Request,
                                     call_next: Callable[[Request], Awaitable[Response]]
                                     ) -> Response:
        """NUL characters and lone surrogates cannot be stored in PostgreSQL text: such a
        request is a 400 at the edge, not a database error later (found by schemathesis)."""
        if await unstorable(request):
            return JSONResponse({"error": "bad_request",
                                 "message_zh": "请求含有无法存储的字符（NUL 或无效的 Unicode）",
                                 "message_en": "the request holds characters that cannot be "
                                               "stored (NUL or invalid Unicode)"},
                                status_code=400)
        return await call_next(request)

    @app.middleware("http")
    async def count_and_protect(request: Request,
                                call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        public.HTTP_REQUESTS.labels(f"{response.status_code // 100}xx").inc()
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(ApiProblem)
    async def api_problem(request: Request, exc: ApiProblem) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if not request.url.path.startswith("/api/"):
            return pages.problem_page(request, exc.status, exc.message_zh, exc.message_en)
        return JSONResponse({"error": exc.error, "message_zh": exc.message_zh,
                             "message_en": exc.message_en}, status_code=exc.status,
                            headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        detail = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))}
                  for e in exc.errors()]
        if not request.url.path.startswith(("/api/", "/v1/")):
            return pages.problem_page(request, 422, "请求参数无效", "invalid request parameters")
        return JSONResponse({"error": "invalid_request", "message_zh": "请求参数无效",
                             "message_en": "invalid request parameters", "detail": detail},
                            status_code=422)

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(PageForbidden)
    async def page_forbidden(request: Request, exc: PageForbidden) -> Response:
        return pages.problem_page(request, 403, "您的角色无权打开此页", "your role may not open this page")

    def openapi() -> dict[str, Any]:
        """FastAPI's schema, with validation errors described as the `Problem` they are."""
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version,
                             description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["ValidationProblem"] = {
            "type": "object", "required": ["error", "message_zh", "message_en"],
            "properties": {"error": {"type": "string"}, "message_zh": {"type": "string"},
                           "message_en": {"type": "string"},
                           "detail": {"type": "array", "items": {"type": "object"}}}}
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                answer = operation.get("responses", {}).get("422")
                if answer is not None:
                    answer["content"] = {"application/json": {
                        "schema": {"$ref": "#/components/schemas/ValidationProblem"}}}
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
