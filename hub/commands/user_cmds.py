"""`linkage-hub user add|list|disable` and `linkage-hub web` (contract section 7)."""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from typing import Any

from hub.access import ROLE_LABEL, Role
from hub.adapters.accounts_store import AccountError, PostgresAccounts
from hub.adapters.registry_store import PostgresRegistry
from hub.commands.common import CliError, database, print_json, print_table
from hub.settings import Settings
from hub.web.security import hash_password, password_problem
from schemas.events import Role as AgencyRole


def cli_user() -> str:
    """Who ran a command, for the access log: the operating-system account."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("密码 / password: ")
        if getpass.getpass("再次输入 / again: ") != password:
            raise CliError("两次输入的密码不同 / the passwords differ")
    problem = password_problem(password)
    if problem:
        raise CliError(problem)
    return password


async def add_user(pool: Any, username: str, agency: str, role: Role, password: str,
                   display_name: str = "") -> None:
    """Check the role against the agency's role (a supervisor belongs to a procuratorate),
    hash the password with Argon2id and store the user."""
    agencies = {a.agency_id: a for a in await PostgresRegistry(pool).agencies()}
    if agency not in agencies:
        raise CliError(f"未知机关 / unknown agency: {agency}")
    if role is Role.SUPERVISOR and agencies[agency].role is not AgencyRole.PROCURATORATE:
        raise CliError("监督人员须属于检察机关 / a supervisor must belong to a procuratorate "
                       f"(agency {agency} is {agencies[agency].role.value})")
    try:
        await PostgresAccounts(pool).add_user(username, agency, role, hash_password(password),
                                              display_name)
    except AccountError as exc:
        raise CliError(str(exc)) from exc
    await PostgresAccounts(pool).log(None, "user.add", target=username, client="cli",
                                     username=cli_user(),
                                     detail={"role": role.value, "agency": agency})


async def user_add(settings: Settings, args: argparse.Namespace) -> None:
    role = Role(args.role)
    password = _read_password(args)
    async with database(settings, restricted=False) as pool:
        await add_user(pool, args.username, args.agency, role, password, args.name or "")
    print(f"已添加用户 / user added: {args.username} ({ROLE_LABEL[role]}, {args.agency})")


async def user_list(settings: Settings, args: argparse.Namespace) -> None:
    async with database(settings) as pool:
        users = await PostgresAccounts(pool).users()
    if args.json:
        print_json([{"username": u.username, "agency": u.agency_id, "role": u.role.value,
                     "display_name": u.display_name, "disabled": u.disabled_at is not None,
                     "locked_until": u.locked_until, "created_at": u.created_at}
                    for u in users])
        return
    print_table(["用户 user", "机关 agency", "角色 role", "状态 status"],
                [[u.username, u.agency_id, ROLE_LABEL[u.role],
                  "已停用 disabled" if u.disabled_at else "正常 active"] for u in users])


async def user_disable(settings: Settings, args: argparse.Namespace) -> None:
    async with database(settings) as pool:
        accounts = PostgresAccounts(pool)
        try:
            await accounts.disable(args.username)
        except AccountError as exc:
            raise CliError(str(exc)) from exc
        await accounts.log(None, "user.disable", target=args.username, client="cli",
                           username=cli_user())
    print(f"已停用并吊销其令牌 / disabled, tokens revoked: {args.username}")


DEMO_USERS = (("supervisor", "zs-procuratorate", Role.SUPERVISOR),
              ("officer", "zs-aic", Role.OFFICER),
              ("auditor", "zs-procuratorate", Role.AUDITOR),
              ("admin", "zs-procuratorate", Role.ADMIN))


async def demo_users(settings: Settings) -> list[tuple[str, str, str]]:
    """One user per role for `up --demo` (new random passwords, or none if they exist)."""
    created = []
    async with database(settings, restricted=False) as pool:
        existing = {u.username for u in await PostgresAccounts(pool).users()}
        for username, agency, role in DEMO_USERS:
            if username in existing:
                continue
            password = secrets.token_urlsafe(9)
            await add_user(pool, username, agency, role, password, "演示 demo")
            created.append((username, ROLE_LABEL[role], password))
    return created


def run_web(settings: Settings, args: argparse.Namespace) -> None:
    """Serve the workbench with uvicorn on LINKAGE_HTTP_PORT until SIGINT/SIGTERM.

    Stops gracefully on the first signal and ignores repeats: under `up`, Ctrl-C reaches the
    whole process group and `up` forwards it again, and uvicorn's own handlers would force
    an exit on the second one and re-raise the signal afterwards (a KeyboardInterrupt
    traceback on a clean stop)."""
    import asyncio
    import contextlib
    import signal
    from collections.abc import Iterator

    import uvicorn

    from hub.runtime import resolve
    from hub.web.app import create_app

    settings = resolve(settings)
    config = uvicorn.Config(create_app(settings), host=args.host, port=settings.http_port,
                            log_level=args.loglevel, access_log=False, proxy_headers=False)

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # handled below, once

    server = Server(config)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
        await server.serve()

    asyncio.run(serve())
