"""The `linkage-hub` command line (contract section 6); help and errors in zh-CN and English."""

from __future__ import annotations

import argparse
import asyncio
import errno
import inspect
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, NoReturn

from pydantic import ValidationError

from audit.errors import LedgerError
from audit.key_window import KEY_ADDED_TOLERANCE
from connectors.console import silence_stdout
from hub.access import Role
from hub.adapters.kafka_publisher import BrokerUnavailable
from hub.adapters.postgres import StoreError, StoreUnavailable
from hub.adapters.registry_store import RegistryError
from hub.commands import (
    alerts_cmds,
    demo_cmds,
    import_cmds,
    kafka_cmds,
    ledger_cmds,
    parked_cmds,
    registry_cmds,
    report_cmds,
    rules_cmds,
    schema_cmds,
    up,
    user_cmds,
    witness_cmds,
)
from hub.commands.common import (
    CliError,
    agency_id,
    non_negative_int,
    positive_float,
    positive_int,
)
from hub.embedded import EmbeddedError
from hub.settings import HomeNotInitialised, Settings
from schemas.signing import KeyFormatError

Handler = Callable[[Settings, argparse.Namespace], Any]


class Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line, zh-CN first (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"错误 / error: {self.prog}: {message}"
                     f"（`{self.prog} -h` 查看用法 / see `{self.prog} -h`）\n")


def _add(sub: Any, name: str, help_text: str, handler: Handler) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(handler=handler)
    return parser


