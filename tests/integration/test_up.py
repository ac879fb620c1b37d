"""`linkage-hub up` starts the embedded broker and database, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from connectors.connector import Connector
from connectors.outbox import OutboxEntry
from hub.embedded import free_port
from schemas.signing import SigningKey
from tests.eventually import eventually_sync
from tests.records import sample_data
from tests.support import embedded_root, scrape_metrics

pytestmark = pytest.mark.integration


def test_up_runs_embedded_and_stops_cleanly(tmp_path: Path) -> None:
    with embedded_root("up-home") as home:  # the embedded database lives under the home
        _up_runs_embedded_and_stops_cleanly(tmp_path, home / "home")


def _up_runs_embedded_and_stops_cleanly(tmp_path: Path, home: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LINKAGE_KAFKA", "LINKAGE_DATABASE_URL")}
    rules_port, public_port = free_port(), free_port()
    env.update(LINKAGE_HOME=str(home), LINKAGE_HTTP_PORT=str(public_port),
               LINKAGE_RULES_HTTP_PORT=str(rules_port))
    up = subprocess.Popen([sys.executable, "-m", "hub.cli", "up"], env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # Read `up`'s output all along, not just until "hub running": the worker it spawns writes
    # to the same pipe, and once the pipe's buffer (64 KiB) is full every write blocks, which
    # freezes the worker's event loop. On a loaded machine the worker logs more (faust's
    # late-timer and rebalance warnings), so it froze there and no receipt came in 90 s.
    lines: list[str] = []
    assert up.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(up.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        eventually_sync(lambda: any("hub running" in line for line in lines)
                        or up.poll() is not None, timeout=120,
                        describe=lambda: "".join(lines))
        assert up.poll() is None, "".join(lines)
        runtime = json.loads((home / "runtime.json").read_text())
        assert runtime["kafka"].startswith("127.0.0.1:")
        listed = subprocess.run([sys.executable, "-m", "hub.cli", "agency", "list", "--json"],
                                env=env, capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0, listed.stderr
        assert len(json.loads(listed.stdout)) == 9

        # A new agency, added while `up` runs, is subscribed after the automatic restart.
        def cli(*args: str) -> str:
            done = subprocess.run([sys.executable, "-m", "hub.cli", *args], env=env,
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            return done.stdout

        assert "restart" in cli("agency", "add", "zs-tobacco", "--role", "administrative",
                                "--name", "市烟草专卖局")
        key = SigningKey.generate()
        key.write_pair(tmp_path, "zs-tobacco")
        cli("agency", "add-key", "zs-tobacco", str(tmp_path / "zs-tobacco.pub.pem"))
        entry = asyncio.run(_publish_one(key, runtime["kafka"], tmp_path))
        assert entry.status == "accepted"
        # The rules run in their own process, which serves its own /metrics (its timer sets
        # the open-alerts gauge once it reached the database); the public /metrics carries
        # both workers' (each exports the gauge, so it appears once per worker).
        async def rules_metrics() -> bool:
            public = await scrape_metrics(public_port)
            return ("linkage_alerts_open " in await scrape_metrics(rules_port)
                    and public.count("# TYPE linkage_alerts_open gauge") == 2)

        eventually_sync(rules_metrics, timeout=60, describe=lambda: "".join(lines))
        up.send_signal(signal.SIGINT)
        up.wait(timeout=60)
        eventually_sync(lambda: any("已停止 / stopped" in line for line in lines), timeout=10,
                        describe=lambda: "".join(lines))
    finally:
        if up.poll() is None:
            up.kill()
    assert up.returncode == 0
    assert not (home / "runtime.json").exists()


async def _publish_one(key: SigningKey, bootstrap: str, directory: Path) -> OutboxEntry:
    connector = Connector("zs-tobacco", key, bootstrap=bootstrap,
                          outbox_path=directory / "tobacco.sqlite")
    await connector.start()
    try:
        event_id = await connector.publish("case.opened", "TOBACCO-1", sample_data("case.opened"))
        return await connector.wait_for_receipt(event_id, timeout=90)
    finally:
        await connector.stop()


def _processes_with(fragment: str) -> list[int]:
    """Pids whose command line contains fragment (e.g. the broker's listener URL)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if fragment in cmdline:
                found.append(int(proc.name))
    return found


def test_ctrl_c_on_up_piped_to_tee_stops_everything_without_a_traceback(tmp_path: Path) -> None:
    """`linkage-hub up --demo | tee log`, then Ctrl-C mid-demo: the terminal's SIGINT reaches
    the whole group and kills tee first, so up's stdout is a broken pipe while it stops."""
    with embedded_root("up-tee") as root:
        _ctrl_c_on_up_piped_to_tee(tmp_path, root / "home")


def _ctrl_c_on_up_piped_to_tee(tmp_path: Path, home: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LINKAGE_KAFKA", "LINKAGE_DATABASE_URL")}
    env.update(LINKAGE_HOME=str(home), LINKAGE_HTTP_PORT=str(free_port()))
    stderr_path = tmp_path / "up.stderr"
    with open(stderr_path, "wb") as stderr:
        up = subprocess.Popen([sys.executable, "-m", "hub.cli", "up", "--demo"], env=env,
                              stdout=subprocess.PIPE, stderr=stderr, start_new_session=True)
    broker_url = ""
    try:
        assert up.stdout is not None
        seen = b""
        deadline = time.monotonic() + 120
        while "▶".encode() not in seen:  # the demo is under way
            assert time.monotonic() < deadline and up.poll() is None, seen.decode(errors="replace")
            readable, _, _ = select.select([up.stdout], [], [], 0.5)
            if readable:
                chunk = os.read(up.stdout.fileno(), 65536)
                assert chunk, seen.decode(errors="replace")
                seen += chunk
        runtime = json.loads((home / "runtime.json").read_text())
        broker_url = f"tcp://{runtime['kafka']}"
        assert _processes_with(broker_url)
        up.stdout.close()  # tee is gone
        os.killpg(up.pid, signal.SIGINT)  # Ctrl-C
        up.wait(timeout=90)
        eventually_sync(lambda: not _processes_with(broker_url), 30,
                        describe=lambda: "the broker stops")
        eventually_sync(lambda: not (home / "runtime.json").exists(), 5,
                        describe=lambda: "runtime.json removed")
        assert not (home / "pgdata" / "postmaster.pid").exists()
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
        for pid in _processes_with(broker_url) if broker_url else []:
            os.kill(pid, signal.SIGKILL)
    errors = stderr_path.read_text(errors="replace")
    assert "Traceback" not in errors, errors
    assert up.returncode == 0, errors
