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

_LANE = b"\xff\xff\xff\xff\0\0\0\0"
"""The mask of one 64-bit lane's low 32 bits, little-endian."""
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
    """For `count` words (`murmur2`: one key's; `murmur2_many`: one word of each of `count`
    keys): their little-endian 32-bit layout, the same words in 64-bit lanes, and the mask of
    each lane's low 32 bits."""
    return (struct.Struct(f"<{count}I"), struct.Struct(f"<{count}Q"),
            int.from_bytes(_LANE * count, "little"))


def murmur2_many(keys: Sequence[bytes]) -> list[int]:
    """`[murmur2(key) for key in keys]`, the keys of each length mixed together.

    Design decision (issue 14, session 10): the ingress worker keys each receipt by its event
    id, a key seen once, ~2.1 µs of `murmur2` a receipt (timeit). Keys of one length go
    through the same steps, so each step runs once for all of them: word `j` of every key
    sits in a 64-bit lane of one Python int, as `murmur2` lays out one key's words, and the
    running hashes sit in lanes too, masked to 32 bits after each step (what the final mask
    gives `murmur2`). ~0.55 µs a key for a batch's 500 receipt keys (277 µs, timeit);
    tests/unit/test_partitioning.py compares it with `murmur2` for any keys."""
    found: list[int] = [0] * len(keys)
    by_length: dict[int, list[int]] = {}
    for i, key in enumerate(keys):
        by_length.setdefault(len(key), []).append(i)
    for length, places in by_length.items():
        for i, value in zip(places, _same_length([keys[i] for i in places], length),
                            strict=True):
            found[i] = value
    return found


def _same_length(keys: list[bytes], length: int) -> tuple[int, ...]:
    """murmur2 of each of these keys of `length` bytes (`murmur2_many`)."""
    n = len(keys)
    count, extra = length >> 2, length & 3
    _, lanes, low = _lanes(n)  # one lane per key
    h = (_SEED ^ length) * (low // _MASK)  # the start in every lane
    if count:
        body = length - extra
        words = struct.unpack(f"<{n * count}I", b"".join(
            keys if not extra else [key[:body] for key in keys]))
        for j in range(count):
            k = (int.from_bytes(lanes.pack(*words[j::count]), "little") * _M) & low
            k = ((k ^ ((k >> 24) & low)) * _M) & low
            h = ((h * _M) & low) ^ k
    if extra:
        tails = lanes.pack(*[int.from_bytes(key[length - extra:], "little") for key in keys])
        h = ((h ^ int.from_bytes(tails, "little")) * _M) & low
    h = ((h ^ ((h >> 13) & low)) * _M) & low
    h ^= (h >> 15) & low
    return lanes.unpack(h.to_bytes(lanes.size, "little"))


_KNOWN: dict[bytes, int] = {}
"""murmur2 of the keys last given to `remember_murmur2` (a memo of a pure function: any
entry is right whenever it is read)."""


def remember_murmur2(keys: Sequence[bytes]) -> None:
    """Compute murmur2 of these keys (`bytes`) together (`murmur2_many`) for
    `default_partitioner` to find, in place of those remembered before: the ingress worker
    gives it a batch's receipt keys just before it partitions the batch
    (hub/adapters/kafka_publisher.py)."""
    _KNOWN.clear()
    _KNOWN.update(zip(keys, murmur2_many(keys), strict=True))


def default_partitioner(key: bytes | None, all_partitions: Sequence[int],
                        available: Sequence[int]) -> int:
    """aiokafka's DefaultPartitioner: murmur2 of the key, or a random partition without one."""
    if key is None:
        return random.choice(available or all_partitions)
    hashed = _KNOWN.get(key) if type(key) is bytes else None
    if hashed is None:
        hashed = murmur2(key)
    return all_partitions[(hashed & 0x7FFFFFFF) % len(all_partitions)]
