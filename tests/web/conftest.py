"""One real stack for the workbench tests: Tansu broker, PostgreSQL over TCP, the hub worker,
and `linkage-hub web` on its own port, with one user per role and three cases of known scope.

    P  opened by zs-aic, over the threshold, fined, never transferred: an open alert
    T  opened by zs-aic, transferred to zs-psb
    C  opened by zs-customs
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from audit.note_keys import CosignatureSigner
from connectors.connector import Connector
from hub.embedded import free_port
from tests.integration.conftest import Hub, dedicated_hub
from tests.support import stop_embedded

T = TypeVar("T")

USERS = {  # name: (agency, role)
    "sup": ("zs-procuratorate", "supervisor"),
    "aic": ("zs-aic", "officer"),
    "psb": ("zs-psb", "officer"),
    "cus": ("zs-customs", "officer"),
    "aud": ("zs-procuratorate", "auditor"),
    "adm": ("zs-procuratorate", "admin"),
    "lockme": ("zs-aic", "officer"),
    "gone": ("zs-aic", "officer"),
    "lockweb": ("zs-aic", "officer"),
}
PERSON_ID = "442000199001011234"
WITNESS = CosignatureSigner.generate("witness.example/audit")  # configured for the web process
LOCKOUT = 3


def password(user: str) -> str:
    return f"pw-{user}-0123456789"


def ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).isoformat()


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float = 60.0,
                     what: str = "condition") -> T:
    """Poll `probe` until it returns something (not None/False), or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


@dataclass
class Stack:
    hub: Hub
    web: subprocess.Popen[bytes]
    base: str
    env: dict[str, str]
    cases: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hub.cli", *args], env=self.env,
                              input=stdin, capture_output=True, text=True, timeout=120)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base, timeout=30)

    async def token(self, user: str) -> str:
        if user not in self.tokens:
            async with self.client() as http:
                answer = await http.post("/api/v1/tokens",
                                         json={"username": user, "password": password(user)})
                assert answer.status_code == 200, answer.text
                self.tokens[user] = answer.json()["token"]
        return self.tokens[user]

    async def get(self, user: str | None, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {await self.token(user)}"} if user else {}
        async with self.client() as http:
            return await http.get(path, headers=headers, **kw)

    def log_text(self) -> str:
        return (self.hub.process.home / "web.log").read_text(errors="replace")


async def _send(connector: Connector, type_name: str, case_id: str, data: dict[str, Any]) -> None:
    event_id = await connector.publish(type_name, case_id, data)
    entry = await connector.wait_for_receipt(event_id, timeout=90)
    assert entry.status == "accepted", entry


async def _seed(hub: Hub, tmp: Path) -> dict[str, str]:
    tag = uuid.uuid4().hex[:6]
    cases = {"P": f"WB-P-{tag}", "T": f"WB-T-{tag}", "C": f"WB-C-{tag}"}
    aic = hub.connector("zs-aic", tmp / "aic.sqlite")
    customs = hub.connector("zs-customs", tmp / "customs.sqlite")
    await aic.start()
    await customs.start()
    try:
        person = {"kind": "person", "id_type": "RIC", "id_number": PERSON_ID, "name": "张三"}
        org = {"kind": "organization", "id_type": "USCC", "id_number": "91442000MA4W1AB23X",
               "name": "古镇某灯饰厂"}
        await _send(aic, "case.opened", cases["P"], {
            "offence": "trademark_counterfeiting", "opened_at": ago(hours=5),
            "summary": f"灯具，负责人身份证 {PERSON_ID}", "parties": [org, person]})
        await _send(aic, "case.assessed", cases["P"], {
            "assessed_at": ago(hours=4), "illegal_business_amount": "86000.00"})
        await _send(aic, "penalty.decided", cases["P"], {
            "decision_no": "中工商罚〔2026〕9号", "decided_at": ago(hours=3),
            "fine": "20000.00", "confiscated": "0.00"})
        await _send(aic, "case.opened", cases["T"], {
            "offence": "counterfeit_goods_sale", "opened_at": ago(hours=5), "summary": "门店",
            "parties": [org]})
        await _send(aic, "case.transferred", cases["T"], {
            "to_agency": "zs-psb", "transferred_at": ago(hours=1), "documents": [
                {"kind": "transfer_letter", "title": "移送书", "sha256": "ab" * 32}]})
        await _send(customs, "case.opened", cases["C"], {
            "offence": "counterfeit_goods_sale", "opened_at": ago(hours=5), "summary": "出口",
            "parties": [org]})
    finally:
        await aic.stop()
        await customs.stop()
    return cases


@pytest.fixture(scope="session")
def web_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("web")
    yield root
    stop_embedded()


@pytest.fixture(scope="session")
def started(web_root: Path) -> Iterator[Stack]:
    """Broker, database, worker and web process, with the users (no cases yet)."""
    (web_root / "hub").mkdir(exist_ok=True)
    with dedicated_hub("tcp", web_root / "hub", web_root) as hub:
        port = free_port()
        env = dict(hub.process.env(), LINKAGE_HTTP_PORT=str(port),
                   LINKAGE_LOCKOUT_THRESHOLD=str(LOCKOUT),
                   LINKAGE_WORKER_METRICS_URL=f"http://127.0.0.1:{hub.process.http_port}/metrics",
                   LINKAGE_MASTER_SECRET="test-master-secret",
                   LINKAGE_WITNESSES=WITNESS.vkey())
        log = open(hub.process.home / "web.log", "ab")
        web = subprocess.Popen([sys.executable, "-m", "hub.cli", "web"], env=env,
                               stdout=log, stderr=log)
        running = Stack(hub, web, f"http://127.0.0.1:{port}", env, {})
        try:
            for user, (agency, role) in USERS.items():
                done = running.cli("user", "add", user, "--agency", agency, "--role", role,
                                   "--password-stdin", stdin=password(user) + "\n")
                assert done.returncode == 0, done.stderr
            yield running
        finally:
            web.terminate()
            web.wait(15)


@pytest.fixture(scope="session")
async def stack(started: Stack, web_root: Path) -> Stack:
    """The running stack once it is healthy and holds the three cases and P's alert."""
    if started.cases:
        return started

    async def healthy() -> bool:
        try:
            async with started.client() as http:
                return (await http.get("/healthz")).status_code == 200
        except httpx.TransportError:
            assert started.web.poll() is None, started.log_text()
            return False

    await eventually(healthy, what="the web service")
    started.cases = await _seed(started.hub, web_root)

    async def alert_raised() -> bool:
        answer = await started.get("sup", "/api/v1/alerts", params={"case": started.cases["P"]})
        return answer.status_code == 200 and len(answer.json()) > 0

    await eventually(alert_raised, what="the penalty alert")
    return started
