"""Logging in (Argon2id, lock-out), bearer tokens and sessions, and the request guards.

Failures are told apart only where telling does not help a guesser: an unknown user and a
wrong password get the same answer (and cost the same Argon2 verification); a locked
account says so, with the time the lock ends, because its owner needs to know.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hub.access import Capability, Principal
from hub.web.security import new_token, token_digest, verify_password
from hub.web.state import Workbench
from hub.web.views import local

SESSION_COOKIE = "lh_session"
LOGIN_CSRF_COOKIE = "lh_login_csrf"


class ApiProblem(Exception):
    """An API error answered as JSON `Problem` (bilingual) with this status."""

    def __init__(self, status: int, error: str, zh: str, en: str) -> None:
        super().__init__(en)
        self.status, self.error, self.message_zh, self.message_en = status, error, zh, en


def unauthorized() -> ApiProblem:
    return ApiProblem(401, "unauthorized", "需要有效的令牌", "a valid bearer token is required")


def forbidden() -> ApiProblem:
    return ApiProblem(403, "forbidden", "您的角色无权进行此操作",
                      "your role may not do this")


def not_found(what_zh: str = "案件", what_en: str = "case") -> ApiProblem:
    return ApiProblem(404, "not_found", f"未找到{what_zh}", f"{what_en} not found")


@dataclass(frozen=True)
class LoginResult:
    principal: Principal | None
    error: str | None = None
    message_zh: str = ""
    message_en: str = ""


def workbench(request: Request) -> Workbench:
    wb: Workbench = request.app.state.workbench
    return wb


def client_of(request: Request) -> str | None:
    return request.client.host if request.client else None


async def login(wb: Workbench, username: str, password: str, client: str | None,
                channel: str) -> LoginResult:
    """Check a password with lock-out; every attempt is written to the access log."""
    user = await wb.accounts.user(username)
    now = wb.now()
    if user is not None and user.locked_until is not None and user.locked_until > now:
        await wb.log(None, "login", client, outcome="locked", username=username,
                     detail={"channel": channel})
        return LoginResult(None, "locked",
                           f"账户已锁定，至 {local(user.locked_until)} 解除",
                           f"account locked until {local(user.locked_until)} (Asia/Shanghai)")
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok:
        locked_until = None
        if user is not None:
            _, locked_until = await wb.accounts.login_failed(
                username, wb.config.lockout_threshold,
                timedelta(minutes=wb.config.lockout_minutes))
        await wb.log(None, "login", client, outcome="failed", username=username,
                     detail={"channel": channel})
        if locked_until is not None and locked_until > now:
            return LoginResult(None, "locked",
                               f"连续失败次数过多，账户已锁定至 {local(locked_until)}",
                               f"too many failures: account locked until {local(locked_until)}"
                               " (Asia/Shanghai)")
        return LoginResult(None, "bad_credentials", "用户名或密码错误",
                           "wrong user name or password")
    if user.disabled_at is not None:
        await wb.log(None, "login", client, outcome="disabled", username=username,
                     detail={"channel": channel})
        return LoginResult(None, "bad_credentials", "用户名或密码错误",
                           "wrong user name or password")
    await wb.accounts.login_succeeded(username)
    await wb.log(user.principal, "login", client, detail={"channel": channel})
    return LoginResult(user.principal)


async def issue(wb: Workbench, principal: Principal, kind: str) -> tuple[str, datetime]:
    """A new random token of `kind` ('api' or 'session'); only its hash is stored."""
    hours = wb.config.token_hours if kind == "api" else wb.config.session_hours
    token = new_token()
    expires_at = wb.now() + timedelta(hours=hours)
    await wb.accounts.issue_token(principal.username, kind, token_digest(token), expires_at)
    return token, expires_at


bearer = HTTPBearer(auto_error=False, description="POST /api/v1/tokens 取得 / from POST /api/v1/tokens")


async def api_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller of an /api/v1/ endpoint, from its bearer token; 401 without a live one."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized()
    principal = await workbench(request).accounts.principal_for(
        token_digest(credentials.credentials), "api")
    if principal is None:
        raise unauthorized()
    request.state.principal = principal
    return principal


def api_needs(capability: Capability) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: the caller, if its role has `capability`; 403 otherwise."""

    async def guard(principal: Annotated[Principal, Depends(api_principal)]) -> Principal:
        if not principal.can(capability):
            raise forbidden()
        return principal

    return guard


class LoginRequired(Exception):
    """A page was asked for without a live session: redirect to the login form."""


class PageForbidden(Exception):
    """A page the user's role may not open (answered with a bilingual 403 page)."""


async def session_of(request: Request) -> tuple[Principal, str] | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    principal = await workbench(request).accounts.principal_for(token_digest(token), "session")
    return (principal, token) if principal else None


async def page_principal(request: Request) -> Principal:
    found = await session_of(request)
    if found is None:
        raise LoginRequired()
    request.state.principal, request.state.session = found
    return found[0]


def page_needs(capability: Capability) -> Callable[[Principal], Awaitable[Principal]]:
    async def guard(principal: Annotated[Principal, Depends(page_principal)]) -> Principal:
        if not principal.can(capability):
            raise PageForbidden()
        return principal

    return guard
