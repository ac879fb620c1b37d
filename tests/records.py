"""Builders of valid and deliberately bad ingress records, one per contract reason code."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.events import build_event
from schemas.dsse import EVENT_PAYLOAD_TYPE, Envelope, pae
from schemas.signing import SigningKey

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def now_iso(offset: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + offset).isoformat()


def sample_data(type_name: str) -> dict[str, Any]:
    """Valid data for every event type of the contract."""
    t = now_iso(-timedelta(hours=1))
    sha = "ab" * 32
    catalogue: dict[str, dict[str, Any]] = {
        "case.opened": {"offence": "trademark_counterfeiting", "opened_at": t, "summary": "灯博会",
                        "parties": [{"kind": "organization", "id_type": "USCC",
                                     "id_number": "91442000MA4UXXXX1X", "name": "古镇某灯饰厂"}]},
        "case.assessed": {"assessed_at": t, "illegal_business_amount": "86000.00",
                          "marks_count": 2},
        "clue.notified": {"to_agency": "zs-psb", "summary": "疑似假冒商标"},
        "penalty.decided": {"decision_no": "中工商罚〔2026〕1号", "decided_at": t,
                            "fine": "20000.00", "confiscated": "0.00"},
        "transfer.decided": {"report_at": t, "decided_at": t, "approved": True},
        "case.transferred": {"to_agency": "zs-psb", "transferred_at": t, "documents": [
            {"kind": k, "title": k, "sha256": sha}
            for k in ("transfer_letter", "investigation_report", "seized_items_list",
                      "inspection_report")]},
        "evidence.handed_over": {"handover_id": "H-1", "to_agency": "zs-psb", "handed_over_at": t,
                                 "items": [{"item_id": "I-1", "description": "灯具", "quantity": 120}]},
        "evidence.received": {"handover_id": "H-1", "received_at": t, "discrepancies": []},
        "transfer.accepted": {"accepted_at": t, "receipt_no": "R-1"},
        "transfer.forwarded": {"forwarded_at": t, "to_agency": "zs-procuratorate"},
        "filing.decided": {"decided_at": t, "filed": True, "reasons": "", "complex": False},
        "reconsideration.requested": {"requested_at": t},
        "reconsideration.decided": {"decided_at": t, "upheld": True},
        "supervision.requested": {"requested_at": t, "reasons": "不立案理由不成立"},
        "supervision.issued": {"issued_at": t, "kind": "explain_non_filing", "to_agency": "zs-psb"},
        "investigation.requested": {"to_agency": "zs-customs", "request_id": "Q-1"},
        "investigation.responded": {"request_id": "Q-1", "responded_at": t},
        "case.closed": {"closed_at": t, "outcome": "移送后结案"},
        "prosecution.decided": {"decided_at": t, "prosecuted": False, "reasons": "犯罪情节轻微"},
        "opinion.issued": {"opinion_id": "OP-1", "to_agency": "zs-aic", "issued_at": t,
                           "proposal": "administrative_penalty", "summary": "建议给予行政处罚"},
        "opinion.replied": {"opinion_id": "OP-1", "replied_at": t, "outcome": "penalty_imposed",
                            "reasons": "已处罚款"},
        "clue.received": {"clue_id": "CL-1", "channel": "ecommerce_platform", "received_at": t,
                          "summary": "平台通报疑似售假店铺", "platform": "某电商平台",
                          "reporter_named": True},
        "clue.answered": {"clue_id": "CL-1", "answered_at": t, "outcome": "case_opened"},
    }
    return catalogue[type_name]


OWN_TIME: dict[str, str] = {
    "case.opened": "opened_at",
    "case.assessed": "assessed_at",
    "penalty.decided": "decided_at",
    "transfer.decided": "decided_at",
    "case.transferred": "transferred_at",
    "evidence.handed_over": "handed_over_at",
    "evidence.received": "received_at",
    "transfer.accepted": "accepted_at",
    "transfer.forwarded": "forwarded_at",
    "filing.decided": "decided_at",
    "reconsideration.requested": "requested_at",
    "reconsideration.decided": "decided_at",
    "supervision.requested": "requested_at",
    "supervision.issued": "issued_at",
    "case.closed": "closed_at",
    "prosecution.decided": "decided_at",
    "opinion.issued": "issued_at",
    "opinion.replied": "replied_at",
    "clue.received": "received_at",
    "clue.answered": "answered_at",
}
"""The data field that carries each event type's own time (what the rules read)."""


V11_SENDER_ROLES: dict[str, frozenset[str]] = {
    "prosecution.decided": frozenset({"procuratorate"}),
    "opinion.issued": frozenset({"procuratorate"}),
    "opinion.replied": frozenset({"administrative"}),
    "clue.received": frozenset({"administrative", "police"}),
    "clue.answered": frozenset({"administrative", "police"}),
}
"""Contract v1.1 (2026-11-27) §2: the added event types and the roles that may send them."""


