"""First path: a connector's event is verified, ledgered and receipted, on the embedded
PostgreSQL (pgserver) that `linkage-hub up` uses by default; every other module's hub uses
the PostgreSQL server over TCP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.connector import Connector
from tests.integration.conftest import Hub, dedicated_hub

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, pg_root: Path) -> Iterator[Hub]:
    """This module's hub runs on the embedded pgserver (overrides conftest's TCP hub)."""
    with dedicated_hub("pgserver", tmp_path_factory.mktemp("hub-pgserver"), pg_root) as running:
        yield running


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
