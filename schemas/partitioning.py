"""Kafka's default partitioner (murmur2 of the key bytes, as Java's and aiokafka's clients
choose a keyed record's partition), computed with fewer Python operations.

aiokafka's `DefaultPartitioner` runs a byte-at-a-time pure-Python murmur2: two of them a
record (the event, the receipt) cost the ingress worker ~2 % of its CPU (issue 14). This one
mixes the key's 32-bit words all at once (`murmur2`); it chooses the same partition for every
key (tests/unit/test_partitioning.py checks it against aiokafka's).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence
from functools import lru_cache

_M = 0x5BD1E995
_SEED = 0x9747B28C
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """MurmurHash2 of the bytes, seed 0x9747b28c (Kafka's `Utils.murmur2`), as an unsigned
    32-bit integer.

    Design decision (issue 14, session 9): the words are mixed all at once. Each 32-bit word
    is put in a 64-bit lane of one Python int (`_lanes`), so one multiplication by the
    constant multiplies every word without a carry reaching the next lane, one mask keeps
    each lane's low 32 bits, and a shift moves each lane's bits down (what crosses in from
    the lane above is masked away). Only the fold into `h` goes word by word, unmasked: the
    bits above 32 never reach the low 32 (no shift until the end), so one mask at the end
    gives what masking each step gave. A receipt's key (an event id, 36 bytes) took ~40,000
    instructions word by word, ~29,400 so (callgrind; tests/unit/test_partitioning.py compares
    it with aiokafka's for any key)."""
    length = len(data)
    h = _SEED ^ length
    body = length & ~3
    if body:
        words, wide, low = _lanes(body >> 2)
        k = (int.from_bytes(wide.pack(*words.unpack_from(data)), "little") * _M) & low
        k = ((k ^ ((k >> 24) & low)) * _M) & low
        for word in wide.unpack(k.to_bytes(wide.size, "little")):
            h = h * _M ^ word
        h &= _MASK
    extra = length & 3
    if extra:
        if extra == 3:
            h ^= data[body + 2] << 16
        if extra >= 2:
            h ^= data[body + 1] << 8
        h = ((h ^ data[body]) * _M) & _MASK
    h = ((h ^ (h >> 13)) * _M) & _MASK
    return h ^ (h >> 15)


@lru_cache(maxsize=64)
def _lanes(count: int) -> tuple[struct.Struct, struct.Struct, int]:
    """For `count` words: their little-endian 32-bit layout, the same words in 64-bit lanes,
    and the mask of each lane's low 32 bits."""
    return (struct.Struct(f"<{count}I"), struct.Struct(f"<{count}Q"),
            int.from_bytes(b"\xff\xff\xff\xff\0\0\0\0" * count, "little"))


def default_partitioner(key: bytes | None, all_partitions: Sequence[int],
                        available: Sequence[int]) -> int:
    """aiokafka's DefaultPartitioner: murmur2 of the key, or a random partition without one."""
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[(murmur2(key) & 0x7FFFFFFF) % len(all_partitions)]
