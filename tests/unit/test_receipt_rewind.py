"""The connector re-reads its receipts from the start only while an entry awaits a receipt
and the position has not fit the topic's end for STALLED_POLLS idle polls (connectors/
connector.py `_rewind_if_lost`). A stand-in consumer plays a broker whose end offsets are
wrong, as Tansu's S3 engine reports them."""

from __future__ import annotations

from pathlib import Path

from aiokafka import TopicPartition

from connectors.connector import STALLED_POLLS, Connector
from schemas.signing import SigningKey

TP = TopicPartition("linkage.receipts.zs-aic", 0)


class WrongEnds:
    """Position 8, end offset 1 (what Tansu's S3 engine says); counts the rewinds."""

    def __init__(self) -> None:
        self.rewinds = 0

    async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: 1 for tp in tps}

    async def position(self, tp: TopicPartition) -> int:
        return 8

    async def seek_to_beginning(self, tp: TopicPartition) -> None:
        self.rewinds += 1


def connector(tmp_path: Path) -> Connector:
    return Connector("zs-aic", SigningKey.generate(), bootstrap="127.0.0.1:1",
                     outbox_path=tmp_path / "outbox.sqlite")


async def idle_polls(c: Connector, consumer: WrongEnds, polls: int) -> None:
    stalls: dict[TopicPartition, int] = {}
    for _ in range(polls):
        await c._rewind_if_lost(consumer, [TP], stalls)  # type: ignore[arg-type]


async def test_an_idle_connector_with_nothing_awaiting_never_rewinds(tmp_path: Path) -> None:
    consumer = WrongEnds()
    await idle_polls(connector(tmp_path), consumer, 4 * STALLED_POLLS)
    assert consumer.rewinds == 0


async def test_a_connector_awaiting_a_receipt_rewinds_after_the_stalled_polls(
        tmp_path: Path) -> None:
    c = connector(tmp_path)
    c.outbox.add("0f8fad5b-d9cb-469f-a165-70867728950e", "C-1", "case.opened", b"{}")
    consumer = WrongEnds()
    await idle_polls(c, consumer, STALLED_POLLS - 1)
    assert consumer.rewinds == 0
    await idle_polls(c, consumer, 1)
    assert consumer.rewinds == 0  # the stall count starts again with each idle_polls call
    await idle_polls(c, consumer, STALLED_POLLS)
    assert consumer.rewinds == 1
