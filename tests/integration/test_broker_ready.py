"""`prepare` (start-up of `up` and the worker) waits for a broker that does not answer yet, and
a broker that never answers is the hub's BrokerUnavailable (a zh/en line), not a driver error."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.adapters.kafka_publisher import BrokerUnavailable
from hub.commands.up import prepare
from hub.embedded import EmbeddedBroker, free_port
from hub.settings import Settings
from tests.eventually import eventually
from tests.support import tcp_database

pytestmark = pytest.mark.integration


@pytest.fixture
def dsn() -> str:
    return tcp_database()


def settings_for(home: Path, port: int, dsn: str) -> dict[str, str]:
    return {"LINKAGE_HOME": str(home), "LINKAGE_KAFKA": f"127.0.0.1:{port}",
            "LINKAGE_DATABASE_URL": dsn}


async def test_prepare_waits_for_a_broker_that_starts_late(
        tmp_path: Path, dsn: str, caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    settings = Settings.from_env(settings_for(tmp_path, port, dsn))
    caplog.set_level(logging.WARNING, logger="hub.commands.up")
    preparing = asyncio.create_task(prepare(settings, ready_timeout=120))
    # The broker starts only once prepare has found it not answering.
    await eventually(lambda: "waiting for the Kafka broker" in caplog.text or preparing.done(),
                     60, interval=0.05)
    assert not preparing.done(), preparing
    broker = await asyncio.to_thread(EmbeddedBroker(port=port).start)
    try:
        agencies = await asyncio.wait_for(preparing, 120)
        assert "zs-aic" in agencies
    finally:
        await asyncio.to_thread(broker.stop)


async def test_no_broker_is_broker_unavailable(tmp_path: Path, dsn: str) -> None:
    settings = Settings.from_env(settings_for(tmp_path, free_port(), dsn))
    with pytest.raises(BrokerUnavailable, match="does not answer"):
        await prepare(settings, ready_timeout=0.5)


def test_init_without_a_broker_says_so_in_one_line(tmp_path: Path, dsn: str) -> None:
    env = settings_for(tmp_path / "home", free_port(), dsn)
    done = subprocess.run([sys.executable, "-m", "hub.cli", "init"], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "未应答 / the Kafka broker" in done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
