"""PostgresAccounts: users, bearer tokens and sessions (stored hashed), the access log.

SQL only; the policy (lock-out threshold, token lifetimes, who may do what) is decided by
hub/web. Every asyncpg error leaves this module as the hub's StoreError / StoreUnavailable
(hub/db.py `translated_errors`). The tables and their reasons are in hub/sql/accounts.sql.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from hub.access import Principal, Role
from hub.adapters.postgres import StoreError, translated_errors


class AccountError(Exception):
    """A user operation the data forbids (unknown agency, duplicate name, unknown user)."""


@dataclass(frozen=True)
class UserRow:
    username: str
    agency_id: str
    role: Role
    display_name: str
    password_hash: str
    failed_logins: int
    locked_until: datetime | None
    disabled_at: datetime | None
    created_at: datetime

    @property
    def principal(self) -> Principal:
        return Principal(self.username, self.role, self.agency_id)


@dataclass(frozen=True)
class AccessEntry:
    seq: int
    at: datetime
    username: str | None
    role: str | None
    agency_id: str | None
    action: str
    target: str | None
    client: str | None
    outcome: str
    detail: dict[str, Any]


def _user(row: asyncpg.Record) -> UserRow:
    return UserRow(row["username"], row["agency_id"], Role(row["role"]), row["display_name"],
                   row["password_hash"], row["failed_logins"], row["locked_until"],
                   row["disabled_at"], row["created_at"])


_USER_COLUMNS = ("username, agency_id, role, display_name, password_hash, failed_logins,"
                 " locked_until, disabled_at, created_at")


class PostgresAccounts:
    """SQL for users, tokens and the access log."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    # -- users ----------------------------------------------------------------------------

    async def add_user(self, username: str, agency_id: str, role: Role, password_hash: str,
                       display_name: str = "") -> None:
        try:
            async with translated_errors(), self._pool.acquire() as conn:
                await conn.execute(
                    "INSERT INTO users (username, agency_id, role, password_hash, display_name)"
                    " VALUES ($1, $2, $3, $4, $5)",
                    username, agency_id, role.value, password_hash, display_name)
        except StoreError as exc:
            cause = exc.__cause__
            if isinstance(cause, asyncpg.exceptions.UniqueViolationError):
                raise AccountError(f"用户已存在 / user already exists: {username}") from exc
            if isinstance(cause, asyncpg.exceptions.ForeignKeyViolationError):
                raise AccountError(f"未知机关 / unknown agency: {agency_id}") from exc
            if isinstance(cause, asyncpg.exceptions.CheckViolationError):
                raise AccountError(
                    f"用户名无效 / invalid user name {username!r} (a-z, 0-9, . _ -; 2-32)"
                ) from exc
            raise

    async def users(self) -> list[UserRow]:
        async with translated_errors(), self._pool.acquire() as conn:
            rows = await conn.fetch(f"SELECT {_USER_COLUMNS} FROM users ORDER BY username")
        return [_user(r) for r in rows]

    async def user(self, username: str) -> UserRow | None:
        async with translated_errors(), self._pool.acquire() as conn:
            row = await conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE username = $1",
                                      username)
        return _user(row) if row else None

    async def disable(self, username: str) -> None:
        """Disable a user and revoke every token and session it holds (one transaction)."""
        async with translated_errors(), self._pool.acquire() as conn, conn.transaction():
            done = await conn.execute(
                "UPDATE users SET disabled_at = coalesce(disabled_at, now()) WHERE username = $1",
                username)
            if done == "UPDATE 0":
                raise AccountError(f"未知用户 / unknown user: {username}")
            await conn.execute(
                "UPDATE auth_tokens SET revoked_at = now()"
                " WHERE username = $1 AND revoked_at IS NULL", username)

    async def login_failed(self, username: str, threshold: int,
                           lock_for: timedelta) -> tuple[int, datetime | None]:
        """Count a failed login; lock the account once `threshold` failures follow each other.
        One UPDATE ... RETURNING, so concurrent failures all count."""
        async with translated_errors(), self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "UPDATE users SET failed_logins = failed_logins + 1,"
                " locked_until = CASE WHEN failed_logins + 1 >= $2 THEN now() + $3"
                " ELSE locked_until END"
                " WHERE username = $1 RETURNING failed_logins, locked_until",
                username, threshold, lock_for)
        return (row["failed_logins"], row["locked_until"]) if row else (0, None)

    async def login_succeeded(self, username: str) -> None:
        async with translated_errors(), self._pool.acquire() as conn:
            await conn.execute(
                "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE username = $1",
                username)

    # -- tokens and sessions -----------------------------------------------------------------

    async def issue_token(self, username: str, kind: str, digest: bytes,
                          expires_at: datetime) -> None:
        async with translated_errors(), self._pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO auth_tokens (token_sha256, username, kind, expires_at)"
                " VALUES ($1, $2, $3, $4)", digest, username, kind, expires_at)

    async def principal_for(self, digest: bytes, kind: str) -> Principal | None:
        """The user a live (unexpired, unrevoked) token of this kind belongs to, if enabled."""
        async with translated_errors(), self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT u.username, u.role, u.agency_id FROM auth_tokens t"
                " JOIN users u USING (username)"
                " WHERE t.token_sha256 = $1 AND t.kind = $2 AND t.revoked_at IS NULL"
                " AND t.expires_at > now() AND u.disabled_at IS NULL", digest, kind)
        return Principal(row["username"], Role(row["role"]), row["agency_id"]) if row else None

    async def revoke(self, digest: bytes) -> bool:
        async with translated_errors(), self._pool.acquire() as conn:
            done = await conn.execute(
                "UPDATE auth_tokens SET revoked_at = now()"
                " WHERE token_sha256 = $1 AND revoked_at IS NULL", digest)
        return str(done) != "UPDATE 0"

    # -- access log -----------------------------------------------------------------------

    async def log(self, principal: Principal | None, action: str, *, target: str | None = None,
                  client: str | None = None, outcome: str = "ok",
                  detail: dict[str, Any] | None = None, username: str | None = None) -> None:
        """Append one line to the access log (who, role, agency, what, when, from where)."""
        async with translated_errors(), self._pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO access_log (username, role, agency_id, action, target, client,"
                " outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)",
                principal.username if principal else username,
                principal.role.value if principal else None,
                principal.agency_id if principal else None,
                action, target, client, outcome,
                json.dumps(detail or {}, ensure_ascii=False, default=str))

    async def access_log(self, *, before: int | None = None, limit: int = 50,
                         username: str | None = None,
                         action: str | None = None) -> list[AccessEntry]:
        """Newest first; page with `before` = the last seq seen."""
        async with translated_errors(), self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT seq, at, username, role, agency_id, action, target, client, outcome,"
                " detail FROM access_log WHERE ($1::bigint IS NULL OR seq < $1)"
                " AND ($2::text IS NULL OR username = $2)"
                " AND ($3::text IS NULL OR action = $3)"
                " ORDER BY seq DESC LIMIT $4", before, username, action, limit)
        return [AccessEntry(r["seq"], r["at"], r["username"], r["role"], r["agency_id"],
                            r["action"], r["target"], r["client"], r["outcome"],
                            json.loads(r["detail"])) for r in rows]