def _json_flag(parser: argparse.ArgumentParser, *, default: bool = False) -> None:
    """`--json`: one JSON document on stdout (contract section 6)."""
    parser.add_argument("--json", action="store_true",
                        help="JSON 输出（默认即是）/ JSON output (the default)" if default
                        else "JSON 输出 / JSON output")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="linkage-hub",
        description="行政执法与刑事司法衔接信息共享枢纽 / two-law linkage information-sharing hub",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="详细日志 / verbose logs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _add(sub, "init", "初始化枢纽目录（密钥与数据库）/ initialise the hub home (key, database)",
         up.init)
    p = _add(sub, "up", "启动全部组件 / start broker, database, workers and HTTP service", up.run_up)
    p.add_argument("--demo", action="store_true",
                   help="同时运行模拟机关 / also run simulated agencies through realistic cases")
    p.add_argument("--accelerate", type=positive_float, default=1440.0,
                   help="演示时间加速倍数 / demo time acceleration (default 1440: a day per minute)")
    p = _add(sub, "worker", "运行枢纽工作进程 / run the hub worker (used by `up`)", up.run_worker)
    p.add_argument("--loglevel", default="warn", choices=["crit", "error", "warn", "info", "debug"])
    p.add_argument("--role", default="all", choices=["all", "ingress", "rules"],
                   help="接入、规则(各自进程与消费组,`up` 即如此运行)或全部 / ingress, rules "
                        "(own process and consumer group, as `up` runs them) or all")

    p = _add(sub, "web", "运行工作台与 HTTP 服务 / serve the workbench and HTTP API (used by `up`)",
             user_cmds.run_web)
    p.add_argument("--host", default="127.0.0.1", help="监听地址 / bind address")
    p.add_argument("--loglevel", default="warning",
                   choices=["critical", "error", "warning", "info", "debug"])

    users = sub.add_parser("user", help="工作台用户 / workbench users").add_subparsers(
        dest="sub", required=True)
    p = _add(users, "add", "添加用户 / add a user", user_cmds.user_add)
    p.add_argument("username")
    p.add_argument("--agency", required=True, help="机关编号 / agency id")
    p.add_argument("--role", required=True, choices=[r.value for r in Role])
    p.add_argument("--name", default="", help="姓名 / display name")
    p.add_argument("--password-stdin", action="store_true",
                   help="从标准输入读取密码 / read the password from stdin")
    p = _add(users, "list", "列出用户 / list users", user_cmds.user_list)
    p.add_argument("--json", action="store_true")
    p = _add(users, "disable", "停用用户并吊销令牌 / disable a user, revoke its tokens",
             user_cmds.user_disable)
    p.add_argument("username")

    p = _add(sub, "demo", "运行模拟机关 / run the simulated agencies (used by `up --demo`)",
             demo_cmds.demo)
    p.add_argument("--accelerate", type=positive_float, default=1440.0)

    p = _add(sub, "import", "批量导入双公示处罚记录 / bulk-import penalty records (CSV)",
             import_cmds.import_penalties)
    p.add_argument("file", metavar="FILE.csv")
    p.add_argument("--agency", required=True, type=agency_id, help="机关编号 / agency id")
    p.add_argument("--key", required=True, help="机关私钥 / the agency's private key (PEM)")
    p.add_argument("--outbox", default=None, help="发件箱路径 / outbox path (SQLite)")
    p.add_argument("--report", default=None,
                   help="错误报告输出 (CSV) / where to write the per-row error report")
    p.add_argument("--dry-run", action="store_true", help="只检查不发送 / check only, send nothing")
    p.add_argument("--wait", type=positive_float, default=120.0,
                   help="等待回执秒数 / seconds to wait for receipts")

    keys = sub.add_parser("keys", help="密钥 / keys").add_subparsers(dest="sub", required=True)
    p = _add(keys, "generate", "生成机关密钥对 / generate an agency key pair",
             registry_cmds.keys_generate)
    p.add_argument("agency", type=agency_id)
    p.add_argument("--out", required=True, help="输出目录 / output directory")
    _add(keys, "hub", "输出枢纽公钥 (PEM) / print the hub's public key", registry_cmds.keys_hub)

    agency = sub.add_parser("agency", help="机关登记 / agency registry").add_subparsers(
        dest="sub", required=True)
    p = _add(agency, "list", "列出机关 / list agencies", registry_cmds.agency_list)
    _json_flag(p)
    p = _add(agency, "add", "登记机关 / register an agency", registry_cmds.agency_add)
    p.add_argument("id", type=agency_id)
    p.add_argument("--role", required=True, help="administrative | police | procuratorate")
    p.add_argument("--name", required=True)
    p.add_argument("--name-en", default="")
    p = _add(agency, "add-key", "登记公钥 / register a public key", registry_cmds.agency_add_key)
    p.add_argument("id", type=agency_id)
    p.add_argument("pubkey", metavar="PUBKEY.pem")
    p = _add(agency, "revoke-key", "吊销密钥 / revoke a key", registry_cmds.agency_revoke_key)
    p.add_argument("keyid")

    kafka = sub.add_parser("kafka", help="Kafka 访问控制 / Kafka access control").add_subparsers(
        dest="sub", required=True)
    acls = kafka.add_parser("acls", help="按登记表设置 ACL / ACLs from the registry").add_subparsers(
        dest="action", required=True)
    p = _add(acls, "apply", "按登记表写入 ACL (幂等) / write the registry's ACLs (idempotent)",
             kafka_cmds.acls_apply)
    p.add_argument("--dry-run", action="store_true", help="只显示变更 / only show the changes")
    p = _add(acls, "list", "列出 ACL / list the cluster's ACLs", kafka_cmds.acls_list)
    p.add_argument("--json", action="store_true")
    credentials = kafka.add_parser("credentials", help="SCRAM 凭据 / SCRAM credentials")
    p = _add(credentials.add_subparsers(dest="action", required=True), "issue",
             "生成并设置新密码 / issue a new random SCRAM password (written to a 0600 file)",
             kafka_cmds.credentials_issue)
    p.add_argument("name", metavar="AGENCY", help="机关编号 / agency id (or, with --service, a user)")
    p.add_argument("--service", action="store_true",
                   help="服务用户 (如枢纽自身) / a service principal, e.g. the hub's own user")
    p.add_argument("--out", required=True, metavar="DIR", help="输出目录 / output directory")

    ledger = sub.add_parser("ledger", help="移交账本 / handover ledger").add_subparsers(
        dest="sub", required=True)
    p = _add(ledger, "list", "列出账本条目 / list ledger entries", ledger_cmds.ledger_list)
    p.add_argument("--case")
    p.add_argument("--agency")
    p.add_argument("--start", type=non_negative_int, default=0,
                   help="起始序号 / first ledger index")
    p.add_argument("--limit", type=positive_int, default=None, help="最多条数 / at most N entries")
    _json_flag(p)
    _add(ledger, "checkpoint", "输出最新的已签名检查点 / print the latest signed checkpoint note",
         ledger_cmds.ledger_checkpoint)
    p = _add(ledger, "prove", "条目的包含证明 (JSON) / inclusion proof of an entry (JSON)",
             ledger_cmds.ledger_prove)
    p.add_argument("event_id", metavar="EVENT_ID")
    _json_flag(p, default=True)
    p = _add(ledger, "consistency", "两个树大小间的一致性证明 (JSON) / consistency proof (JSON)",
             ledger_cmds.ledger_consistency)
    p.add_argument("first", metavar="FIRST", type=non_negative_int)
    p.add_argument("second", metavar="SECOND", type=non_negative_int)
    _json_flag(p, default=True)
    p = _add(ledger, "verify", "完整复核账本 / re-check the whole ledger (or an export)",
             ledger_cmds.ledger_verify)
    p.add_argument("--export", metavar="DIR",
                   help="离线校验导出目录，不连数据库 / verify an export directory offline")
    p.add_argument("--hub-vkey", metavar="VKEY",
                   help="受信任的枢纽验证密钥 / trusted hub verifier key (with --export)")
    p.add_argument("--key-time-tolerance", type=non_negative_int, metavar="SECONDS",
                   default=int(KEY_ADDED_TOLERANCE.total_seconds()),
                   help="条目接收时间可早于其密钥登记时间的秒数（默认 %(default)s）/ seconds by which "
                        "an entry's received_at may precede its key's added_at (default "
                        "%(default)s; docs/ledger.md)")
    p.add_argument("--batch", type=positive_int, default=2000, help=argparse.SUPPRESS)
    p = _add(ledger, "export", "导出账本供离线校验 / export the ledger for offline verification",
             ledger_cmds.ledger_export)
    p.add_argument("--out", required=True, metavar="DIR", help="输出目录 / output directory")

    witness = sub.add_parser("witness", help="见证 / checkpoint witness").add_subparsers(
        dest="sub", required=True)
    p = _add(witness, "run", "联署一致的检查点 / cosign consistent checkpoints",
             witness_cmds.witness_run)
    p.add_argument("--name", required=True, help="见证名称 / witness name (its key name)")
    p.add_argument("--key", required=True, metavar="WITNESS.key.pem",
                   help="见证 Ed25519 私钥 / the witness's Ed25519 private key (PKCS#8 PEM)")
    p.add_argument("--state", required=True, metavar="FILE",
                   help="见证状态文件 / state file (last cosigned checkpoint)")
    p.add_argument("--hub-key", metavar="HUB.pub.pem",
                   help="枢纽公钥 / the hub's public key (default: LINKAGE_HOME/keys/hub.pub.pem)")
    p.add_argument("--once", action="store_true", help="只运行一轮 / run one round and exit")
    p.add_argument("--interval", type=positive_float, default=5.0,
                   help="轮询间隔秒数 / seconds between rounds")

    parked = sub.add_parser("parked", help="搁置记录 / parked ingress records").add_subparsers(
        dest="sub", required=True)
    p = _add(parked, "list", "列出未能处理的入口记录 / list records the hub could not settle",
             parked_cmds.parked_list)
    p.add_argument("--all", action="store_true", help="含已处理的 / include resolved ones")
    p.add_argument("--json", action="store_true")
    p = _add(parked, "retry", "重新处理搁置记录 / run parked records through ingress again",
             parked_cmds.parked_retry)
    p.add_argument("ids", metavar="ID", type=int, nargs="*",
                   help="搁置编号,默认全部 / parked ids (default: every unresolved one)")

    alerts = sub.add_parser("alerts", help="预警 / alerts").add_subparsers(
        dest="sub", required=True)
    p = _add(alerts, "list", "列出预警 / list alerts", alerts_cmds.alerts_list)
    p.add_argument("--status", choices=["open", "resolved"],
                   help="只列出此状态 / only alerts of this status")
    p.add_argument("--case", help="只列出此案件 / only alerts of this case")
    _json_flag(p)

    rules = sub.add_parser("rules", help="预警规则 / alert rules").add_subparsers(
        dest="sub", required=True)
    p = _add(rules, "replay", "从账本重新评估全部案件 / re-evaluate every case from the ledger",
             rules_cmds.rules_replay)
    p.add_argument("--rules", metavar="FILE",
                   help="规则文件 / rule file (default: LINKAGE_RULES or the shipped one)")
    p.add_argument("--override", metavar="FILE",
                   help="覆盖文件 / override file (default: LINKAGE_RULES_OVERRIDE)")
    p.add_argument("--jobs", type=int, metavar="N",
                   help="并行进程数 / processes, the cases split among them (default: every core)")
    p = _add(rules, "check", "检查规则文件或覆盖文件 / validate a rule or override file",
             rules_cmds.rules_check)
    p.add_argument("file", metavar="FILE")

    reports = sub.add_parser("report", help="统计报表与公示 / bulletins and disclosure"
                             ).add_subparsers(dest="sub", required=True)
    for name, text, example in (
            ("monthly", "月度通报 PDF 与 XLSX / the monthly bulletin, PDF and XLSX", "2026-10"),
            ("disclosure", "双公示 行政处罚 CSV 与 XLSX / 双公示 penalty disclosure", "2026-10"),
            ("credit-list", "红黑名单 JSON 与 CSV / red and black list feed", "2026-10|2026-Q4|2026")):
        p = _add(reports, name, text, report_cmds.report)
        p.add_argument("period", metavar="PERIOD", help=f"期间 / period, e.g. {example}")
        p.add_argument("--out", required=True, metavar="DIR", help="输出目录 / output directory")
        _json_flag(p)

    schemas = sub.add_parser("schemas", help="事件模式 / event schemas").add_subparsers(
        dest="sub", required=True)
    p = _add(schemas, "export", "导出 JSON Schema / write one JSON Schema per event type",
             schema_cmds.export)
    p.add_argument("dir")
    return parser


