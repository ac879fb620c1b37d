"""The replay's fast fold (issue 14) decides exactly as the careful path: same events, data, states.

`read_record` may decline (None: the careful path is taken), but when it answers, the careful
path (`decode_event` + `parse_event_data`) must accept the record and give the same event and
data; `fold_read` must equal applying the events in turn; `CaseFold` must count and fold as
applying each record did.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from schemas.dsse import Envelope
from schemas.events import EVENT_TYPES, EventData
from schemas.signing import SigningKey
from streams.ledger_records import _declines, _Envelope, read_record
from streams.rules import CaseEvent, CaseEventError, CaseState, apply
from streams.rules.fold import fold_read, parse_event_data
from streams.rules_runner import BadEvent, CaseFold, decode_event
from tests.records import OWN_TIME, event_dict, sender_of

KEY = SigningKey.generate()
SETTINGS = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TYPES = sorted(EVENT_TYPES)
START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)

# JSON values that sit near the models' edges: times, money strings, big and float numbers.
LEAVES = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
          | st.floats(allow_nan=False) | st.text(max_size=4)
          | st.sampled_from(["2026-03-02T09:00:00+08:00", "2026-03-02T09:00:00", "1899-12-31T23:00:00Z",
                             "3000-01-01T00:00:00Z", "100.00", "100.001", "-1.00", "0", "",
                             "zs-psb", "ZS", "person", "transfer_letter", "ab" * 32, "case_opened"]))
VALUES = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=3) | st.sampled_from(
                          ["kind", "id_type", "id_number", "name", "title", "sha256"]), inner,
                          max_size=4), max_leaves=8)
TOP = ["id", "source", "type", "subject", "time", "specversion", "datacontenttype", "data"]


_RAW = TypeAdapter(_Envelope[bytes])


def _payload_of(value: bytes) -> bytes | None:
    """The payload `read_record` reads, as bytes (the same `_Envelope`, its payload not read
    further), or None when it declines the envelope."""
    return None if _declines(value) else _RAW.validate_json(value)["payload"]


def careful(value: bytes) -> tuple[CaseEvent, EventData] | Exception:
    try:
        event = decode_event(value)
        return event, parse_event_data(event)
    except (BadEvent, CaseEventError) as exc:
        return exc


def envelope(payload: bytes, *, layout: int = 0, sig: str | None = None) -> bytes:
    """The signed envelope of `payload`: as connectors write it (0) or in other layouts;
    `sig`, when given, replaces the signature's text."""
    signed = KEY.sign_envelope("application/cloudevents+json", payload).to_json_bytes()
    if layout == 6 and sig is None:  # the signer's own bytes (json.dumps adds spaces)
        return signed
    written = json.loads(signed)
    if sig is not None:
        written["signatures"][0]["sig"] = sig
    if layout == 1:  # URL-safe, unpadded base64 (DSSE allows it)
        written["payload"] = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    elif layout == 2:  # an extra member (Envelope ignores it)
        written["extra"] = 1
    elif layout == 3:  # no keyid
        del written["signatures"][0]["keyid"]
    elif layout == 4:  # no signature at all (Envelope refuses it)
        written["signatures"] = []
    elif layout == 5:  # base64 with a character outside the alphabet
        written["payload"] = written["payload"][:-4] + "*" + written["payload"][-3:]
    elif layout == 7:  # a second signature, URL-safe and unpadded
        written["signatures"].append({"keyid": "k2", "sig": base64.urlsafe_b64encode(
            b"\xfb\xff" * 32).decode().rstrip("=")})
    text = json.dumps(written)
    if layout == 8:  # the payload member twice: which one counts must not differ
        text = text.replace('"payload": ', '"payload": "eyJ9", "payload": ', 1)
    elif layout == 9:  # the payload member last, as JSON with an escape inside the base64
        payload_text = written.pop("payload")
        text = json.dumps(written)[:-1] + f', "payload": "\\u{ord(payload_text[0]):04x}{payload_text[1:]}"}}'
    return text.encode()


