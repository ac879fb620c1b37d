"""Test support: real PostgreSQL databases (embedded pgserver or a TCP server) and hubs."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from hub.embedded import EmbeddedBroker, EmbeddedDatabase, free_port
from schemas.signing import SigningKey

TCP_ADMIN_DSN = os.environ.get("LINKAGE_TEST_TCP_DSN", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")


async def _create_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


_tcp_databases: list[str] = []


def tcp_database() -> str:
    """A fresh database on the machine's PostgreSQL server over TCP (dropped at the end)."""
    name = f"linkage_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_create_database(TCP_ADMIN_DSN, name))
    _tcp_databases.append(name)
    return TCP_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"


async def _drop_databases(names: list[str]) -> None:
    conn = await asyncpg.connect(TCP_ADMIN_DSN)
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


_embedded: dict[Path, EmbeddedDatabase] = {}


def embedded_database(root: Path) -> str:
    """A fresh database on an embedded pgserver PostgreSQL 16 under root."""
    db = _embedded.get(root)
    if db is None:
        db = _embedded[root] = EmbeddedDatabase(root / "pgdata").start()
    name = f"linkage_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_create_database(db.dsn, name))
    return db.dsn.replace("/postgres?", f"/{name}?")


def make_database(backend: str, root: Path) -> str:
    return tcp_database() if backend == "tcp" else embedded_database(root)


def stop_embedded() -> None:
    """Stop the embedded servers and drop the TCP test databases this run created."""
    for db in _embedded.values():
        db.stop()
    _embedded.clear()
    if _tcp_databases:
        asyncio.run(_drop_databases(list(_tcp_databases)))
        _tcp_databases.clear()


@dataclass
class HubProcess:
    """A running hub worker subprocess with its own broker, database and home."""

    home: Path
    database_url: str
    broker: EmbeddedBroker
    http_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    def env(self) -> dict[str, str]:
        return dict(os.environ, LINKAGE_HOME=str(self.home), LINKAGE_KAFKA=self.bootstrap,
                    LINKAGE_DATABASE_URL=self.database_url, LINKAGE_FAST_REBALANCE="1",
                    LINKAGE_HTTP_PORT=str(self.http_port), LINKAGE_CHECKPOINT_INTERVAL="0.5")

    def start(self) -> HubProcess:
        log = open(self.home / "worker.log", "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "worker", "--loglevel", "warn"],
            env=self.env(), stdout=log, stderr=log,
        )
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "hub.cli", *args], env=self.env(),
                                capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"linkage-hub {' '.join(args)} failed: {result.stderr}")
        return result

    def hub_key(self) -> SigningKey:
        return SigningKey.from_file(self.home / "keys" / "hub.key.pem")

    def log_text(self) -> str:
        return (self.home / "worker.log").read_text(errors="replace")


def agency_keys(directory: Path, agencies: Iterator[str] | list[str]) -> dict[str, SigningKey]:
    keys = {}
    for agency in agencies:
        key = SigningKey.generate()
        key.write_pair(directory, agency)
        keys[agency] = key
    return keys
