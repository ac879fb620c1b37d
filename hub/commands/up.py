"""`linkage-hub up` / `worker`: start the broker, database, workers, HTTP service, demo."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

from hub.adapters.kafka_admin import ensure_topics
from hub.adapters.postgres import create_pool, migrate
from hub.adapters.registry_store import PostgresRegistry
from hub.commands.user_cmds import demo_users
from hub.embedded import EmbeddedBroker, EmbeddedDatabase, free_port
from hub.runtime import clear_runtime, write_runtime
from hub.settings import Settings
from schemas.topics import hub_topics

log = logging.getLogger(__name__)


async def prepare(settings: Settings) -> list[str]:
    """Migrate, seed the registry, create every topic; returns the agency ids."""
    dsn = settings.require_database()
    await migrate(dsn)
    pool = await create_pool(dsn, restricted=False)
    try:
        registry = PostgresRegistry(pool)
        await registry.seed()
        agencies = [a.agency_id for a in await registry.agencies()]
    finally:
        await pool.close()
    await ensure_topics(settings.require_kafka(), hub_topics(agencies))
    return agencies


def run_worker(settings: Settings, args: argparse.Namespace) -> None:
    """Run the faust worker in this process until SIGINT/SIGTERM."""
    from hub.worker import run  # the faust app is loaded only by the worker process

    run(settings, asyncio.run(prepare(settings)), args.loglevel)


def _spawn(argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "hub.cli", *argv], env=env)


def run_up(settings: Settings, args: argparse.Namespace) -> None:
    settings.home.mkdir(parents=True, exist_ok=True)
    broker = db = None
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
    try:
        if not settings.database_url:
            print("启动内置 PostgreSQL / starting embedded PostgreSQL ...", flush=True)
            db = EmbeddedDatabase(settings.home / "pgdata").start()
            settings = replace(settings, database_url=db.dsn)
        embedded_kafka = not settings.kafka
        if embedded_kafka:
            broker = EmbeddedBroker(log_path=settings.home / "tansu.log").start()
            settings = replace(settings, kafka=broker.bootstrap)
            print(f"内置 Kafka 代理 / embedded Kafka broker: {broker.bootstrap}", flush=True)
        agencies = asyncio.run(prepare(settings))
        write_runtime(settings, settings.require_kafka(), settings.require_database(), os.getpid())
        env = dict(os.environ, LINKAGE_KAFKA=settings.require_kafka(),
                   LINKAGE_DATABASE_URL=settings.require_database(),
                   LINKAGE_HOME=str(settings.home),
                   LINKAGE_FAST_REBALANCE="1" if embedded_kafka else
                   os.environ.get("LINKAGE_FAST_REBALANCE", "0"))
        worker_port = free_port()
        env.update(LINKAGE_WORKER_HTTP_PORT=str(worker_port),
                   LINKAGE_WORKER_METRICS_URL=f"http://127.0.0.1:{worker_port}/metrics")
        children.append(_spawn(["worker"], env))
        children.append(_spawn(["web"], env))  # the workbench on LINKAGE_HTTP_PORT
        if args.demo:
            created = asyncio.run(demo_users(settings))
            for username, role, password in created:
                print(f"演示用户 / demo user: {username:<10} {role:<20} 密码 password: {password}",
                      flush=True)
            if not created:
                print("演示用户已存在，密码见首次启动时的输出 / demo users exist already; their "
                      "passwords were printed at the first start", flush=True)
        print(f"枢纽已启动 / hub running: {len(agencies)} agencies, "
              f"工作台 workbench http://127.0.0.1:{settings.http_port}/  "
              "(Ctrl-C 停止 / to stop)", flush=True)
        if args.demo:
            demo_args = ["demo", "--accelerate", str(args.accelerate)]
            children.append(_spawn(demo_args, env))
        restarts = 0
        while not stopping:
            web = children[1]
            if web.poll() is not None:
                restarts += 1
                print(f"工作台进程退出 (代码 {web.returncode}),重启 / workbench exited "
                      f"(code {web.returncode}), restarting", flush=True)
                if restarts > 5:
                    raise SystemExit("工作台进程反复退出 / the workbench keeps exiting")
                time.sleep(min(2.0 * restarts, 10.0))
                children[1] = _spawn(["web"], env)
            worker = children[0]
            if reload_worker or worker.poll() is not None:
                if worker.poll() is None:
                    print("重启工作进程以订阅新机关 / restarting the worker to subscribe new "
                          "agencies", flush=True)
                    worker.send_signal(signal.SIGINT)
                    worker.wait(30)
                else:
                    restarts += 1
                    print(f"工作进程退出 (代码 {worker.returncode}),重启 / worker exited "
                          f"(code {worker.returncode}), restarting", flush=True)
                    if restarts > 5:
                        raise SystemExit("工作进程反复退出 / the worker keeps exiting")
                    time.sleep(min(2.0 * restarts, 10.0))
                reload_worker = False
                children[0] = _spawn(["worker"], env)  # it creates any missing topics first
            time.sleep(0.2)
    finally:
        print("\n正在停止 / stopping ...", flush=True)
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in reversed(children):
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
        clear_runtime(settings)
        if broker:
            broker.stop()
        if db:
            db.stop()
        print("已停止 / stopped", flush=True)
