"""Reason codes of the contract (section 3) with their bilingual human messages."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a record was rejected; the value is the contract's machine code."""

    MALFORMED_ENVELOPE = "MALFORMED_ENVELOPE"
    BAD_PAYLOAD_TYPE = "BAD_PAYLOAD_TYPE"
    MALFORMED_EVENT = "MALFORMED_EVENT"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    BAD_SIGNATURE = "BAD_SIGNATURE"
    KEY_REVOKED = "KEY_REVOKED"
    SOURCE_MISMATCH = "SOURCE_MISMATCH"
    NOT_PERMITTED = "NOT_PERMITTED"
    UNKNOWN_TYPE = "UNKNOWN_TYPE"
    SCHEMA_INVALID = "SCHEMA_INVALID"
    CASE_MISMATCH = "CASE_MISMATCH"
    CLOCK_SKEW = "CLOCK_SKEW"
    TOO_LARGE = "TOO_LARGE"

    @property
    def message_zh(self) -> str:
        return _MESSAGES[self][0]

    @property
    def message_en(self) -> str:
        return _MESSAGES[self][1]


_MESSAGES: dict[Reason, tuple[str, str]] = {
    Reason.MALFORMED_ENVELOPE: ("记录不是有效的 DSSE 信封", "the record is not a valid DSSE envelope"),
    Reason.BAD_PAYLOAD_TYPE: ("信封的 payloadType 不是 application/cloudevents+json",
                              "the envelope's payloadType is not application/cloudevents+json"),
    Reason.MALFORMED_EVENT: ("载荷不是有效的 CloudEvents 1.0 事件",
                             "the payload is not a valid CloudEvents 1.0 event"),
    Reason.UNKNOWN_KEY: ("签名密钥未登记", "the signing key is not registered"),
    Reason.BAD_SIGNATURE: ("签名验证失败", "the signature does not verify"),
    Reason.KEY_REVOKED: ("签名密钥已吊销", "the signing key has been revoked"),
    Reason.SOURCE_MISMATCH: ("事件来源、主题与密钥所属机关不一致",
                             "the event source, the topic and the key's agency differ"),
    Reason.NOT_PERMITTED: ("该机关的角色无权发送此类事件",
                           "the agency's role may not send this event type"),
    Reason.UNKNOWN_TYPE: ("未知的事件类型", "unknown event type"),
    Reason.SCHEMA_INVALID: ("事件数据不符合该类型的模式", "the event data does not match its schema"),
    Reason.CASE_MISMATCH: ("记录键与事件 subject(案件编号)不一致",
                           "the record key differs from the event subject (case id)"),
    Reason.CLOCK_SKEW: ("事件时间超前当前时间 5 分钟以上",
                        "the event time is more than 5 minutes in the future"),
    Reason.TOO_LARGE: ("记录超过 1 MiB", "the record value is larger than 1 MiB"),
}


MAX_DETAIL_CHARS = 300
"""Longest reason detail the hub stores, receipts and puts in a quarantine header."""


def bounded_text(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    """`text` made safe to store and sign: printable, valid UTF-8, at most `limit` characters.

    Details echo values taken from hostile records (key ids, sources, types, case keys).
    Control characters (U+0000 among them) and lone surrogates become `\\uXXXX` escapes, so
    PostgreSQL text, a Kafka header and a signed receipt can all carry the result; an
    over-long result is cut and ends with "…".
    """
    out: list[str] = []
    size = 0
    for ch in text:
        code = ord(ch)
        piece = ch if ch.isprintable() and not 0xD800 <= code <= 0xDFFF else (
            f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        size += len(piece)
        if size > limit - 1:
            out.append("…")
            break
        out.append(piece)
    return "".join(out)
