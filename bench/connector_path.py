"""The connector's own CPU per event, stage by stage, without a broker (issue 14).

bench/ingress.py measures the connector as one process beside the hub; this runs the same
code path over a fixed workload in one process so that it can be timed per stage and counted
under callgrind (noise-free instructions):

    python bench/connector_path.py -n 2000            # CPU µs/event per stage
    valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file=cg.out \
        python bench/connector_path.py -n 2000 --rounds 1 --callgrind
    python bench/connector_path.py --sum cg.out -n 2000  # instructions per event per stage

Stages, per batch of 500 events as the bench offers them: `enqueue_many` (build, validate,
sign, store: one outbox commit), `pending` (read the batch back), `encode` (one record batch
per partition, built as the producer's sender builds it; the broker round trip is not here),
`mark_sent` (one commit), `receipts` (the hub's signed receipts opened, verified and applied
in one commit, as the receipts consumer hands them over). The receipts are made by the hub's
own signer outside the timed stages. Kafka's fetch decoding is not here either.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaProducer, ConsumerRecord

from connectors.connector import Connector
from connectors.outbox import Pending
from connectors.record_batches import send_batches
from schemas.dsse import RECEIPT_PAYLOAD_TYPE
from schemas.envelope_signer import EnvelopeSigner
from schemas.receipt import Receipt, ReceiptStatus
from schemas.signing import SigningKey
from tests.records import sample_data

BATCH = 500

_MARKS_C = r"""
#include <valgrind/callgrind.h>
void marks_on(void) { CALLGRIND_TOGGLE_COLLECT; }
void marks_off(const char *stage) { CALLGRIND_TOGGLE_COLLECT; CALLGRIND_DUMP_STATS_AT(stage); }
"""
"""Under callgrind (--collect-atstart=no) each timed stage is collected alone and dumped
under its name; outside valgrind the client requests do nothing. Needs gcc and valgrind's
headers."""


class Marks:
    """Callgrind's collection around each timed stage (or nothing, without --callgrind)."""

    def __init__(self, enabled: bool, directory: Path) -> None:
        self._lib: ctypes.CDLL | None = None
        if enabled:
            source, lib = directory / "marks.c", directory / "marks.so"
            source.write_text(_MARKS_C)
            subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(lib), str(source)],
                           check=True)
            self._lib = ctypes.CDLL(str(lib))

    def on(self) -> None:
        if self._lib is not None:
            self._lib.marks_on()

    def off(self, stage: str) -> None:
        if self._lib is not None:
            self._lib.marks_off(stage.encode())


class OfflineProducer:
    """What send_batches asks of a producer, without a broker: two partitions; a batch is
    built into its wire bytes (what the sender does with it) and acknowledged at once."""

    def __init__(self) -> None:
        self._real = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1", max_batch_size=512 * 1024)

    async def partitions_for(self, topic: str) -> set[int]:
        return {0, 1}

    def create_batch(self) -> Any:
        return self._real.create_batch()

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> asyncio.Future[Any]:
        batch._build()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


def receipts_for(hub: SigningKey, entries: list[Pending], offset: int) -> list[Any]:
    """The hub's receipts (accepted) of entries as the consumer hands them to the connector."""
    import hashlib

    sign = EnvelopeSigner(hub, RECEIPT_PAYLOAD_TYPE)
    records = []
    for i, entry in enumerate(entries):
        receipt = Receipt(event_id=entry.event_id, status=ReceiptStatus.ACCEPTED, reason=None,
                          detail=None, ledger_index=offset + i,
                          leaf_hash="q" * 43 + "=", received_at=datetime.now(UTC),
                          record_sha256=hashlib.sha256(entry.value).hexdigest())
        value = sign(receipt.model_dump_json().encode())
        records.append(ConsumerRecord(f"linkage.receipts.{'zs-aic'}", i % 2, offset + i, 0, 0,
                                      entry.event_id.encode(), value, None, 36, len(value), ()))
    return records


async def run(n: int, rounds: int, callgrind: bool) -> dict[str, float]:
    key, hub = SigningKey.generate(), SigningKey.generate()
    data = sample_data("case.assessed")
    spent: dict[str, float] = {}

    def timed(stage: str, call: Callable[..., Any], *args: Any) -> Any:
        marks.on()
        started = time.process_time()
        result = call(*args)
        spent[stage] = spent.get(stage, 0.0) + time.process_time() - started
        marks.off(stage)
        return result

    with tempfile.TemporaryDirectory() as tmp:
        marks = Marks(callgrind, Path(tmp))
        for r in range(rounds):
            connector = Connector("zs-aic", key, bootstrap="127.0.0.1:1",
                                  outbox_path=Path(tmp) / f"o{r}.sqlite",
                                  hub_public_key=hub.public_key)
            producer = OfflineProducer()
            for start in range(0, n, BATCH):
                size = min(BATCH, n - start)
                events = [("case.assessed", f"B-{j % 1000}", data, None, None)
                          for j in range(start, start + size)]
                timed("enqueue_many", connector.enqueue_many, events)
                entries = timed("pending", connector.outbox.pending)
                topic = connector.ingress_topic
                marks.on()
                started = time.process_time()
                await send_batches(cast(AIOKafkaProducer, producer),
                                   [(topic, e.case_id.encode(), e.value, ()) for e in entries],
                                   repeat_keys=(topic,))
                spent["encode"] = spent.get("encode", 0.0) + time.process_time() - started
                marks.off("encode")
                timed("mark_sent", connector.outbox.mark_sent, entries)
                records = receipts_for(hub, entries, start)
                timed("receipts", connector._apply_receipts, records)
            assert not connector.outbox.awaiting()
            connector.outbox.close()
    return spent


def summed(prefix: str, events: int) -> dict[str, float]:
    """Instructions per event per stage from the dumps `--callgrind` made (one per stage and
    batch, named by the stage that triggered it)."""
    total: dict[str, int] = {}
    for dump in Path(prefix).parent.glob(f"{Path(prefix).name}.*"):
        stage, count = None, None
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith("desc: Trigger: Client Request: "):
                stage = line.rsplit(" ", 1)[1]
            elif line.startswith(("summary:", "totals:")):
                count = int(line.split()[1])
        if stage is not None and count is not None:
            total[stage] = total.get(stage, 0) + count
    return {stage: count / events for stage, count in total.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=2000, help="events per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--callgrind", action="store_true",
                        help="collect and dump each stage alone (run under callgrind)")
    parser.add_argument("--sum", metavar="CALLGRIND_OUT",
                        help="print the instructions per event of such a run's dumps")
    args = parser.parse_args()
    if args.sum:
        per_stage = summed(args.sum, args.n)  # -n: the events that run measured in all
        for stage, count in per_stage.items():
            print(f"{stage:<13}: {count:10,.0f} instructions/event")
        print(f"{'total':<13}: {sum(per_stage.values()):10,.0f} instructions/event")
        return
    spent = asyncio.run(run(args.n, args.rounds, args.callgrind))
    events = args.n * args.rounds
    for stage, seconds in spent.items():
        print(f"{stage:<13}: {seconds / events * 1e6:7.1f} µs CPU/event")
    print(f"{'total':<13}: {sum(spent.values()) / events * 1e6:7.1f} µs CPU/event")


if __name__ == "__main__":
    main()
