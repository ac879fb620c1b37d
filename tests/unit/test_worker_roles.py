"""`up` runs ingress and rules as two faust apps: each role has only its own agents, and the
rules one its own consumer group and HTTP port (hub/worker.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.settings import Settings
from hub.worker import build_app


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env({"LINKAGE_HOME": str(tmp_path), "LINKAGE_KAFKA": "127.0.0.1:1",
                              "LINKAGE_DATABASE_URL": "postgresql://x@127.0.0.1:1/x",
                              "LINKAGE_HTTP_PORT": "9100"})


def agent_topics(app: object) -> set[str]:
    return {t for agent in app.agents.values()  # type: ignore[attr-defined]
            for t in agent.channel.topics}


def test_each_role_consumes_only_its_topics_in_its_own_group(settings: Settings) -> None:
    ingress = build_app(settings, ["zs-aic", "zs-psb"], "ingress")
    rules = build_app(settings, ["zs-aic", "zs-psb"], "rules")
    both = build_app(settings, ["zs-aic", "zs-psb"])
    ingress_topics = {"linkage.ingress.zs-aic", "linkage.ingress.zs-psb"}
    assert agent_topics(ingress) == ingress_topics
    assert agent_topics(rules) == {"linkage.events"}
    assert agent_topics(both) == ingress_topics | {"linkage.events"}
    assert (ingress.conf.id, rules.conf.id) == ("linkage-hub", "linkage-hub-rules")
    assert (ingress.conf.web_port, rules.conf.web_port) == (9100, 9101)
    assert settings.rules_http_port == 9101
