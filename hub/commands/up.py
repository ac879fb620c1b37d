"""`linkage-hub up` / `worker`: start the broker, database, workers, HTTP service, demo."""

from __future__ import annotations

import argparse
import asyncio
import collections
import logging
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import replace

from connectors.console import say
from hub.adapters.kafka_admin import ensure_hub_topics
from hub.adapters.kafka_publisher import BrokerUnavailable
from hub.adapters.postgres import create_pool, migrate
from hub.adapters.registry_store import PostgresRegistry
from hub.commands.user_cmds import demo_users
from hub.embedded import EmbeddedDatabase, child_guard, free_port, start_embedded_kafka
from hub.runtime import clear_runtime, embedded_pgdata, resolve, write_runtime
from hub.settings import Settings
from schemas.topics import hub_topics

log = logging.getLogger(__name__)


async def initialise(settings: Settings) -> list[str]:
    """Make LINKAGE_HOME a hub home: the hub key, a migrated database, the seeded registry.

    Idempotent; returns the agency ids. `init`, `up` and the worker call it, nothing else.
    """
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.ensure_hub_key()
    dsn = settings.require_database()
    await migrate(dsn)
    pool = await create_pool(dsn, restricted=False)
    try:
        registry = PostgresRegistry(pool)
        await registry.seed()
        return [a.agency_id for a in await registry.agencies()]
    finally:
        await pool.close()


BROKER_READY_TIMEOUT = 60.0
"""How long `prepare` waits for a broker that is not answering yet. A broker just started may
accept connections before it serves requests: Tansu on S3 after a kill -9, while it reads its
state back, closed the first metadata request (seen in test_durable_up)."""


async def prepare(settings: Settings, ready_timeout: float = BROKER_READY_TIMEOUT) -> list[str]:
    """Initialise the home and database, create every topic (waiting up to `ready_timeout`
    seconds for a broker that does not answer yet); returns the agency ids."""
    agencies = await initialise(settings)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ready_timeout
    delay = 0.25
    while True:
        try:
            await ensure_hub_topics(settings, hub_topics(agencies))
            return agencies
        except BrokerUnavailable as exc:
            if loop.time() + delay > deadline:
                raise
            log.warning("等待 Kafka 代理就绪 / waiting for the Kafka broker: %s", exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 4.0)


async def init(settings: Settings, args: argparse.Namespace) -> None:
    """`linkage-hub init`: create the hub home (key, embedded or external database)."""
    existed = settings.hub_key_path.exists()
    resolved = resolve(settings, init=True)
    agencies = await initialise(resolved)
    if resolved.kafka:
        await ensure_hub_topics(resolved, hub_topics(agencies))
    state_zh, state_en = ("已是枢纽目录", "already a hub home") if existed else ("已初始化",
                                                                          "initialised")
    print(f"{state_zh} / {state_en}: {settings.home} ({len(agencies)} 个机关 / agencies)")
    print(f"枢纽公钥 / hub public key: {settings.keys_dir / 'hub.pub.pem'}")
    print("下一步 / next: `linkage-hub up`")


def run_worker(settings: Settings, args: argparse.Namespace) -> None:
    """Run the faust worker in this process until SIGINT/SIGTERM."""
    from hub.worker import run  # the faust app is loaded only by the worker process

    run(settings, asyncio.run(prepare(settings)), args.loglevel, args.role)