SENDER_ROLE = {
    "transfer.accepted": "zs-psb", "transfer.forwarded": "zs-psb", "filing.decided": "zs-psb",
    "reconsideration.decided": "zs-psb", "supervision.issued": "zs-procuratorate",
    "prosecution.decided": "zs-procuratorate", "opinion.issued": "zs-procuratorate",
}


def sender_of(type_name: str) -> str:
    return SENDER_ROLE.get(type_name, "zs-aic")


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes | None
    value: bytes
    event_id: str | None


def envelope_for(key: SigningKey, event_bytes: bytes, payload_type: str = EVENT_PAYLOAD_TYPE) -> bytes:
    return key.sign_envelope(payload_type, event_bytes).to_json_bytes()


def event_dict(agency: str, type_name: str, case_id: str, **overrides: Any) -> dict[str, Any]:
    _, raw = build_event(agency, type_name, case_id, sample_data(type_name), validate=False)
    event: dict[str, Any] = json.loads(raw)
    event.update(overrides)
    return event


def signed(key: SigningKey, agency: str, event: dict[str, Any], record_key: str | None = None,
           topic_agency: str | None = None) -> Record:
    raw = json.dumps(event, ensure_ascii=False).encode()
    subject = record_key if record_key is not None else event.get("subject", "")
    return Record(f"linkage.ingress.{topic_agency or agency}", str(subject).encode(),
                  envelope_for(key, raw), event.get("id"))


def valid(key: SigningKey, agency: str, type_name: str, case_id: str | None = None) -> Record:
    case_id = case_id or f"CASE-{uuid.uuid4().hex[:8]}"
    return signed(key, agency, event_dict(agency, type_name, case_id))


BadBuilder = Callable[[SigningKey, SigningKey], Record]
"""(the agency's registered key, an unregistered key) -> a record that must be rejected."""


def _case() -> str:
    return f"CASE-{uuid.uuid4().hex[:8]}"


def _bad_signature(key: SigningKey, _: SigningKey) -> Record:
    event = event_dict("zs-aic", "case.opened", _case())
    raw = json.dumps(event).encode()
    other = json.dumps(dict(event, subject="tampered")).encode()
    sig = key.sign(pae(EVENT_PAYLOAD_TYPE, other))
    env = Envelope.build(EVENT_PAYLOAD_TYPE, raw, key.keyid, sig)
    return Record("linkage.ingress.zs-aic", event["subject"].encode(), env.to_json_bytes(), event["id"])


def _too_large(key: SigningKey, _: SigningKey) -> Record:
    event = event_dict("zs-aic", "case.opened", _case())
    event["data"]["summary"] = "x" * (1024 * 1024)
    return signed(key, "zs-aic", event)


def _schema_invalid(key: SigningKey, _: SigningKey) -> Record:
    event = event_dict("zs-aic", "penalty.decided", _case())
    event["data"]["fine"] = 20000.5
    return signed(key, "zs-aic", event)


def _bad_payload_type(key: SigningKey, _: SigningKey) -> Record:
    event = event_dict("zs-aic", "case.opened", "X")
    raw = json.dumps(event).encode()
    return Record("linkage.ingress.zs-aic", b"X", envelope_for(key, raw, "application/json"),
                  event["id"])


def _malformed_event(key: SigningKey, _: SigningKey) -> Record:
    event = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "urn:linkage:agency:zs-aic"}
    return signed(key, "zs-aic", event, record_key="X")


