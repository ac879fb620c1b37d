"""A fast reading of ledgered event records for the rules fold, where it can vouch for the result.

The careful path (`streams.rules_runner.decode_event`, then `streams.rules.fold.
parse_event_data`) parses a record five times: the envelope (pydantic), its payload as a
CloudEvent (pydantic), the `CaseEvent` (pydantic again), the data dumped back to JSON and
validated by its event type's model. That was about half of a ledger replay's fold (issue 14).
`read_record` parses the envelope once with pydantic-core's JSON parser and validates the
payload once, as a CloudEvent whose `data` is its type's contract model (one discriminated
union over the event table), which is the same validation: the data's JSON goes through the
same parser and the same strict model either way.

It answers only for what it can vouch for: an envelope of exactly the shape connectors write
(`payloadType`, `payload` in padded standard base64, `signatures` of `keyid` and `sig`) whose
CloudEvent and data validate. Anything else (another DSSE writer's layout, an invalid record)
gives None, and the caller takes the careful path, which then decides and reports exactly as
before. tests/unit/test_ledger_records.py checks, with generated records, that whenever this
answers, the careful path gives the same event and data.
"""

from __future__ import annotations

import binascii
from typing import Annotated, Any, Union

import pydantic_core
from pydantic import Field, TypeAdapter, ValidationError

from schemas.b64 import is_dsse_b64
from schemas.cloudevent import CloudEvent, source_agency
from schemas.events import EVENT_TYPES, EventData, typed_event_model
from streams.rules.case_state import EventHead

_ENVELOPE_KEYS = frozenset({"payloadType", "payload", "signatures"})
_SIGNATURE_KEYS = frozenset({"keyid", "sig"})

_NAMES = {EVENT_TYPES[name].ce_type: name for name in EVENT_TYPES}
_TYPED = tuple(typed_event_model(name, narrowed=True) for name in EVENT_TYPES)
"""Each type's CloudEvent model, its id narrowed to the canonical form connectors write and
its time to a day inside the hub's range, both checked by pydantic-core where the careful
models call Python (issue 14, session 7: two Python calls a record). An id in another form
`uuid.UUID` reads, a time at the range's ends, is declined: the careful path takes it, as it
does any record this reading cannot vouch for."""
_EVENTS: TypeAdapter[Any] = TypeAdapter(
    Annotated[Union[_TYPED], Field(discriminator="type")])  # type: ignore[arg-type]  # noqa: UP007


def _signatures_valid(signatures: object) -> bool:
    """The signatures as `schemas.dsse.Envelope` takes them, in the layout connectors write."""
    if type(signatures) is not list or not signatures:
        return False
    for signature in signatures:
        # Whether the signature decodes is the check Envelope's validator makes; the rules
        # never use its bytes, so they are not kept (issue 14).
        if (type(signature) is not dict or signature.keys() != _SIGNATURE_KEYS
                or type(signature["keyid"]) is not str or type(signature["sig"]) is not str
                or not _decodes(signature["sig"])):
            return False
    return True


def _decodes(text: str) -> bool:
    """`is_dsse_b64(text)`, first by strict decoding where `_padded_base64` says it agrees
    with the DSSE decoder (what connectors write: ~1 µs against ~2.4 for the two regular
    expressions, issue 14); anything else is left to `is_dsse_b64`."""
    if _padded_base64(text):
        try:
            binascii.a2b_base64(text, strict_mode=True)
        except ValueError:
            pass
        else:
            return True
    return is_dsse_b64(text)


def _padded_base64(text: str) -> bool:
    """Whether strict base64 decoding may be trusted to agree with `dsse_b64decode` on `text`.

    Strict mode checks the alphabet and that `=` only ends the text, but takes a whole
    group of `=` ("AAAA=", "AAAA====") that `dsse_b64decode` refuses: with the length a
    multiple of four and at most two `=`, whatever strict mode decodes, it decodes alike
    (tests/unit/test_ledger_records.py)."""
    return len(text) % 4 == 0 and not text.endswith("===")


def read_record(value: bytes) -> tuple[EventHead, EventData] | None:
    """The event of a ledgered record and its data validated by its contract model, or None
    when this fast path cannot vouch that the careful path gives the same (see the module)."""
    try:
        envelope = pydantic_core.from_json(value)
    except ValueError:
        return None
    if type(envelope) is not dict or envelope.keys() != _ENVELOPE_KEYS:
        return None
    payload = envelope["payload"]
    if (type(envelope["payloadType"]) is not str or type(payload) is not str
            or not _signatures_valid(envelope["signatures"])):
        return None
    if not _padded_base64(payload):
        return None
    try:
        raw = binascii.a2b_base64(payload, strict_mode=True)
        event: CloudEvent = _EVENTS.validate_json(raw)
    except (ValueError, ValidationError):  # binascii.Error is a ValueError
        return None
    agency = source_agency(event.source)
    if not agency:  # CaseEvent requires a sender
        return None
    # The id is canonical (`CanonicalEventId`): `canonical_event_id` would return it as it is.
    head = EventHead(event.id, _NAMES[event.type], agency, event.subject, event.time)
    data: EventData = event.data  # type: ignore[assignment]  # the typed model's data
    return head, data
