"""PostgreSQL access: the connection pool, schema migrations, the hub's restricted role.

This is the one seam where asyncpg errors become the hub's own (streams/errors.py):
`StoreUnavailable` tells a worker to back off and retry; `StoreError` (= `StoreRefused`)
is a refusal that retrying repeats. Nothing above the adapters sees an asyncpg type.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any, TypeAlias, TypeVar
from urllib.parse import parse_qs, urlsplit

import asyncpg

from streams.errors import StoreRefused, StoreUnavailable

log = logging.getLogger(__name__)

HUB_ROLE = "linkage_hub"

# Applied in order from hub/sql/; each file is idempotent (CREATE ... IF NOT EXISTS) and
# recorded in schema_migrations under its first name. The names are frozen: the ledger's two
# files once lived in audit/, and renaming them would re-apply them to existing databases.
MIGRATIONS: tuple[tuple[str, str], ...] = (
    ("audit/schema.sql", "ledger.sql"),
    ("hub.sql/registry.sql", "registry.sql"),
    ("hub.sql/ingress.sql", "ingress.sql"),
    ("audit/checkpoints.sql", "checkpoints.sql"),
    ("hub.sql/cases.sql", "cases.sql"),
    ("hub.sql/parked.sql", "parked.sql"),
    ("hub.sql/rules_parked.sql", "rules_parked.sql"),
    ("hub.sql/accounts.sql", "accounts.sql"),
    ("hub.sql/statistics.sql", "statistics.sql"),
    ("hub.sql/rules_cursor.sql", "rules_cursor.sql"),
    ("hub.sql/casework.sql", "casework.sql"),
    ("hub.sql/case_versions.sql", "case_versions.sql"),
    ("hub.sql/statistics_months.sql", "statistics_months.sql"),
    ("hub.sql/case_state_events.sql", "case_state_events.sql"),
    ("hub.sql/ingress_v2.sql", "ingress_v2.sql"),
    ("hub.sql/alert_storage.sql", "alert_storage.sql"),
    ("hub.sql/case_writes.sql", "case_writes.sql"),
    ("hub.sql/json_as_text.sql", "json_as_text.sql"),
    ("hub.sql/case_saves.sql", "case_saves.sql"),
    ("hub.sql/case_hot.sql", "case_hot.sql"),
    ("hub.sql/outcome_event_hash.sql", "outcome_event_hash.sql"),
    ("hub.sql/case_rows_c.sql", "case_rows_c.sql"),
)

T = TypeVar("T")

Pool: TypeAlias = asyncpg.Pool
"""The connection pool type, for modules above the adapters that pass a pool along without
touching the driver (CLI commands, wiring)."""


StoreError = StoreRefused
"""The database refused an operation (a constraint, a value, a permission): not retryable."""

__all__ = ["Pool", "StoreError", "StoreRefused", "StoreUnavailable", "create_pool", "migrate",
           "translated_errors"]

TRANSIENT = (
    OSError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
)


@asynccontextmanager
async def translated_errors() -> AsyncIterator[None]:
    """Map asyncpg and socket errors to StoreUnavailable / StoreError."""
    try:
        yield
    except TRANSIENT as exc:
        raise StoreUnavailable(str(exc)) from exc
    except asyncpg.exceptions.PostgresError as exc:
        raise StoreRefused(str(exc), exc.sqlstate) from exc


async def _ensure_role(conn: asyncpg.Connection) -> None:
    await conn.execute(
        f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{HUB_ROLE}') THEN
                CREATE ROLE {HUB_ROLE} NOLOGIN;
            END IF;
        EXCEPTION WHEN duplicate_object THEN NULL;
        END $$;
        """
    )