BAD_RECORDS: dict[str, BadBuilder] = {
    "MALFORMED_ENVELOPE": lambda k, o: Record("linkage.ingress.zs-aic", b"X", b"{not json", None),
    "BAD_PAYLOAD_TYPE": _bad_payload_type,
    "MALFORMED_EVENT": _malformed_event,
    "UNKNOWN_KEY": lambda k, o: signed(o, "zs-aic", event_dict("zs-aic", "case.opened", _case())),
    "BAD_SIGNATURE": _bad_signature,
    "SOURCE_MISMATCH": lambda k, o: signed(
        k, "zs-aic", event_dict("zs-aic", "case.opened", _case(),
                                source="urn:linkage:agency:zs-ipo")),
    "NOT_PERMITTED": lambda k, o: signed(k, "zs-aic",
                                         event_dict("zs-aic", "transfer.accepted", _case())),
    "UNKNOWN_TYPE": lambda k, o: signed(k, "zs-aic", event_dict(
        "zs-aic", "case.opened", _case(), type="cn.linkage.case.reopened.v1")),
    "SCHEMA_INVALID": _schema_invalid,
    "CASE_MISMATCH": lambda k, o: signed(k, "zs-aic", event_dict("zs-aic", "case.opened", "A-1"),
                                         record_key="B-2"),
    "CLOCK_SKEW": lambda k, o: signed(k, "zs-aic", event_dict(
        "zs-aic", "case.opened", _case(), time=now_iso(timedelta(minutes=10)))),
    "TOO_LARGE": _too_large,
}
"""KEY_REVOKED needs a revoked registered key; tests build it with `valid()` and a revoked key."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def signed_bytes(key: SigningKey, agency: str, raw: bytes, record_key: str,
                 event_id: str | None = None) -> Record:
    """A record whose event bytes are exactly `raw` (for JSON no dict can express)."""
    return Record(f"linkage.ingress.{agency}", record_key.encode(), envelope_for(key, raw),
                  event_id)


def _hostile_event(key: SigningKey, text: str, case: str, event_id: str) -> Record:
    return signed_bytes(key, "zs-aic", text.encode("utf-8"), case, event_id)


def _with(key: SigningKey, edit: Callable[[str], str], **overrides: Any) -> Record:
    """A signed case.opened whose JSON text is edited after encoding (ASCII-escaped)."""
    case = _case()
    event = event_dict("zs-aic", "case.opened", case, **overrides)
    return _hostile_event(key, edit(json.dumps(event)), case, event["id"])


def _nul_keyid(key: SigningKey, _: SigningKey) -> Record:
    record = valid(key, "zs-aic", "case.opened")
    envelope = json.loads(record.value)
    envelope["signatures"][0]["keyid"] = "ab\u0000cd"
    return Record(record.topic, record.key, json.dumps(envelope).encode(), record.event_id)


def _deep_envelope(key: SigningKey, _: SigningKey) -> Record:
    return Record("linkage.ingress.zs-aic", b"DEEP", b'{"payloadType":' + b"[" * 100_000
                  + b"]" * 100_000 + b"}", None)


def damaged(value: bytes, position: int, byte: int, edit: str) -> bytes:
    """The bytes with one byte replaced, inserted or deleted at `position` (modulo the length):
    what the property tests of the fast readers feed both readers."""
    out = bytearray(value)
    at = position % len(out)
    if edit == "replace":
        out[at] = byte
    elif edit == "insert":
        out.insert(at, byte)
    else:
        del out[at]
    return bytes(out)


def url_safe(record: Record) -> Record:
    """The record with its envelope in URL-safe base64 without padding (DSSE allows it)."""
    envelope = json.loads(record.value)
    envelope["payload"] = envelope["payload"].replace("+", "-").replace("/", "_").rstrip("=")
    for s in envelope["signatures"]:
        s["sig"] = s["sig"].replace("+", "-").replace("/", "_").rstrip("=")
    return Record(record.topic, record.key, json.dumps(envelope).encode(), record.event_id)


HOSTILE_RECORDS: dict[str, tuple[BadBuilder, str]] = {
    "nul_in_keyid": (_nul_keyid, "MALFORMED_ENVELOPE"),
    "nul_in_source": (lambda k, o: _with(k, lambda t: t, source="urn:linkage:agency:zs-aic\u0000"),
                      "MALFORMED_EVENT"),
    "year_one_time": (lambda k, o: _with(k, lambda t: t, time="0001-01-01T00:00:00+14:00"),
                      "MALFORMED_EVENT"),
    "year_9999_time": (lambda k, o: _with(k, lambda t: t, time="9999-12-31T23:59:59-14:00"),
                       "MALFORMED_EVENT"),
    "year_one_in_data": (lambda k, o: _with(k, lambda t: t.replace(
        '"opened_at": "', '"opened_at": "0001-01-01T00:00:00+14:00", "x": "')),
        "SCHEMA_INVALID"),
    "nan_in_data": (lambda k, o: _with(k, lambda t: t.replace('"data": {', '"data": {"n": NaN, ')),
                    "MALFORMED_EVENT"),
    "infinity": (lambda k, o: _with(k, lambda t: t.replace('"data": {', '"data": {"n": -Infinity, ')),
                 "MALFORMED_EVENT"),
    "overflowing_float": (lambda k, o: _with(k, lambda t: t.replace('"data": {', '"data": {"n": 1e999, ')),
                          "MALFORMED_EVENT"),
    "duplicate_member": (lambda k, o: _with(k, lambda t: t.replace(
        '"specversion": "1.0"', '"specversion": "1.0", "specversion": "1.0"')), "MALFORMED_EVENT"),
    "huge_integer": (lambda k, o: _with(k, lambda t: t.replace('"data": {', '"data": {"n": '
                                                                + "9" * 30 + ", ")),
                     "MALFORMED_EVENT"),
    "lone_surrogate": (lambda k, o: _with(k, lambda t: t.replace('"summary": "', '"summary": "\\ud800')),
                       "MALFORMED_EVENT"),
    "deep_event": (lambda k, o: _with(k, lambda t: t.replace('"data": {', '"data": {"n": '
                                                             + "[" * 5000 + "]" * 5000 + ", ")),
                   "MALFORMED_EVENT"),
    "deep_envelope": (_deep_envelope, "MALFORMED_ENVELOPE"),
    "long_type": (lambda k, o: _with(k, lambda t: t, type="cn.linkage." + "x" * 200_000 + ".v1"),
                  "UNKNOWN_TYPE"),
}
"""Records that once stopped the hub or slipped past it (issue 7): name -> (builder, reason)."""
