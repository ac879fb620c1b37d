"""`up` runs ingress and rules as two faust apps: each role reads only its own topics through
its BatchConsumer (ingress in group `linkage-hub`, the rules in `linkage-hub-rules`), the rules
with their own HTTP port (hub/worker.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub import worker
from hub.adapters.batch_consumer import BatchConsumer
from hub.settings import Settings
from hub.worker import Role, build_app


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"LINKAGE_HOME": str(tmp_path), "LINKAGE_KAFKA": "127.0.0.1:1",
                              "LINKAGE_DATABASE_URL": "postgresql://x@127.0.0.1:1/x",
                              "LINKAGE_HTTP_PORT": "9100"})


def consumed(app: object) -> dict[str, set[str]]:
    """Group -> topics, over the app's BatchConsumers (faust runs no consumer of its own)."""
    services = [s(loop=None) for s in app._extra_services  # type: ignore[attr-defined]
                if issubclass(s, BatchConsumer)]
    groups: dict[str, set[str]] = {}
    for service in services:
        groups.setdefault(service._config["group_id"], set()).update(service._topics)
    return groups


def test_each_role_consumes_only_its_topics_in_its_own_group(settings: Settings) -> None:
    ingress = build_app(settings, ["zs-aic", "zs-psb"], "ingress")
    rules = build_app(settings, ["zs-aic", "zs-psb"], "rules")
    both = build_app(settings, ["zs-aic", "zs-psb"])
    ingress_topics = {"linkage.ingress.zs-aic", "linkage.ingress.zs-psb"}
    assert consumed(ingress) == {"linkage-hub": ingress_topics}
    assert consumed(rules) == {"linkage-hub-rules": {"linkage.events"}}
    assert consumed(both) == {"linkage-hub": ingress_topics,
                              "linkage-hub-rules": {"linkage.events"}}
    assert (ingress.conf.web_port, rules.conf.web_port) == (9100, 9101)
    assert settings.rules_http_port == 9101


@pytest.mark.parametrize("role", ["ingress", "rules", "all"])
def test_every_worker_process_collects_its_garbage_on_a_clock_once(
        settings: Settings, role: Role, monkeypatch: pytest.MonkeyPatch) -> None:
    """hub/timed_collections.py: the ingress-only worker too, and one clock per process."""
    started: list[object] = []
    monkeypatch.setattr(worker, "collect_on_a_clock", started.append)
    build_app(settings, ["zs-aic"], role)
    assert len(started) == 1