def connection_options(dsn: str, environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """asyncpg options the DSN does not say: no TLS to a server on this host's loopback.

    Design decision: asyncpg (like libpq) defaults to `sslmode=prefer`, which encrypts when
    the server offers TLS (Debian's package does, with a snake-oil certificate) but verifies
    nothing. On loopback the bytes never leave the kernel, so that TLS protects against no one
    who could not read the process's memory anyway, and it cost about 10 µs of the ingress
    worker's CPU per event and 4-7 % of `rules replay` (docs/benchmarks.md, issue 14). So when
    every host the DSN names is a loopback address or `localhost`, and neither the DSN nor
    PGSSLMODE chooses a mode, the hub connects without TLS. Any other host, or a mode the
    operator wrote (`sslmode=require`, `verify-full`, ...), is left to asyncpg as given.
    """
    parts = urlsplit(dsn)
    query = parse_qs(parts.query)
    if "sslmode" in query or "ssl" in query or environ.get("PGSSLMODE"):
        return {}
    netloc = parts.netloc.rpartition("@")[2]
    hosts = [h for h in (_host_of(spec) for spec in netloc.split(",")) if h]
    hosts += [h for value in query.get("host", []) for h in value.split(",") if h]
    if hosts and all(_is_loopback(host) for host in hosts):
        return {"ssl": False}
    return {}


def _host_of(spec: str) -> str:
    """`host`, `host:port`, `[v6]` or `[v6]:port` -> the host."""
    if spec.startswith("["):
        return spec[1:].partition("]")[0]
    return spec.rpartition(":")[0] if spec.count(":") == 1 else spec


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name (resolved by asyncpg) or a socket directory: leave as it is


async def migrate(dsn: str, migrations: Sequence[tuple[str, str]] = MIGRATIONS) -> None:
    """Create or upgrade the schema as the DSN's (owner) user; grants go to HUB_ROLE.

    `migrations`: a leading part of MIGRATIONS, for a test that builds the database of an
    earlier release and upgrades it.

    Design decision (session 7, issue 14): no ANALYZE after migrating nor on start. A fresh
    hub's tables are empty then, and statistics of empty tables tell the planner nothing
    (it sizes a table from its current pages whether or not it was analysed); autovacuum
    analyses each table once 50 rows + 10 % have changed, and an ANALYZE invalidates the
    plans cached by pooled connections. Measured on bench/ingress.py's fresh database
    (pg_stat_user_tables every 4 s, one run): no table was analysed during the run, yet the
    sequential scans (processed_events ~105,000 rows, ledger ~67,000 rows, all in the first
    ~10 s) stopped by themselves as the tables grew, ≲ 3 µs an event of that phase; the
    steady state used index scans only. So plans do not explain the 55-82 µs/event swings of
    the PostgreSQL figure between bench runs (the machine's load does vary with them)."""
    async with translated_errors():
        conn = await asyncpg.connect(dsn, **connection_options(dsn))
        try:
            await _ensure_role(conn)
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(7305162)")
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
                )
                done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
                for name, filename in migrations:
                    if name in done:
                        continue
                    sql = resources.files("hub.sql").joinpath(filename).read_text("utf-8")
                    await conn.execute(sql)
                    await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
                    log.info("applied migration %s", name)
        finally:
            await conn.close()


async def _as_hub_role(conn: asyncpg.Connection) -> None:
    await conn.execute(f"SET ROLE {HUB_ROLE}")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's `reset`: nothing beyond what asyncpg always does on release.

    Design decision (session 7, issue 14): asyncpg's default reset sends
    `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL;` on every release,
    one more round trip per transaction: 2.2 % of the rules worker's py-spy samples, and
    1.0-1.5 µs of PostgreSQL CPU per event for each worker (bench/ingress.py --pg-statements;
    bench/pool_release.py for one transaction's client and server CPU). With a custom `reset`
    asyncpg 0.30+ still runs `Connection._reset()` first (it rolls back a transaction left
    open and drops listener callbacks; asyncpg/pool.py `PoolConnectionHolder.release`), so
    only the session-level state that the query would clear can outlive a release. The hub
    creates none, and the whole code base is held to that (tests/unit/test_pool_reset.py
    scans every SQL text of hub/, streams/ and audit/; tests/integration/test_pool_reset.py
    shows a real unit's state is gone after release):
    - advisory locks: only `pg_advisory_xact_lock` (migrate), released at commit/rollback;
      the ledger's append lock is a row lock (`ledger_head ... FOR UPDATE`);
    - settings: only `SET LOCAL` (stats_store), undone at the transaction's end. The role
      set by `init` (`SET ROLE linkage_hub`) is not undone by `RESET ALL` either (`role` is
      GUC_NO_RESET_ALL), so the restricted role never depended on the reset;
    - cursors: none declared WITH HOLD (asyncpg's cursors live inside a transaction);
    - LISTEN: none (no `add_listener`).
    A statement creating session state must not be added to the hub; if one ever must be,
    it belongs on a connection of its own (asyncpg.connect), not a pooled one."""
    del conn


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 5,
                      restricted: bool = True) -> Pool:
    """A pool whose connections act as the restricted hub role (no UPDATE/DELETE on ledger);
    a released connection is not reset beyond asyncpg's rollback (see `_keep_session`)."""
    async with translated_errors():
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            init=_as_hub_role if restricted else None,
            reset=_keep_session,
            **connection_options(dsn),
        )
    assert pool is not None
    return pool


async def retrying(
    operation: Callable[[], Awaitable[T]],
    *,
    attempts: int | None = None,
    base_delay: float = 0.2,
    max_delay: float = 5.0,
    on_retry: Callable[[Exception, float], Any] | None = None,
) -> T:
    """Run `operation` until it succeeds, backing off on StoreUnavailable."""
    import asyncio

    delay = base_delay
    attempt = 0
    while True:
        attempt += 1
        try:
            return await operation()
        except StoreUnavailable as exc:
            if attempts is not None and attempt >= attempts:
                raise
            if on_retry is not None:
                on_retry(exc, delay)
            log.warning("retrying after %.1fs: %s", delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
