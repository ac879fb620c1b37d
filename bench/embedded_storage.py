"""Embedded broker storage: Tansu memory:// against s3:// on SeaweedFS, and a kill -9.

For each engine: start the broker (and SeaweedFS), produce N 1 KiB records (acks=all), consume
them in a group and commit, print rates and resident memory; then kill -9 broker and store,
start them again and count the records and the group's committed offset that survived.

    python bench/embedded_storage.py [-n 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from hub.adapters.kafka_admin import ensure_topics
from hub.embedded import EmbeddedBroker, EmbeddedObjectStore

TOPIC = "bench.storage"


def rss_mb(pid: int) -> int:
    out = subprocess.run(["ps", "-o", "rss=", "-p", str(pid)], capture_output=True,
                         text=True, check=False).stdout.split()
    return sum(int(x) for x in out) // 1024


async def load(bootstrap: str, n: int) -> tuple[float, float]:
    await ensure_topics(bootstrap, [TOPIC])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    started = time.monotonic()
    acks = [await producer.send(TOPIC, b"x" * 1024, key=str(i % 50).encode()) for i in range(n)]
    await asyncio.gather(*acks)
    produce = n / (time.monotonic() - started)
    await producer.stop()
    consumer = AIOKafkaConsumer(TOPIC, bootstrap_servers=bootstrap, group_id="bench",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    started, seen = time.monotonic(), 0
    while seen < n:
        seen += sum(len(v) for v in (await consumer.getmany(timeout_ms=1000)).values())
    consume = n / (time.monotonic() - started)
    await consumer.commit()
    await consumer.stop()
    return produce, consume


async def survived(bootstrap: str) -> tuple[int, int | None]:
    tp = TopicPartition(TOPIC, 0)
    group = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id="bench",
                             enable_auto_commit=False)
    await group.start()
    committed = await group.committed(tp)
    await group.stop()
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                              auto_offset_reset="earliest")
    await reader.start()
    reader.assign([tp])
    await reader.seek_to_beginning(tp)
    count = 0
    while batch := await reader.getmany(timeout_ms=1000):
        count += sum(len(v) for v in batch.values())
    await reader.stop()
    return count, committed


def run(engine: str, n: int, root: Path) -> None:
    store = (EmbeddedObjectStore(root / "objects", log_path=root / "weed.log")
             if engine == "s3" else None)
    if store:
        store.start()
    broker = EmbeddedBroker(log_path=root / "tansu.log", object_store=store).start()
    produce, consume = asyncio.run(load(broker.bootstrap, n))
    assert broker.process is not None
    memory = rss_mb(broker.process.pid) + (rss_mb(store.process.pid) if store and store.process
                                           else 0)
    broker.kill()
    if store:
        store.kill()
        store.start()
    broker.start()
    count, committed = asyncio.run(survived(broker.bootstrap))
    broker.stop()
    print(f"{engine:<7} produce {produce:>8,.0f}/s  consume {consume:>8,.0f}/s  "
          f"RSS {memory:>4} MB  after kill -9: {count:,}/{n:,} records, committed {committed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=10000)
    args = parser.parse_args()
    for engine in ("memory", "s3"):
        with tempfile.TemporaryDirectory() as tmp:
            run(engine, args.n, Path(tmp))


if __name__ == "__main__":
    main()
