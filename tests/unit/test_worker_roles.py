"""`up` runs ingress and rules as two faust apps: each role reads only its own topics (ingress
through the BatchConsumer in group `linkage-hub`), the rules in their own consumer group and
with their own HTTP port (hub/worker.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.adapters.batch_consumer import BatchConsumer
from hub.settings import Settings
from hub.worker import build_app, ingress_consumer_config


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"LINKAGE_HOME": str(tmp_path), "LINKAGE_KAFKA": "127.0.0.1:1",
                              "LINKAGE_DATABASE_URL": "postgresql://x@127.0.0.1:1/x",
                              "LINKAGE_HTTP_PORT": "9100"})


def agent_topics(app: object) -> set[str]:
    """What faust's own consumer reads (the agents) and what the ingress BatchConsumer reads."""
    faust_topics = {t for agent in app.agents.values()  # type: ignore[attr-defined]
                    for t in agent.channel.topics}
    batch = [s for s in app._extra_services  # type: ignore[attr-defined]
             if issubclass(s, BatchConsumer)]
    assert len(batch) <= 1
    batch_topics = set(batch[0](loop=None)._topics) if batch else set()
    return faust_topics | {f"batch:{t}" for t in batch_topics}


def test_each_role_consumes_only_its_topics_in_its_own_group(settings: Settings) -> None:
    ingress = build_app(settings, ["zs-aic", "zs-psb"], "ingress")
    rules = build_app(settings, ["zs-aic", "zs-psb"], "rules")
    both = build_app(settings, ["zs-aic", "zs-psb"])
    ingress_topics = {"batch:linkage.ingress.zs-aic", "batch:linkage.ingress.zs-psb"}
    assert agent_topics(ingress) == ingress_topics
    assert agent_topics(rules) == {"linkage.events"}
    assert agent_topics(both) == ingress_topics | {"linkage.events"}
    assert (ingress.conf.id, rules.conf.id) == ("linkage-hub-app", "linkage-hub-rules")
    assert ingress_consumer_config(settings)["group_id"] == "linkage-hub"
    assert (ingress.conf.web_port, rules.conf.web_port) == (9100, 9101)
    assert settings.rules_http_port == 9101