@st.composite
def records(draw: st.DrawFn) -> bytes:
    """A ledger record of any event type, valid or with some of its members replaced."""
    type_name = draw(st.sampled_from(TYPES))
    event = event_dict(sender_of(type_name), type_name, draw(st.sampled_from(["C-1", "C 2"])))
    data = event["data"]
    names = [*sorted(data), "works_count", "reasonable_suspicion", "extra"]
    for name in draw(st.lists(st.sampled_from(names), max_size=3)):
        if draw(st.booleans()) and name in data:
            del data[name]
        else:
            data[name] = draw(VALUES)
    for name in draw(st.lists(st.sampled_from(TOP), max_size=2)):
        event[name] = draw(VALUES | st.sampled_from(
            [f"cn.linkage.{draw(st.sampled_from(TYPES))}.v1", "urn:linkage:agency:",
             str(uuid.uuid4()).upper(), "2026-03-02T09:00:00+08:00"]))
    text = json.dumps(event, ensure_ascii=draw(st.booleans()))
    if type(data) is dict and draw(st.booleans()):  # a member twice (strict JSON refuses it)
        name = json.dumps(draw(st.sampled_from(sorted(data) or ["x"])))
        text = text.replace('"data": {', f'"data": {{{name}: {json.dumps(draw(VALUES))}, ', 1)
    return envelope(text.encode(), layout=draw(st.integers(0, 9)),
                    sig=draw(st.none() | SIGNATURE_TEXTS))


SIGNATURE_TEXTS = st.text(alphabet="AZaz09+/-_=* \n", max_size=12) | st.binary(
    min_size=1, max_size=66).flatmap(lambda raw: st.sampled_from([
        base64.b64encode(raw).decode(), base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode(), base64.b64encode(raw).decode() + "=",
        base64.b64encode(raw).decode()[1:]]))
"""A signature's text: DSSE base64 in its layouts, and texts near it that are not."""


@SETTINGS
@given(records())
def test_the_fast_reading_answers_only_as_the_careful_one_does(value: bytes) -> None:
    fast = read_record(value)
    slow = careful(value)
    if fast is None:
        return
    assert not isinstance(slow, Exception), slow
    head, data = fast
    event, expected = slow
    assert tuple(head) == (event.event_id, event.type_name, event.agency, event.case_id,
                           event.time)
    assert type(data) is type(expected)
    assert data == expected
    assert data.model_dump_json() == expected.model_dump_json()


def test_the_fast_reading_takes_the_records_connectors_write() -> None:
    for type_name in TYPES:
        event = event_dict(sender_of(type_name), type_name, "C-1")
        value = envelope(json.dumps(event).encode())
        read = read_record(value)
        assert read is not None, type_name
        assert read[0].type_name == type_name
    # Other layouts and invalid records are left to the careful path.
    payload = json.dumps(event_dict("zs-aic", "case.closed", "C-1")).encode()
    assert [read_record(envelope(payload, layout=n)) is None for n in range(10)] == [
        False, False, True, True, True, True, False, False, False, True]
    assert read_record(b"{not json") is None
    bad = event_dict("zs-aic", "case.closed", "C-1")
    bad["data"]["closed_at"] = "yesterday"
    assert read_record(envelope(json.dumps(bad).encode())) is None


@settings(max_examples=3000, deadline=None)
@given(st.one_of(SIGNATURE_TEXTS, st.binary(max_size=70).map(
    lambda raw: base64.b64encode(raw).decode()), st.text(alphabet="AQgw+/-_=\\", max_size=12)),
       st.booleans())
def test_the_envelope_reader_decodes_only_what_the_envelope_model_decodes_alike(
        text: str, escaped: bool) -> None:
    """pydantic-core's base64 (the payload's and the signature's), behind `_payload_of`'s
    checks, takes a subset of what DSSE's decoder takes, and decodes it to the same bytes."""
    quoted = json.dumps(text, ensure_ascii=False)
    if escaped:  # the same text, its `=` written as JSON escapes
        quoted = quoted.replace("=", "\\u003d")
    for payload, sig in ((quoted, '"AAAA"'), ('"AAAA"', quoted)):
        value = ('{"payloadType":"t","payload":' + payload + ',"signatures":[{"keyid":"k",'
                 '"sig":' + sig + '}]}').encode()
        try:
            read = _payload_of(value)
        except ValueError:
            continue
        if read is not None:  # the model takes the envelope (signature included) alike
            assert read == Envelope.model_validate_json(value).payload_bytes()


