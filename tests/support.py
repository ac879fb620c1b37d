"""Test support: real PostgreSQL databases (embedded pgserver or a TCP server) and hubs."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from hub.embedded import EmbeddedBroker, EmbeddedDatabase, free_port
from schemas.signing import SigningKey

TCP_ADMIN_DSN = os.environ.get("LINKAGE_TEST_TCP_DSN", "postgresql://postgres:postgres@127.0.0.1:5432/postgres")

_OWNED_NAME = re.compile(r"linkage_(?:test|tmpl)_(\d+)_[0-9a-f]{10}")
"""A test database's name carries the pid of the test process that created it, so that a
later run can tell the databases of a killed run (pid gone) from those of a live one."""


def new_database_name(kind: str = "test") -> str:
    """A fresh name for a test database (kind "test", or "tmpl" for a template)."""
    return f"linkage_{kind}_{os.getpid()}_{uuid.uuid4().hex[:10]}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


async def sweep_orphaned_databases(admin_dsn: str = TCP_ADMIN_DSN) -> list[str]:
    """Drop the test databases whose creating process is gone, and return their names.

    A test run that is killed (Ctrl-C twice, a CI timeout, an OOM kill) never reaches its
    clean-up, and its databases stayed: one development server had gathered 199 of them
    (2.2 GB). The creator's pid is in the name (`new_database_name`); a database whose pid
    no process on this machine has is dropped. Only for a server on this machine (loopback),
    where the pids are comparable; a live run's databases are never touched, and a pid the
    machine reused only delays a drop until a later sweep."""
    host = urlsplit(admin_dsn).hostname or ""
    if host not in {"127.0.0.1", "localhost", "::1"}:
        return []
    conn = await asyncpg.connect(admin_dsn)
    try:
        names = [r["datname"] for r in await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE 'linkage%'")]
        orphans = [n for n in names
                   if (m := _OWNED_NAME.fullmatch(n)) and not _alive(int(m.group(1)))]
        for name in orphans:  # a copy of a template is independent of it: any order drops
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
    return orphans


_swept: list[bool] = []


async def _create_database(admin_dsn: str, name: str) -> None:
    if admin_dsn == TCP_ADMIN_DSN and not _swept:
        _swept.append(True)
        await sweep_orphaned_databases(admin_dsn)
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


_tcp_databases: list[str] = []


def tcp_database() -> str:
    """A fresh database on the machine's PostgreSQL server over TCP (dropped at the end)."""
    name = new_database_name()
    asyncio.run(_create_database(TCP_ADMIN_DSN, name))
    _tcp_databases.append(name)
    return TCP_ADMIN_DSN.rsplit("/", 1)[0] + f"/{name}"


_template: list[str] = []
_seed_rows: dict[str, list[asyncpg.Record]] = {}
_free_databases: list[str] = []


async def _tables(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                            " AND tablename <> 'schema_migrations' ORDER BY tablename")
    return [r["tablename"] for r in rows]


async def migrated_database() -> str:
    """A migrated database on the TCP server holding only what the migrations insert.

    The schema is migrated once per run into a template database, copied with ``CREATE
    DATABASE ... TEMPLATE``; a database given back with :func:`release_database` is emptied
    and handed out again (dropping a database costs about a second, emptying one does not).
    """
    from hub.adapters.postgres import migrate

    base = TCP_ADMIN_DSN.rsplit("/", 1)[0]
    if _free_databases:
        return _free_databases.pop()
    if not _template:
        name = new_database_name("tmpl")
        await _create_database(TCP_ADMIN_DSN, name)
        _tcp_databases.append(name)
        await migrate(f"{base}/{name}")
        conn = await asyncpg.connect(f"{base}/{name}")
        try:
            for table in await _tables(conn):
                _seed_rows[table] = await conn.fetch(f'SELECT * FROM "{table}"')
        finally:
            await conn.close()
        _template.append(name)
    name = new_database_name()
    conn = await asyncpg.connect(TCP_ADMIN_DSN)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_template[0]}"')
    finally:
        await conn.close()
    _tcp_databases.insert(0, name)  # dropped before the template
    return f"{base}/{name}"


