"""`linkage-hub demo` (what `up --demo` runs) shows every outcome it claims and its alerts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Hub, dedicated_hub

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo_hub(tmp_path_factory: pytest.TempPathFactory, pg_root: Path) -> Iterator[Hub]:
    with dedicated_hub("tcp", tmp_path_factory.mktemp("demo"), pg_root) as running:
        yield running


def test_demo_shows_accepted_duplicate_rejected_and_its_alerts(demo_hub: Hub) -> None:
    # 86400: a legal day per second, so the back-dated deadlines lapse a second after sending.
    result = demo_hub.process.cli("demo", "--accelerate", "86400")
    out = result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    assert "→ 接收 accepted #" in out
    assert "→ 重复 duplicate: 已于账本序号" in out
    for reason in ("UNKNOWN_KEY", "SCHEMA_INVALID", "CLOCK_SKEW", "NOT_PERMITTED",
                   "MALFORMED_ENVELOPE"):  # each bad record's receipt, reason in zh and en
        assert re.search(rf"→ 拒收 rejected {reason}: \S+.* / [a-z]", out), (reason, out)
    assert "等待回执超时 / no receipt yet" not in out and "回执无事件编号" not in out
    alerts = set(re.findall(r"⚠ 预警 open ([A-Z_]+) ", out))
    # the overdue deadline (HANDOVER_LATE, raised by the sweep after the back-dated day
    # lapses) and rules raised on arrival
    assert {"HANDOVER_LATE", "PENALTY_INSTEAD_OF_TRANSFER", "SPLIT_CASES"} <= alerts, out
    # contract v1.1: reverse transfer, complaints, and the screening signals (practice)
    assert {"OPINION_NOT_ANSWERED", "COMPLAINT_NOT_DECIDED", "REPORTER_NOT_TOLD",
            "NEAR_THRESHOLD_PENALTY", "MULTI_AGENCY_PENALTIES"} <= alerts, out
    summary = re.search(r"接收 accepted (\d+), 重复 duplicate (\d+), 拒收 rejected (\d+); "
                        r"预警 / alerts: 预警 open (\d+)", out)
    assert summary is not None, out
    accepted, duplicate, rejected, opened = map(int, summary.groups())
    assert accepted == out.count("→ 接收 accepted #")
    assert (duplicate, rejected) == (1, 5)
    assert opened == out.count("⚠ 预警 open ")
