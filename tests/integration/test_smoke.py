"""First path: a connector's event is verified, ledgered and receipted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.connector import Connector

pytestmark = pytest.mark.integration


async def test_case_opened_is_accepted(aic: Connector) -> None:
    event_id = await aic.publish("case.opened", "AIC-2026-0001", {
        "offence": "trademark_counterfeiting",
        "opened_at": datetime.now(UTC).isoformat(),
        "parties": [{"kind": "organization", "id_type": "USCC",
                     "id_number": "91442000MA4UXXXX1X", "name": "古镇某灯饰厂"}],
        "summary": "灯博会现场查获假冒注册商标灯具",
    })
    entry = await aic.wait_for_receipt(event_id, timeout=60)
    assert entry.status == "accepted", entry
    assert entry.ledger_index is not None