class RestartWindow:
    """Counts worker exits in a sliding window: `up` gives up only on exits in quick succession.

    A worker that exits now and then over days (a broker failover, an OOM kill) is restarted
    every time; more than `limit` exits within `window` seconds means it cannot run, and `up`
    stops instead of restarting it in a loop. The back-off grows with the recent exits only.
    """

    def __init__(self, limit: int = 5, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._exits: collections.deque[float] = collections.deque()

    def exited(self, now: float) -> bool:
        """Record an exit at `now` (monotonic seconds); True when the hub should stop."""
        self._exits.append(now)
        while self._exits and now - self._exits[0] > self.window:
            self._exits.popleft()
        return len(self._exits) > self.limit

    @property
    def backoff(self) -> float:
        """Seconds to wait before the next restart."""
        return min(2.0 * len(self._exits), 10.0)


def _spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # A worker dies with `up` (even a kill -9 of it), so no orphan keeps consuming.
    return subprocess.Popen([sys.executable, "-m", "hub.cli", *argv], env=env,
                            preexec_fn=child_guard())


def _stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    for child in reversed(children):
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
    for child in reversed(children):
        try:
            child.wait(15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _after_exit(child: subprocess.Popen[bytes], window: RestartWindow, zh: str,
                en: str) -> None:
    """Say that a supervised child exited; stop `up` if it exits too often (SystemExit),
    else wait the window's back-off before the caller starts it again."""
    say(f"{zh}退出 (代码 {child.returncode}),重启 / {en} exited (code {child.returncode}), "
        "restarting")
    if window.exited(time.monotonic()):
        raise SystemExit(f"{zh}在 {window.window:.0f} 秒内退出超过 {window.limit} 次 / {en} "
                         f"exited more than {window.limit} times within {window.window:.0f} s")
    time.sleep(window.backoff)


def run_up(settings: Settings, args: argparse.Namespace) -> None:
    """Start everything; on Ctrl-C / SIGTERM stop it all, whatever failed on the way.

    Every part started registers its own stop in one ExitStack, so a failure while stopping
    one part (or a stdout whose reader is gone: `up | tee log` and Ctrl-C kill tee first)
    never leaves the broker, the database or a stale runtime.json behind.
    """
    settings.home.mkdir(parents=True, exist_ok=True)
    children: list[subprocess.Popen[bytes]] = []
    stopping = False
    reload_worker = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    def reload(*_: object) -> None:
        nonlocal reload_worker
        reload_worker = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, reload)  # `agency add` asks for a worker restart
    signal.signal(signal.SIGINT, stop)  # also when started in the background (SIGINT ignored)
    with ExitStack() as cleanup:
        cleanup.callback(say, "已停止 / stopped")  # runs last
        if not settings.database_url:
            say("启动内置 PostgreSQL / starting embedded PostgreSQL ...")
            db = EmbeddedDatabase(embedded_pgdata(settings)).start()
            cleanup.callback(db.stop)
            settings = replace(settings, database_url=db.dsn)
        embedded_kafka = not settings.kafka
        if embedded_kafka:
            broker = start_embedded_kafka(settings.home, durable=settings.embedded_durable)
            cleanup.callback(broker.stop)
            settings = replace(settings, kafka=broker.bootstrap)
            say(f"内置 Kafka 代理 / embedded Kafka broker: {broker.bootstrap}")
        agencies = asyncio.run(prepare(settings))
        cleanup.callback(clear_runtime, settings)
        write_runtime(settings, settings.require_kafka(), settings.require_database(), os.getpid())
        cleanup.callback(_stop_children, children)
        cleanup.callback(say, "\n正在停止 / stopping ...")
        env = dict(os.environ, LINKAGE_KAFKA=settings.require_kafka(),
                   LINKAGE_DATABASE_URL=settings.require_database(),
                   LINKAGE_HOME=str(settings.home),
                   LINKAGE_FAST_REBALANCE="1" if embedded_kafka else
                   os.environ.get("LINKAGE_FAST_REBALANCE", "0"))
        worker_port = free_port()
        env.setdefault("LINKAGE_RULES_HTTP_PORT", str(free_port()))
        env.update(LINKAGE_WORKER_HTTP_PORT=str(worker_port),
                   LINKAGE_WORKER_METRICS_URL=f"http://127.0.0.1:{worker_port}/metrics "
                   f"http://127.0.0.1:{env['LINKAGE_RULES_HTTP_PORT']}/metrics")
        # Two worker processes (hub/worker.py): ingress (slot 0), and the rules in their own
        # consumer group (slot 2), so the rules' CPU never delays a receipt.
        roles = {0: ["worker", "--role", "ingress"], 2: ["worker", "--role", "rules"]}
        children.append(_spawn(roles[0], env))
        children.append(_spawn(["web"], env))  # the workbench on LINKAGE_HTTP_PORT
        children.append(_spawn(roles[2], env))
        if args.demo:
            created = asyncio.run(demo_users(settings))
            for username, role, password in created:
                say(f"演示用户 / demo user: {username:<10} {role:<20} 密码 password: {password}")
            if not created:
                say("演示用户已存在，密码见首次启动时的输出 / demo users exist already; their "
                    "passwords were printed at the first start")
        say(f"枢纽已启动 / hub running: {len(agencies)} agencies, "
            f"工作台 workbench http://127.0.0.1:{settings.http_port}/  (Ctrl-C 停止 / to stop)")
        if args.demo:
            demo_args = ["demo", "--accelerate", str(args.accelerate)]
            children.append(_spawn(demo_args, env))
        restarts = RestartWindow()
        web_restarts = RestartWindow()
        while not stopping:
            web = children[1]
            if web.poll() is not None:
                _after_exit(web, web_restarts, "工作台进程", "the workbench")
                children[1] = _spawn(["web"], env)
            for slot, argv in roles.items():
                worker = children[slot]
                reloading = reload_worker and slot == 0  # only ingress subscribes per agency
                if not reloading and worker.poll() is None:
                    continue
                if worker.poll() is None:
                    say("重启工作进程以订阅新机关 / restarting the worker to subscribe new "
                        "agencies")
                    worker.send_signal(signal.SIGINT)
                    worker.wait(30)
                else:
                    _after_exit(worker, restarts, "工作进程", "the worker")
                if slot == 0:
                    reload_worker = False
                children[slot] = _spawn(argv, env)  # it creates any missing topics first
            time.sleep(0.2)
