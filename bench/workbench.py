"""Workbench benchmark: p50/p95 over HTTP of the alert board (100,000 alerts, filtered and
paged) and of the case page (a case with 1,000 ledgered events), as pages and as JSON.

What is measured, honestly:

1. setup (not timed): a fresh database on the local PostgreSQL; the default registry;
   `--alerts` alerts on `--alerts / 4` cases of six administrative agencies (four rules per
   case, 80% open), each case in its opener's scope, inserted with SQL straight into the
   rules layer's tables; one case whose 1,000 events (signed DSSE envelopes over CloudEvents,
   as agencies send them) are appended to the ledger with their Merkle nodes and folded
   into its state; a supervisor and an officer of 市工商局.
2. `linkage-hub web` started as under `linkage-hub up` (uvicorn, one process), no broker.
3. timed: sequential GET requests with a bearer token or session cookie from one client
   (httpx, keep-alive) after 10 warm-up requests per target: the time from sending the
   request to the last byte of the answer, on this (2-core, shared) machine.

    python bench/workbench.py [--alerts 100000] [--events 1000] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audit.ledger import NewEntry
from connectors.events import build_event
from hub.access import Role
from hub.adapters.accounts_store import PostgresAccounts
from hub.adapters.ledger_store import PostgresLedger
from hub.adapters.postgres import create_pool, migrate
from hub.adapters.registry_store import PostgresRegistry
from hub.embedded import free_port
from hub.settings import Settings
from hub.web.security import hash_password
from schemas.dsse import EVENT_PAYLOAD_TYPE
from schemas.signing import SigningKey
from streams.rules_runner import CaseFold

ROOT = Path(__file__).resolve().parents[1]
AGENCIES = ["zs-aic", "zs-qts", "zs-culture", "zs-agri", "zs-customs", "zs-ipo"]
RULES = ["SHOULD_TRANSFER", "PENALTY_INSTEAD_OF_TRANSFER", "DOCUMENTS_MISSING", "HANDOVER_LATE"]
OFFENCES = ["trademark_counterfeiting", "counterfeit_goods_sale", "shoddy_products",
            "copyright_infringement", "fake_agricultural_inputs"]
BIG_CASE = "BENCH-BIG-CASE"
PASSWORD = "bench-password-0123"


async def fresh_database() -> tuple[str, str]:
    admin = os.environ.get("LINKAGE_TEST_TCP_DSN",
                           "postgresql://postgres:postgres@127.0.0.1:5432/postgres")
    name = f"linkage_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return admin, name


async def drop(admin: str, name: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def seed(dsn: str, alerts: int, events: int) -> None:
    await migrate(dsn)
    pool = await create_pool(dsn, max_size=4, restricted=False)
    try:
        await PostgresRegistry(pool).seed()
        accounts = PostgresAccounts(pool)
        await accounts.add_user("sup", "zs-procuratorate", Role.SUPERVISOR,
                                hash_password(PASSWORD))
        await accounts.add_user("aic", "zs-aic", Role.OFFICER, hash_password(PASSWORD))
        await seed_alerts(pool, alerts)
        await seed_big_case(pool, events)
        async with pool.acquire() as conn:
            await conn.execute("VACUUM ANALYZE")  # what autovacuum does after a bulk load
    finally:
        await pool.close()


async def seed_alerts(pool: asyncpg.Pool, alerts: int) -> None:
    rng = random.Random(7)
    cases = alerts // len(RULES)
    now = datetime.now(UTC)
    ids = [f"BENCH-{n:06d}" for n in range(cases)]
    agency = [AGENCIES[n % len(AGENCIES)] for n in range(cases)]
    offence = [OFFENCES[n % len(OFFENCES)] for n in range(cases)]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO cases (case_id, agency, state) SELECT id, a,"
            " jsonb_build_object('case_id', id, 'agency', a, 'offence', o)"
            " FROM unnest($1::text[], $2::text[], $3::text[]) AS t(id, a, o)",
            ids, agency, offence)
        await conn.execute(
            "INSERT INTO case_scope (case_id, agency_id)"
            " SELECT * FROM unnest($1::text[], $2::text[])", ids, agency)
        rows = []
        for n, case_id in enumerate(ids):
            for rule in RULES:
                raised = now - timedelta(minutes=rng.randrange(0, 60 * 24 * 365))
                status = "open" if rng.random() < 0.8 else "resolved"
                payload = {
                    "alert_id": str(uuid.uuid4()), "rule_id": rule, "status": status,
                    "case_id": case_id, "agency": agency[n],
                    "raised_at": raised.isoformat(), "due_at": raised.isoformat(),
                    "legal_basis": "国务院《行政执法机关移送涉嫌犯罪案件的规定》第三条 / SC Art 3",
                    "facts": {"illegal_business_amount": "86000.00"},
                    "message_zh": f"【{rule}】基准测试预警", "message_en": f"[{rule}] benchmark alert"}
                rows.append((payload["alert_id"], rule, case_id, agency[n], status,
                             json.dumps(payload, ensure_ascii=False), raised))
        await conn.executemany(
            "INSERT INTO alerts (alert_id, rule_id, case_id, agency, status, payload,"
            " first_raised_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $7)", rows)


async def seed_big_case(pool: asyncpg.Pool, events: int) -> None:
    key = SigningKey.generate()
    start = datetime.now(UTC) - timedelta(days=30)
    party = [{"kind": "organization", "id_type": "USCC", "id_number": "91442000MA4W1AB23X",
              "name": "古镇某灯饰厂"}]
    records: list[NewEntry] = []
    fold = CaseFold()
    for n in range(events):
        at = start + timedelta(minutes=n)
        if n == 0:
            type_name, data = "case.opened", {"offence": "trademark_counterfeiting",
                                              "opened_at": at.isoformat(), "summary": "大案",
                                              "parties": party}
        elif n % 2:
            type_name, data = "case.assessed", {"assessed_at": at.isoformat(),
                                                "illegal_business_amount": f"{1000 + n}.00"}
        else:
            type_name, data = "evidence.handed_over", {
                "handover_id": f"H-{n}", "to_agency": "zs-psb", "handed_over_at": at.isoformat(),
                "items": [{"item_id": f"I-{n}", "description": "灯具", "quantity": 10}]}
        event_id, raw = build_event("zs-aic", type_name, BIG_CASE, data, time=at)
        value = key.sign_envelope(EVENT_PAYLOAD_TYPE, raw).to_json_bytes()
        fold.add(value)
        records.append(NewEntry(event_id, "zs-aic", BIG_CASE, type_name, at, at, key.keyid,
                                value))
    ledger = PostgresLedger(pool)
    async with pool.acquire() as conn, conn.transaction():
        await ledger.append(conn, records)
        state = fold.states[BIG_CASE]
        await conn.execute(
            "INSERT INTO cases (case_id, agency, state) VALUES ($1, 'zs-aic', $2::jsonb)",
            BIG_CASE, state.model_dump_json())
        await conn.execute("INSERT INTO case_scope VALUES ($1, 'zs-aic')", BIG_CASE)
        await conn.execute("UPDATE scope_watermark SET next_index = $1", events)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(client: httpx.Client, path: str, requests: int, **kw: object) -> tuple[float, float,
                                                                                  int]:
    for _ in range(10):
        answer = client.get(path, **kw)  # type: ignore[arg-type]
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        answer = client.get(path, **kw)  # type: ignore[arg-type]
        answer.read()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), percentile(times, 0.95), len(answer.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    admin, name = asyncio.run(fresh_database())
    dsn = admin.rsplit("/", 1)[0] + f"/{name}"
    web: subprocess.Popen[bytes] | None = None
    try:
        started = time.perf_counter()
        asyncio.run(seed(dsn, args.alerts, args.events))
        print(f"setup: {args.alerts:,} alerts, a case of {args.events:,} events "
              f"({time.perf_counter() - started:.1f} s)", flush=True)
        port = free_port()
        home = Path(tempfile.mkdtemp(prefix="linkage-bench-web-"))
        env = {k: v for k, v in os.environ.items() if k != "LINKAGE_KAFKA"}
        env.update(LINKAGE_DATABASE_URL=dsn, LINKAGE_HOME=str(home),
                   LINKAGE_HTTP_PORT=str(port))
        Settings.from_env(env).ensure_hub_key()  # as `linkage-hub init` does
        web = subprocess.Popen([sys.executable, "-m", "hub.cli", "web"], env=env, cwd=ROOT)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=60) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline and web.poll() is None, "web did not start"
                time.sleep(0.2)
            tokens = {u: client.post("/api/v1/tokens", json={"username": u, "password": PASSWORD}
                                     ).json()["token"] for u in ("sup", "aic")}
            login = client.get("/login")
            client.post("/login", data={"username": "sup", "password": PASSWORD,
                                        "csrf": login.cookies.get("lh_login_csrf") or ""})
            page = {"cookies": None}
            targets = [
                ("board page, supervisor, open, page 1", "/board?status=open", page),
                ("board page, supervisor, agency+rule filter, page 5",
                 "/board?status=open&agency=zs-qts&rule=DOCUMENTS_MISSING&offset=200", page),
                ("alerts API, supervisor, open, 100 per page",
                 "/api/v1/alerts?status=open&limit=100",
                 {"headers": {"Authorization": f"Bearer {tokens['sup']}"}}),
                ("alerts API, supervisor, offence+period filter, page 10",
                 "/api/v1/alerts?status=open&offence=shoddy_products"
                 f"&from={(datetime.now(UTC) - timedelta(days=90)).date()}&offset=900&limit=100",
                 {"headers": {"Authorization": f"Bearer {tokens['sup']}"}}),
                ("alerts API, officer (scoped), open, 100 per page",
                 "/api/v1/alerts?status=open&limit=100",
                 {"headers": {"Authorization": f"Bearer {tokens['aic']}"}}),
                (f"case page, {args.events:,} events", f"/cases/{BIG_CASE}", page),
                (f"case API, supervisor, {args.events:,} events", f"/api/v1/cases/{BIG_CASE}",
                 {"headers": {"Authorization": f"Bearer {tokens['sup']}"}}),
                (f"case API, officer (scoped), {args.events:,} events",
                 f"/api/v1/cases/{BIG_CASE}",
                 {"headers": {"Authorization": f"Bearer {tokens['aic']}"}}),
            ]
            print(f"{'target':<56} {'p50 ms':>8} {'p95 ms':>8} {'bytes':>9}")
            for label, path, kw in targets:
                extra = {k: v for k, v in kw.items() if v is not None}
                p50, p95, size = measure(client, path, args.requests, **extra)
                print(f"{label:<56} {p50:8.1f} {p95:8.1f} {size:9,}", flush=True)
    finally:
        if web is not None:
            web.terminate()
            web.wait(15)
        asyncio.run(drop(admin, name))


if __name__ == "__main__":
    main()
