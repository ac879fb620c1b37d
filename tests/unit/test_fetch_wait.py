"""The hub's Kafka consumer waits at most Settings.fetch_wait_ms per fetch, not faust's 1,500."""

from __future__ import annotations

from pathlib import Path

from hub.settings import Settings
from hub.worker import build_app, ingress_consumer_config


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"LINKAGE_HOME": str(tmp_path), "LINKAGE_KAFKA": "127.0.0.1:1",
                              "LINKAGE_DATABASE_URL": "postgresql://x@127.0.0.1:1/x", **env})


def test_the_default_wait_is_short_only_for_the_embedded_broker(tmp_path: Path) -> None:
    assert settings(tmp_path).fetch_wait_ms == 500
    assert settings(tmp_path, LINKAGE_FAST_REBALANCE="1").fetch_wait_ms == 50
    assert settings(tmp_path, LINKAGE_FAST_REBALANCE="1",
                    LINKAGE_FETCH_WAIT_MS="200").fetch_wait_ms == 200
    assert settings(tmp_path, LINKAGE_FAST_REBALANCE="1").rules_fetch_wait_ms == 500


async def test_the_workers_aiokafka_consumer_gets_the_configured_wait(tmp_path: Path) -> None:
    app = build_app(settings(tmp_path, LINKAGE_RULES_FETCH_WAIT_MS="37"), ["zs-aic"])
    thread = app.consumer._new_consumer_thread()
    consumer = thread._create_worker_consumer(app.transport)
    try:
        assert consumer._fetch_max_wait_ms == 37  # faust's consumer carries only the rules
        assert consumer._group_id == "linkage-hub-rules"  # otherwise as faust built it
    finally:
        await consumer.stop()
    assert ingress_consumer_config(settings(tmp_path, LINKAGE_FETCH_WAIT_MS="37"))[
        "fetch_max_wait_ms"] == 37  # the ingress BatchConsumer's own aiokafka consumer
