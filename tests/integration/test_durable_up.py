"""`up`'s embedded broker is durable: topics and committed offsets survive a kill -9 of `up`."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from connectors.connector import Connector
from schemas.signing import SigningKey
from schemas.topics import EVENTS, ingress_topic, receipts_topic
from tests.kafka_io import read_topic
from tests.records import sample_data
from tests.up_process import cli, start_up, up_env

pytestmark = pytest.mark.integration

N = 20


async def _publish(key: SigningKey, bootstrap: str, outbox: Path, cases: list[str]) -> None:
    connector = Connector("zs-aic", key, bootstrap=bootstrap, outbox_path=outbox)
    await connector.start()
    try:
        for case in cases:
            await connector.publish("case.opened", case, sample_data("case.opened"))
        await connector.wait_for_all(timeout=120)
        assert connector.outbox.counts() == {"accepted": len(cases)}
    finally:
        await connector.stop()


async def _committed(bootstrap: str, topic: str) -> int:
    """The hub group's committed offset of partition 0 of topic (0 when none)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id="linkage-hub",
                                enable_auto_commit=False)
    await consumer.start()
    try:
        return int(await consumer.committed(TopicPartition(topic, 0)) or 0)
    finally:
        await consumer.stop()


async def _wait_committed(bootstrap: str, topic: str, offset: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (seen := await _committed(bootstrap, topic)) < offset:
        assert time.monotonic() < deadline, f"{topic}: committed {seen}, want {offset}"
        await asyncio.sleep(0.2)


def test_topics_and_offsets_survive_kill_9_of_up(tmp_path: Path) -> None:
    env = up_env(tmp_path / "home")  # the default: durable embedded storage
    key = SigningKey.generate()
    key.write_pair(tmp_path, "zs-aic")
    up, runtime = start_up(env)
    try:
        cli(env, "agency", "add-key", "zs-aic", str(tmp_path / "zs-aic.pub.pem"))
        bootstrap = runtime["kafka"]
        asyncio.run(_publish(key, bootstrap, tmp_path / "a.sqlite",
                             [f"DUR-{i}" for i in range(N)]))
        asyncio.run(_wait_committed(bootstrap, ingress_topic("zs-aic"), N))
        up.send_signal(signal.SIGKILL)  # no clean stop: the broker and worker die with it
        up.wait(30)

        up, again = start_up(env)
        assert again["kafka"] == bootstrap, "the durable broker keeps its port"
        receipts = asyncio.run(read_topic(bootstrap, receipts_topic("zs-aic")))
        assert len(receipts) == N, "receipts written before the kill are still there"
        assert len(asyncio.run(read_topic(bootstrap, EVENTS))) == N
        assert asyncio.run(_committed(bootstrap, ingress_topic("zs-aic"))) == N

        # The restarted worker resumes at the committed offset: one new event, one new receipt.
        asyncio.run(_publish(key, bootstrap, tmp_path / "b.sqlite", ["DUR-after"]))
        assert len(asyncio.run(read_topic(bootstrap, receipts_topic("zs-aic")))) == N + 1
        up.send_signal(signal.SIGINT)
        up.wait(60)
    finally:
        if up.poll() is None:
            up.kill()
    assert up.returncode == 0
