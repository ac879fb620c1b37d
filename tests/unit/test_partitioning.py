"""schemas.partitioning chooses the partition aiokafka's DefaultPartitioner (Kafka's murmur2)
chooses, for any key and partition count."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import partitioning
from schemas.partitioning import default_partitioner, murmur2, murmur2_many, remember_murmur2


@settings(max_examples=1000)
@given(key=st.binary(max_size=80) | st.uuids().map(lambda u: str(u).encode()))
def test_murmur2_is_kafkas(key: bytes) -> None:
    assert murmur2(key) == aiokafka_murmur2(key)


@settings(max_examples=500)
@given(key=st.binary(max_size=40), partitions=st.integers(1, 64))
def test_a_key_goes_to_the_partition_aiokafka_chooses(key: bytes, partitions: int) -> None:
    every = list(range(partitions))
    assert default_partitioner(key, every, every) == DefaultPartitioner()(key, every, every)


def test_known_values_of_javas_murmur2() -> None:
    """Values the Java client computes (org.apache.kafka.common.utils.UtilsTest)."""
    cases = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536,
             b"a-little-bit-longer-string": -1486304829,
             b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971, b"abc": 479470107}
    for key, signed in cases.items():
        assert murmur2(key) == signed & 0xFFFFFFFF


def test_records_without_a_key_go_to_an_available_partition() -> None:
    assert default_partitioner(None, [0, 1, 2], [2]) == 2
    assert default_partitioner(None, [0, 1, 2], []) in (0, 1, 2)


def test_the_hubs_producer_partitions_with_it(tmp_path: Path) -> None:
    from hub.worker import build_app
    from tests.unit.test_fetch_wait import settings

    app = build_app(settings(tmp_path), ["zs-aic"], "ingress")
    assert app.producer.partitioner is default_partitioner


@settings(max_examples=300)
@given(keys=st.lists(st.binary(max_size=45) | st.uuids().map(lambda u: str(u).encode()),
                     max_size=60))
def test_murmur2_of_many_keys_is_murmur2_of_each(keys: list[bytes]) -> None:
    assert murmur2_many(keys) == [murmur2(key) for key in keys]


def test_murmur2_of_a_batch_of_receipt_keys_is_murmur2_of_each() -> None:
    keys = [str(uuid.UUID(int=random.getrandbits(128))).encode() for _ in range(500)]
    assert murmur2_many(keys) == [murmur2(key) for key in keys]


@settings(max_examples=200)
@given(keys=st.lists(st.binary(max_size=40), min_size=1, max_size=20, unique=True),
       partitions=st.integers(1, 16))
def test_remembered_keys_go_to_the_same_partitions(keys: list[bytes], partitions: int) -> None:
    every = list(range(partitions))
    before = [default_partitioner(key, every, every) for key in keys]
    remember_murmur2(keys[::2])
    assert [default_partitioner(key, every, every) for key in keys] == before
    remember_murmur2([b"another"])  # replaces what was remembered
    assert [default_partitioner(key, every, every) for key in keys] == before
    assert list(partitioning._KNOWN) == [b"another"]


def test_a_key_of_another_bytes_type_is_partitioned_as_before() -> None:
    every = [0, 1, 2]
    remember_murmur2([b"abc"])
    assert default_partitioner(bytearray(b"abc"), every, every) == default_partitioner(
        b"abc", every, every)
