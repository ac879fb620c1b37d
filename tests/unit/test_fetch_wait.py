"""The hub's Kafka consumers wait at most their configured fetch wait, never faust's 1,500 ms."""

from __future__ import annotations

from pathlib import Path

from hub.settings import Settings
from hub.worker import build_app, ingress_consumer_config, rules_consumer_config


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"LINKAGE_HOME": str(tmp_path), "LINKAGE_KAFKA": "127.0.0.1:1",
                              "LINKAGE_DATABASE_URL": "postgresql://x@127.0.0.1:1/x", **env})


def test_the_default_wait_is_short_only_for_the_embedded_broker(tmp_path: Path) -> None:
    assert settings(tmp_path).fetch_wait_ms == 500
    assert settings(tmp_path, LINKAGE_FAST_REBALANCE="1").fetch_wait_ms == 50
    assert settings(tmp_path, LINKAGE_FAST_REBALANCE="1",
                    LINKAGE_FETCH_WAIT_MS="200").fetch_wait_ms == 200
    assert settings(tmp_path, LINKAGE_FAST_REBALANCE="1").rules_fetch_wait_ms == 500


def test_each_batch_consumer_gets_its_configured_wait(tmp_path: Path) -> None:
    configured = settings(tmp_path, LINKAGE_FETCH_WAIT_MS="37", LINKAGE_RULES_FETCH_WAIT_MS="41")
    assert ingress_consumer_config(configured)["fetch_max_wait_ms"] == 37
    assert rules_consumer_config(configured)["fetch_max_wait_ms"] == 41


def test_faust_starts_no_consumer_of_its_own(tmp_path: Path) -> None:
    """faust's consumer would wait its hard-coded 1,500 ms per fetch: it must not run."""
    for role in ("all", "ingress", "rules"):
        app = build_app(settings(tmp_path), ["zs-aic"], role)  # type: ignore[arg-type]
        assert not app.boot_strategy.enable_kafka_consumer
        assert not app.agents
