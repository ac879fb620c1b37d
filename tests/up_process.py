"""`linkage-hub up` as a subprocess for tests: start it, wait until it serves, stop or kill it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from hub.embedded import free_port
from tests.eventually import eventually_sync


def up_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of an `up` with its own home, embedded broker and database."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("LINKAGE_KAFKA", "LINKAGE_DATABASE_URL")}
    env.update(LINKAGE_HOME=str(home), LINKAGE_HTTP_PORT=str(free_port()), **extra)
    return env


def start_up(env: dict[str, str], timeout: float = 120.0) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Start `linkage-hub up`; return it and its runtime.json once it says the hub runs.

    Its output is read all along by a thread (see test_up.py: a full pipe freezes the worker).
    """
    up = subprocess.Popen([sys.executable, "-m", "hub.cli", "up"], env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines: list[str] = []
    assert up.stdout is not None
    threading.Thread(target=lambda: lines.extend(up.stdout), daemon=True).start()  # type: ignore[arg-type]
    try:
        eventually_sync(lambda: any("hub running" in line for line in lines)
                        or up.poll() is not None, timeout=timeout,
                        describe=lambda: "".join(lines))
        assert up.poll() is None, "".join(lines)
    except AssertionError:
        up.kill()
        raise
    runtime = json.loads((Path(env["LINKAGE_HOME"]) / "runtime.json").read_text())
    return up, runtime


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "hub.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout
