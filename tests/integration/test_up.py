"""`linkage-hub up` starts the embedded broker and database, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest

from connectors.connector import Connector
from connectors.outbox import OutboxEntry
from schemas.signing import SigningKey
from tests.records import sample_data
from tests.up_process import cli, start_up, up_env

pytestmark = pytest.mark.integration


def test_up_runs_embedded_and_stops_cleanly(tmp_path: Path) -> None:
    env = up_env(tmp_path / "home", LINKAGE_EMBEDDED_STORAGE="memory")
    up, runtime = start_up(env)
    try:
        assert runtime["kafka"].startswith("127.0.0.1:")
        assert len(json.loads(cli(env, "agency", "list", "--json"))) == 9

        # A new agency, added while `up` runs, is subscribed after the automatic restart.
        assert "restart" in cli(env, "agency", "add", "zs-tobacco", "--role", "administrative",
                                "--name", "市烟草专卖局")
        key = SigningKey.generate()
        key.write_pair(tmp_path, "zs-tobacco")
        cli(env, "agency", "add-key", "zs-tobacco", str(tmp_path / "zs-tobacco.pub.pem"))
        entry = asyncio.run(_publish_one(key, runtime["kafka"], tmp_path))
        assert entry.status == "accepted"
        up.send_signal(signal.SIGINT)
        rest, _ = up.communicate(timeout=60)
    finally:
        if up.poll() is None:
            up.kill()
    assert up.returncode == 0
    assert "已停止 / stopped" in rest
    assert not (tmp_path / "home" / "runtime.json").exists()


async def _publish_one(key: SigningKey, bootstrap: str, directory: Path) -> OutboxEntry:
    connector = Connector("zs-tobacco", key, bootstrap=bootstrap,
                          outbox_path=directory / "tobacco.sqlite")
    await connector.start()
    try:
        event_id = await connector.publish("case.opened", "TOBACCO-1", sample_data("case.opened"))
        return await connector.wait_for_receipt(event_id, timeout=90)
    finally:
        await connector.stop()
