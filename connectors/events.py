"""Building an agency's CloudEvent bytes for the hub (contract section 2)."""

from __future__ import annotations

import json
import json.encoder
import os
from collections.abc import Callable
from datetime import UTC, datetime
from json.encoder import JSONEncoder, encode_basestring
from time import time_ns
from typing import Any

from schemas.cloudevent import SOURCE_PREFIX
from schemas.events import EVENT_TYPES

_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""`json.dumps(value, ensure_ascii=False, separators=(",", ":"))` without building an encoder
per call."""

_STRING = encode_basestring
"""What `_JSON` writes for a string (the encoder's own `encode_basestring`, in C)."""

_MAKE_ENCODER: Callable[..., Callable[[object, int], list[str]]] | None = getattr(
    json.encoder, "c_make_encoder", None)
_ENCODE = _MAKE_ENCODER and _MAKE_ENCODER(
    None, JSONEncoder().default, encode_basestring, None, ":", ",", False, False, True)
"""The C encoder `_JSON` builds on every call (with a fresh circular-reference memo), built
once and without that memo: ~0.9 of ~1.8 µs an event's data (issue 14). A memo shared
between calls would keep stale entries after an error; without one, circular data recurses
until RecursionError, which `_data_text` hands to `_JSON` for its own error."""


def _data_text(data: dict[str, Any]) -> str:
    """`_JSON(data)` (tests/unit/test_connector_wire.py holds them equal)."""
    if _ENCODE is None:  # no C accelerator
        return _JSON(data)
    try:
        return "".join(_ENCODE(data, 0))
    except RecursionError:  # circular or too deep: the careful encoder says which
        return _JSON(data)


class UnknownEventType(ValueError):
    """The event type name is not in the contract's catalogue."""


def event_source(agency_id: str) -> str:
    return SOURCE_PREFIX + agency_id


def new_event_id() -> str:
    """A new time-ordered UUID (version 7, RFC 9562) in canonical form; see new_event_ids."""
    return new_event_ids(1)[0]


def new_event_ids(count: int) -> list[str]:
    """`count` new event ids: time-ordered UUIDs (version 7, RFC 9562), the current Unix time
    in milliseconds then 74 random bits, from one read of the system's randomness (a system
    call of ~0.5 µs, against ~0.05 µs an id for 500).

    Design decision (issue 14, session 9): the contract asks for "a UUID, unique across the
    hub"; random (version 4) ids put every insert into a random leaf of each index keyed by
    event id (the outbox's here, the hub's ledger, outcomes and processed events), which costs
    more as they grow and the outbox is never pruned: storing a batch of 500 in a 20,000-entry
    outbox measured 9.5-9.7 µs an event with ordered ids against 12.7-14.0 with random ones
    (bench/connector_path.py). 74 random bits per millisecond keep ids unguessable and
    collisions out of reach; the millisecond an id shows is no more than the event's own
    `time`. Within one millisecond ids are not ordered (the RFC allows it)."""
    stamp = (time_ns() // 1_000_000).to_bytes(6, "big")
    raw = os.urandom(10 * count)
    return [_uuid_text(stamp + raw[i:i + 10], 7) for i in range(0, 10 * count, 10)]


def _uuid_text(raw16: bytes, version: int) -> str:
    """`str(uuid.UUID(bytes=raw16, version=version))`: the version and variant bits set."""
    raw = bytearray(raw16)
    raw[6] = raw[6] & 0x0F | version << 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 / 9562 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def build_event(
    agency_id: str,
    type_name: str,
    case_id: str,
    data: dict[str, Any],
    *,
    event_id: str | None = None,
    time: datetime | None = None,
    validate: bool = True,
) -> tuple[str, bytes]:
    """(event id, UTF-8 JSON bytes) of one CloudEvent; data validated against its schema.

    The data is serialised once: the schema check reads that text, and the event's bytes are
    its envelope's JSON with that text spliced in as the last member, which is what
    `json.dumps` of the whole event writes (tests/unit/test_connector_wire.py).
    """
    spec = EVENT_TYPES.get(type_name)
    if spec is None:
        raise UnknownEventType(f"未知事件类型 / unknown event type: {type_name}")
    data_text = _data_text(data)
    if validate:
        spec.model.model_validate_json(data_text)
    event_id = event_id or new_event_id()
    # The envelope's members written as `_JSON` of their dict writes them, in that order,
    # without the dict and the encoder's walk (issue 14: with `_data_text`, build_event took
    # 9.3-10.9 µs against 12.9-16.8, interleaved, 20,000 calls each);
    # tests/unit/test_connector_wire.py holds it to json.dumps.
    return event_id, (
        f'{{"specversion":"1.0","id":{_STRING(event_id)},'
        f'"source":{_STRING(event_source(agency_id))},"type":{_STRING(spec.ce_type)},'
        f'"subject":{_STRING(case_id)},'
        f'"time":{_STRING((time or datetime.now(UTC)).isoformat())},'
        f'"datacontenttype":"application/json","data":{data_text}}}').encode()
