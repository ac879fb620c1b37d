"""Publish one case event as agency zs-aic and wait for the hub's signed receipt.

    python examples/publish_case.py keys/zs-aic.key.pem hub.pub.pem [BOOTSTRAP]

BOOTSTRAP is the Kafka broker (e.g. kafka.example.gov.cn:9093); without it, the embedded
broker of `linkage-hub up` on this machine, read from $LINKAGE_HOME/runtime.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from connectors.connector import Connector
from schemas.signing import SigningKey, load_public_pem

CASE_OPENED = {  # the `data` of a case.opened event (docs/events.md lists every type)
    "offence": "trademark_counterfeiting",
    "opened_at": "2026-03-02T09:30:00+08:00",
    "summary": "灯博会现场查获假冒注册商标灯具 320 件",
    "parties": [{"kind": "organization", "id_type": "USCC",
                 "id_number": "91442000MA4W1AB23X", "name": "中山市古镇某灯饰有限公司"}],
}


def local_broker() -> str:
    """The broker of `linkage-hub up` on this machine (contract section 6)."""
    home = Path(os.environ.get("LINKAGE_HOME", ".linkage-hub"))
    return str(json.loads((home / "runtime.json").read_text())["kafka"])


async def publish(key_file: str, hub_key_file: str, bootstrap: str) -> str:
    connector = Connector(
        "zs-aic", SigningKey.from_file(key_file), bootstrap=bootstrap,
        outbox_path="zs-aic.outbox.sqlite",  # signed events wait here until receipted
        hub_public_key=load_public_pem(Path(hub_key_file).read_bytes()),
    )
    await connector.start()
    try:
        event_id = await connector.publish("case.opened", "AIC-2026-0001", CASE_OPENED)
        entry = await connector.wait_for_receipt(event_id, timeout=60)
        print(entry.status, entry.ledger_index, entry.reason or "", entry.detail or "")
        return entry.status  # accepted, duplicate, or rejected with a reason
    finally:
        await connector.stop()  # unsent events stay in the outbox for the next start


if __name__ == "__main__":
    key_file, hub_key_file, *broker = sys.argv[1:]
    asyncio.run(publish(key_file, hub_key_file, broker[0] if broker else local_broker()))
