"""Fixtures that put a test module on both engines (Tansu, the Apache Kafka cluster).

A module binds them to its own names, which overrides conftest's `engine` (Tansu only) and,
for modules using `hub`, the session's shared Tansu hub with a module hub on each engine:

    from tests.integration import both_engines
    engine = both_engines.engine
    hub = both_engines.hub
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import Hub


@pytest.fixture(scope="module")
def engine(two_engines: str) -> str:
    """This module's tests run on Tansu and on the Apache Kafka cluster (conftest.py)."""
    return two_engines


@pytest.fixture(scope="module")
def hub(hub_on_engine: Hub) -> Hub:
    """A hub of this module's own, on each engine (not the session's shared Tansu hub)."""
    return hub_on_engine