def test_the_envelope_reader_declines_what_pydantic_alone_would_take() -> None:
    """A single `=` after 4n+2 characters: pydantic-core decodes it, DSSE refuses it."""
    for payload, sig in (('"eyJ9QQ="', '"AAAA"'), ('"eyJ9"', '"QQ="'), ('"eyJ9"', '"QQ\\u003d"')):
        value = ('{"payloadType":"t","payload":' + payload + ',"signatures":[{"keyid":"k",'
                 '"sig":' + sig + '}]}').encode()
        assert _payload_of(value) is None
    assert _payload_of(b'{"payloadType":"t","payload":"eyJ9QQ==","signatures":[{"keyid":"k",'
                       b'"sig":"QUI="}]}') == b'{"}A'


def _event(type_name: str, hours: int, n: int, case_id: str = "C-1") -> CaseEvent:
    data = event_dict(sender_of(type_name), type_name, case_id)["data"]
    at = START + timedelta(hours=hours)
    if type_name in OWN_TIME:
        data[OWN_TIME[type_name]] = at.isoformat()
    return CaseEvent(event_id=str(uuid.UUID(int=n)), type_name=type_name,
                     agency=sender_of(type_name), case_id=case_id, time=at, data=data)


# Few ids and times, so duplicates and equal times occur.
EVENTS = st.lists(st.builds(_event, st.sampled_from(TYPES), st.integers(0, 3),
                            st.integers(0, 12)), max_size=10)


@settings(max_examples=200, deadline=None)
@given(EVENTS, st.randoms(use_true_random=False), st.integers(0, 10))
def test_fold_read_equals_applying_the_events_in_turn(events: list[CaseEvent], rng: Any,
                                                      split: int) -> None:
    shuffled = list(events)
    rng.shuffle(shuffled)
    expected: CaseState | None = None
    for event in shuffled:  # of two events with one id, the first applied counts
        expected = apply(expected, event)
    read = [(e, parse_event_data(e)) for e in shuffled]
    if expected is None:
        return
    got = fold_read("C-1", read)
    assert got == expected
    assert got.model_dump_json() == expected.model_dump_json()
    # Some now, the rest onto that state (a CaseFold read after part of the ledger).
    first = fold_read("C-1", read[:split]) if read[:split] else None
    assert fold_read("C-1", read[split:], first) == expected


def test_fold_read_refuses_another_cases_event() -> None:
    other = _event("case.closed", 1, 1, case_id="C-2")
    for state in (None, CaseState(case_id="C-1")):
        try:
            fold_read("C-1", [(other, parse_event_data(other))], state)
        except CaseEventError as exc:
            assert "C-2" in str(exc)
        else:
            raise AssertionError("another case's event was folded")


@st.composite
def ledgers(draw: st.DrawFn) -> list[bytes]:
    """Records of a few cases (some invalid, some repeated), in ledger order."""
    values: list[bytes] = []
    for _ in range(draw(st.integers(1, 12))):
        if draw(st.integers(0, 4)) == 0:
            values.append(draw(records()))
            continue
        event = _event(draw(st.sampled_from(TYPES)), draw(st.integers(0, 3)),
                       draw(st.integers(0, 6)), draw(st.sampled_from(["C-1", "C-2"])))
        wire = event_dict(event.agency, event.type_name, event.case_id, id=event.event_id,
                          time=event.time.isoformat(), data=event.data)
        if draw(st.integers(0, 5)) == 0:
            wire["data"] = {"nothing": True}  # invalid for every type with a required field
        values.append(envelope(json.dumps(wire).encode(), layout=draw(st.sampled_from([0, 0, 1]))))
    return values


@SETTINGS
@given(ledgers(), st.integers(0, 12))
def test_case_fold_counts_and_folds_as_applying_each_record(values: list[bytes],
                                                            peek: int) -> None:
    states: dict[str, CaseState] = {}
    events = bad = 0
    for value in values:
        try:
            event = decode_event(value)
            states[event.case_id] = apply(states.get(event.case_id), event)
        except (BadEvent, CaseEventError):
            bad += 1
        else:
            events += 1
    fold = CaseFold()
    for value in values[:peek]:  # one by one, then the rest as a page (`rules replay`)
        fold.add(value)
    assert set(fold.states) <= set(states)  # read part way: later events still fold
    fold.extend(values[peek:])
    assert (fold.events, fold.bad) == (events, bad)
    assert list(fold.states) == list(states)
    assert fold.states == states
    assert {c: s.model_dump_json() for c, s in fold.states.items()} == {
        c: s.model_dump_json() for c, s in states.items()}
