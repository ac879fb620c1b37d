"""A fast reading of ledgered event records for the rules fold, where it can vouch for the result.

The careful path (`streams.rules_runner.decode_event`, then `streams.rules.fold.
parse_event_data`) parses a record five times: the envelope (pydantic), its payload as a
CloudEvent (pydantic), the `CaseEvent` (pydantic again), the data dumped back to JSON and
validated by its event type's model. That was about half of a ledger replay's fold (issue 14).
`read_record` parses the envelope once with pydantic-core's JSON parser and validates the
payload once, as a CloudEvent whose `data` is its type's contract model (one discriminated
union over the event table), which is the same validation: the data's JSON goes through the
same parser and the same strict model either way.

It answers only for what it can vouch for: an envelope of the members connectors write
(`payloadType`, `payload`, `signatures` of `keyid` and `sig`, both base64 texts in the subset
of DSSE's base64 pydantic-core decodes alike) whose CloudEvent and data validate. Anything
else (another DSSE writer's layout, an invalid record) gives None, and the caller takes the
careful path, which then decides and reports exactly as before.
tests/unit/test_ledger_records.py checks, with generated records, that whenever this
answers, the careful path gives the same event and data.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar, Union

from pydantic import ConfigDict, Field, GetPydanticSchema, TypeAdapter, ValidationError, with_config
from pydantic_core import core_schema
from typing_extensions import TypedDict

from schemas.cloudevent import SOURCE_PREFIX, CloudEvent
from schemas.events import EVENT_TYPES, EventData, typed_event_model
from streams.rules.case_state import EventHead

# The envelope read by pydantic-core in one pass, its two base64 texts decoded there too
# (issue 14, session 8: a record's envelope cost ~36,000 instructions read as a dict, checked
# and decoded by binascii in Python, and ~23,000 this way; binascii's loop in Python 3.11 is
# ~17 instructions a character). pydantic-core's base64 takes the standard or the URL-safe
# alphabet, never mixed, padded or not, and refuses non-zero trailing bits, as DSSE's decoder
# does or more strictly, with one exception: a single `=` after 4n+2 characters ("QQ="),
# which DSSE refuses. `_declines` declines that (and any escape) before pydantic reads the
# envelope; tests/unit/test_ledger_records.py checks that what is left decodes as
# `schemas.dsse.Envelope` decodes it. Members other than these, or a signature without a key
# id, which `Envelope` takes, are declined.
_B64 = ConfigDict(strict=True, extra="forbid", val_json_bytes="base64")


@with_config(_B64)
class _Signature(TypedDict):
    keyid: str
    sig: bytes


P = TypeVar("P")


@with_config(_B64)
class _Envelope(TypedDict, Generic[P]):
    payloadType: str
    payload: P
    signatures: Annotated[list[_Signature], Field(min_length=1)]


def _declines(value: bytes) -> bool:
    """Whether `schemas.dsse.Envelope` might read the envelope's base64 texts otherwise than
    pydantic-core does (`_Envelope`): declined, the careful path reads the record."""
    # No escape (a quote inside a string, or a `=` written `\u003d`): a string's opening
    # quote is then the last quote before its end, so each text that ends in one `=` is
    # found, and whether it has a whole number of quads, with memchr and memrchr (~1,000
    # instructions a record; a search for `="` cost ~5,000).
    if value.find(b"\\") >= 0:
        return True
    end = value.find(b"=")
    while end >= 0:
        if value[end + 1:end + 2] == b'"' and (end - value.rfind(b'"', 0, end)) % 4:
            return True  # 4n+3 characters with one `=`: DSSE refuses it, pydantic does not
        end = value.find(b"=", end + 2)
    return False


_NAMES = {EVENT_TYPES[name].ce_type: name for name in EVENT_TYPES}
_TYPED = tuple(typed_event_model(name, narrowed=True) for name in EVENT_TYPES)
"""Each type's CloudEvent model, its id narrowed to the canonical form connectors write and
its time to a day inside the hub's range, both checked by pydantic-core where the careful
models call Python (issue 14, session 7: two Python calls a record). An id in another form
`uuid.UUID` reads, a time at the range's ends, is declined: the careful path takes it, as it
does any record this reading cannot vouch for."""
# Tried in session 11 (issue 14) and left out, by callgrind over bench/fold.py's records: the
# data's times narrowed to `InnerTime` as well (the union's core schema rewritten, the same
# classes): no fewer instructions (pydantic-core's bounds cost what the Python call did);
# the envelope read by `schemas.dsse.canonical_envelope`, or as two `str` members decoded
# by pybase64, instead of `_payload_of` (now `_declines` and `_ENVELOPE`): ~27,700
# instructions a record either way; the `="` scan by `bytes.split`: 11,800 against 8,300.
_EVENTS = TypeAdapter[Any](
    Annotated[Union[_TYPED], Field(discriminator="type")])  # type: ignore[arg-type]  # noqa: UP007
_ENVELOPE = TypeAdapter(_Envelope[Annotated[CloudEvent, GetPydanticSchema(
    lambda _source, _handler: core_schema.chain_schema(
        [core_schema.bytes_schema(), core_schema.json_schema(_EVENTS.core_schema)]))]]).validator
"""The envelope and its payload validated at once: the payload's base64 decoded as `_Envelope`
decodes it (the same `bytes` schema, the same configuration), the bytes then read as JSON and
validated by the events' union (whose own strictness is set in its schema, and each model's
by its own configuration): the same validation as `_EVENTS.validate_json` of the decoded
bytes, without a second Python call and the payload's `bytes` (issue 14, session 13: ~300
instructions a record). The validator itself is called: `TypeAdapter.validate_json` forwards
six arguments to it (~0.5 µs)."""


_head = tuple.__new__


def read_record(value: bytes) -> tuple[EventHead, EventData] | None:
    """The event of a ledgered record and its data validated by its contract model, or None
    when this fast path cannot vouch that the careful path gives the same (see the module)."""
    if _declines(value):
        return None
    try:
        event: CloudEvent = _ENVELOPE.validate_json(value)["payload"]
    except ValidationError:
        return None
    # Read from the fields' dict, each name a declared field (issue 14, session 11: a model's
    # attribute costs about three times a dict's item), and the head made by `tuple.__new__`
    # itself, not through the named tuple's `__new__` in Python (a frame less a record).
    fields = event.__dict__
    agency = fields["source"].removeprefix(SOURCE_PREFIX)  # `source_agency` inlined
    if not agency:  # CaseEvent requires a sender
        return None
    # The id is canonical (`CanonicalEventId`): `canonical_event_id` would return it as it is.
    head = _head(EventHead, (fields["id"], _NAMES[fields["type"]], agency, fields["subject"],
                             fields["time"]))
    return head, fields["data"]
