"""`linkage-hub up` as a subprocess for tests: start it, wait until it serves, stop or kill it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hub.embedded import free_port


def up_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of an `up` with its own home, embedded broker and database."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("LINKAGE_KAFKA", "LINKAGE_DATABASE_URL")}
    env.update(LINKAGE_HOME=str(home), LINKAGE_HTTP_PORT=str(free_port()), **extra)
    return env


def start_up(env: dict[str, str], timeout: float = 120.0) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Start `linkage-hub up`; return it and its runtime.json once it says the hub runs."""
    up = subprocess.Popen([sys.executable, "-m", "hub.cli", "up"], env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    assert up.stdout is not None
    while not any("hub running" in line for line in lines):
        if time.monotonic() > deadline or up.poll() is not None:
            up.kill()
            raise AssertionError("".join(lines) + (up.stdout.read() or ""))
        lines.append(up.stdout.readline())
    runtime = json.loads((Path(env["LINKAGE_HOME"]) / "runtime.json").read_text())
    return up, runtime


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "hub.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout
