"""The agency example the README quotes runs, as written, against a real hub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import Hub

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "publish_case.py"


def _run(hub: Hub, cwd: Path, *argv: str, home: Path | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKAGE_")}
    if home is not None:
        env["LINKAGE_HOME"] = str(home)
    done = subprocess.run([sys.executable, str(EXAMPLE), *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_publish_case_example_gets_a_signed_receipt(hub: Hub, tmp_path: Path) -> None:
    # The README's step 1, then step 2 exactly as quoted.
    (tmp_path / "hub.pub.pem").write_text(hub.process.cli("keys", "hub").stdout)
    key = str(hub.keys_dir / "zs-aic.key.pem")
    status, index, *_ = _run(hub, tmp_path, key, "hub.pub.pem", hub.process.bootstrap).split()
    assert status == "accepted" and index.isdigit()
    assert (tmp_path / "zs-aic.outbox.sqlite").exists()
    entries = json.loads(hub.process.cli("ledger", "list", "--case", "AIC-2026-0001",
                                         "--json").stdout)
    assert int(index) in {e["ledger_index"] for e in entries}


def test_publish_case_example_finds_the_broker_of_up(hub: Hub, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "runtime.json").write_text(json.dumps({  # what `linkage-hub up` writes
        "kafka": hub.process.bootstrap, "database_url": hub.process.database_url,
        "pid": os.getpid()}))
    (tmp_path / "hub.pub.pem").write_text(hub.process.cli("keys", "hub").stdout)
    out = _run(hub, tmp_path, str(hub.keys_dir / "zs-aic.key.pem"), "hub.pub.pem", home=home)
    assert out.split()[0] == "accepted"