_ERRNO_ZH = {
    errno.ENOENT: "文件或目录不存在",
    errno.EACCES: "权限不足",
    errno.EPERM: "不允许的操作",
    errno.EEXIST: "已存在",
    errno.ENOTDIR: "不是目录",
    errno.EISDIR: "是目录",
    errno.EROFS: "只读文件系统",
    errno.ENOSPC: "磁盘空间不足",
}


def _os_error(exc: OSError) -> str:
    where = f" {exc.filename}" if exc.filename else ""
    reason_en = exc.strerror or str(exc)
    reason_zh = _ERRNO_ZH.get(exc.errno or 0, "操作系统错误")
    return f"无法访问{where}：{reason_zh} / cannot access{where}: {reason_en}"


def _validation_error(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or exc.title
    more = len(exc.errors()) - 1
    also = f"（另有 {more} 处 / and {more} more）" if more else ""
    return f"输入无效 / invalid input: {where}: {first['msg']}{also}"


def describe_error(exc: BaseException) -> tuple[str, int] | None:
    """The one-line zh/en message and exit code of an error the hub expects, else None.

    The one place where the hub's own errors (and bad input met deep inside a command)
    become what a person reads; commands raise, they do not print their own errors.
    """
    if isinstance(exc, CliError):
        return str(exc), exc.code
    if isinstance(exc, LedgerError):
        return f"{exc.diagnostics()} [{exc.reason}]", 1
    if isinstance(exc, HomeNotInitialised | StoreUnavailable | StoreError | EmbeddedError
                  | BrokerUnavailable):
        return str(exc), 2
    if isinstance(exc, RegistryError | KeyFormatError):
        return str(exc), 1
    if isinstance(exc, ValidationError):
        return _validation_error(exc), 1
    if isinstance(exc, OSError):
        return _os_error(exc), 1
    return None


class Interrupted(Exception):
    """Ctrl-C (SIGINT) stopped an async command; its cleanup has run."""


def _run_async(command: Coroutine[Any, Any, None]) -> None:
    """Run an async command; the first SIGINT cancels it (its `finally` blocks run), later
    ones are ignored, so Ctrl-C (which may reach a child twice: from the terminal and from
    `up`) ends it quietly instead of raising KeyboardInterrupt inside the event loop."""

    async def guarded() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        interrupted = False

        def on_sigint() -> None:
            nonlocal interrupted
            if not interrupted:
                interrupted = True
                task.cancel()

        loop.add_signal_handler(signal.SIGINT, on_sigint)
        try:
            await command
        except asyncio.CancelledError:
            if interrupted:
                raise Interrupted from None
            raise
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            signal.signal(signal.SIGINT, signal.SIG_IGN if interrupted else signal.default_int_handler)

    asyncio.run(guarded())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
        result = args.handler(settings, args)
        if inspect.iscoroutine(result):
            _run_async(result)
        sys.stdout.flush()
    except (Interrupted, KeyboardInterrupt):
        # Stopping: a second Ctrl-C (a child of `up` gets one from the terminal and one from
        # `up`) must not raise KeyboardInterrupt inside the interpreter's exit handlers.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("已中断 / interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        silence_stdout()  # the reader went away (`| head`): stop quietly
        return 141
    except Exception as exc:
        described = describe_error(exc)
        if described is None:
            if args.verbose:
                raise
            described = (f"内部错误 / internal error: {type(exc).__name__}: {exc}"
                         "（加 -v 查看调用栈 / run with -v for the traceback）", 70)
        message, code = described
        print(f"错误 / error: {message}", file=sys.stderr)
        return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