async def release_database(dsn: str) -> None:
    """Empty a database from :func:`migrated_database` (append-only triggers are bypassed
    as the owner in replica mode) and keep it for the next caller."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            tables = ", ".join(f'"{t}"' for t in await _tables(conn))
            await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
            for table, rows in _seed_rows.items():
                if rows:
                    await conn.copy_records_to_table(table, records=[tuple(r) for r in rows],
                                                     columns=list(rows[0].keys()))
    finally:
        await conn.close()
    _free_databases.append(dsn)


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
    name = new_database_name()
    asyncio.run(_create_database(db.dsn, name))
    return db.dsn.replace("/postgres?", f"/{name}?")


@contextmanager
def embedded_root(prefix: str) -> Iterator[Path]:
    """A directory for an embedded pgserver's data, outside pytest's temporary root.

    Run as root, pgserver starts PostgreSQL as the `pgserver` user and opens the way to the
    data with g+rx,o+rx on every parent directory. Every pytest session resets its own root
    (/tmp/pytest-of-<user>) to 0700, so a second session on the same machine (a shared
    development box) locked the pgserver user out of data under it: pg_ctl start or stop then
    failed with "Permission denied" in the middle of a run.
    """
    root = Path(tempfile.mkdtemp(prefix=f"linkage-{prefix}-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


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
        _template.clear()
        _free_databases.clear()


@dataclass
class HubProcess:
    """A running hub worker subprocess with its own broker, database and home."""

    home: Path
    database_url: str
    broker: EmbeddedBroker
    http_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    separate_rules: bool = False
    """Run the rules in their own process (`worker --role rules`), as `up` does."""
    rules_process: subprocess.Popen[bytes] | None = None
    rules_http_port: int = field(default_factory=free_port)

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    def env(self) -> dict[str, str]:
        return dict(os.environ, LINKAGE_HOME=str(self.home), LINKAGE_KAFKA=self.bootstrap,
                    LINKAGE_DATABASE_URL=self.database_url, LINKAGE_FAST_REBALANCE="1",
                    LINKAGE_HTTP_PORT=str(self.http_port), LINKAGE_CHECKPOINT_INTERVAL="0.5",
                    LINKAGE_RULES_HTTP_PORT=str(self.rules_http_port))

    def start(self) -> HubProcess:
        log = open(self.home / "worker.log", "ab")
        role = ["--role", "ingress"] if self.separate_rules else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "worker", "--loglevel", "warn", *role],
            env=self.env(), stdout=log, stderr=log,
        )
        if self.separate_rules:
            self.rules_process = subprocess.Popen(
                [sys.executable, "-m", "hub.cli", "worker", "--loglevel", "warn", "--role",
                 "rules"], env=self.env(), stdout=log, stderr=log)
        return self

    def kill(self) -> None:
        for process in (self.process, self.rules_process):
            if process and process.poll() is None:
                process.kill()
                process.wait()

    def stop(self) -> None:
        for process in (self.process, self.rules_process):
            if process and process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

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


async def scrape_metrics(http_port: int) -> str:
    """The hub's Prometheus text at /metrics, or "" while its HTTP service does not answer."""
    import aiohttp

    try:
        async with aiohttp.ClientSession() as http, http.get(
                f"http://127.0.0.1:{http_port}/metrics",
                timeout=aiohttp.ClientTimeout(total=5)) as response:
            return await response.text() if response.status == 200 else ""
    except (aiohttp.ClientError, TimeoutError):
        return ""


def metric_value(text: str, sample: str) -> float | None:
    """The value of one sample line (`name` or `name{labels}`) in Prometheus text."""
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[1])
    return None


def agency_keys(directory: Path, agencies: Iterator[str] | list[str]) -> dict[str, SigningKey]:
    keys = {}
    for agency in agencies:
        key = SigningKey.generate()
        key.write_pair(directory, agency)
        keys[agency] = key
    return keys
