"""HTTP ingress benchmark (contract section 8), run by `bench/ingress.py --http N` after the
Kafka path on the same hub: starts `linkage-hub web`, POSTs N signed events with C in flight,
and reports events/s and p50/p99 POST-to-receipt latency (each answer a 200 with the signed
receipt; a 202 would count as not receipted within the wait)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from hub.embedded import free_port
from schemas.signing import SigningKey
from tests.records import event_dict, signed

__all__ = ["http_bench"]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))]


async def http_bench(env: dict[str, str], home: Path, key: SigningKey, n: int,
                     concurrency: int) -> dict[str, Any]:
    port = free_port()
    web_env = dict(env, LINKAGE_HTTP_PORT=str(port), LINKAGE_INGRESS_RATE="1000000",
                   LINKAGE_INGRESS_BURST="1000000")
    log = open(home / "web-bench.log", "ab")
    web = subprocess.Popen([sys.executable, "-m", "hub.cli", "web"], env=web_env,
                           stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60,
                                     limits=httpx.Limits(max_connections=concurrency)) as http:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or web.poll() is not None:
                    raise RuntimeError(f"web did not start: see {home / 'web-bench.log'}")
                await asyncio.sleep(0.2)
            bodies = []
            for i in range(n + 1):
                bodies.append(signed(key, "zs-aic", event_dict(
                    "zs-aic", "case.assessed", f"H-{i % 1000}")).value)
            warm = await http.post("/api/v1/ingress/zs-aic", content=bodies.pop())
            assert warm.status_code == 200, warm.text
            latencies: list[float] = []
            statuses: dict[int, int] = {}
            queue: asyncio.Queue[bytes] = asyncio.Queue()
            for body in bodies:
                queue.put_nowait(body)

            async def worker() -> None:
                while not queue.empty():
                    body = queue.get_nowait()
                    sent = time.perf_counter()
                    answer = await http.post("/api/v1/ingress/zs-aic", content=body,
                                             headers={"Content-Type": "application/json"})
                    statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                    if answer.status_code == 200:
                        latencies.append((time.perf_counter() - sent) * 1000)

            started = time.perf_counter()
            await asyncio.gather(*[worker() for _ in range(concurrency)])
            elapsed = time.perf_counter() - started
    finally:
        web.terminate()
        web.wait(15)
        log.close()
    return {"events": n, "concurrency": concurrency, "events_per_s": n / elapsed,
            "p50_ms": _pct(latencies, 50) if latencies else None,
            "p99_ms": _pct(latencies, 99) if latencies else None, "statuses": statuses}


def report(result: dict[str, Any]) -> None:
    print(f"HTTP ingress             : {result['events']} POSTs, {result['concurrency']} in "
          f"flight, statuses {result['statuses']}")
    print(f"  throughput             : {result['events_per_s']:,.0f} events/s")
    print(f"  POST → receipt (200)   : p50 {result['p50_ms']:,.0f} ms, "
          f"p99 {result['p99_ms']:,.0f} ms")
