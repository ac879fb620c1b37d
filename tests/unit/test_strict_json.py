"""Strict JSON, DSSE base64 and bounded details: what the hub reads from hostile bytes."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.b64 import dsse_b64decode
from schemas.reasons import bounded_text
from schemas.strict_json import (
    INT_MAX,
    INT_MIN,
    MAX_DEPTH,
    StrictJsonError,
    index_value,
    load_object,
    loads_strict,
)

storable_text = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"))
documents = st.recursive(
    st.none() | st.booleans() | st.integers(INT_MIN, INT_MAX)
    | st.floats(allow_nan=False, allow_infinity=False) | storable_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(storable_text, inner, max_size=4),
    max_leaves=30)


@settings(max_examples=200, deadline=None)
@given(documents, st.booleans())
def test_every_storable_json_document_reads_back_unchanged(document: Any, ascii: bool) -> None:
    assert loads_strict(json.dumps(document, ensure_ascii=ascii).encode()) == document


@pytest.mark.parametrize("text, pointer", [
    (b'{"a": NaN}', ""), (b'[Infinity]', ""), (b'[-Infinity]', ""), (b"[1e400]", ""),
    (b'{"a": 1, "a": 1}', ""), (b"[9223372036854775808]", ""), (b"[-9223372036854775809]", ""),
    (b"[" + b"9" * 5000 + b"]", ""), (b'{"a": ["\\u0000"]}', "/a/0"),
    (b'{"x~/y": "\\udc00"}', "/x~0~1y"), (b'{"\\u0000": 1}', "/?"), (b"\xff", ""),
    (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "/0" * MAX_DEPTH),
    (b"[" * 100_000 + b"]" * 100_000, ""), (b"{oops", ""),
])
def test_each_breach_is_refused_with_a_pointer(text: bytes, pointer: str) -> None:
    with pytest.raises(StrictJsonError) as refused:
        loads_strict(text)
    assert refused.value.pointer == pointer
    assert "Error" not in str(refused.value)


def test_the_edges_that_are_still_strict_json() -> None:
    assert loads_strict(b"[9223372036854775807, -9223372036854775808, 1e308]") == [
        INT_MAX, INT_MIN, 1e308]
    assert loads_strict(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    with pytest.raises(StrictJsonError):
        load_object(b"[]")


@pytest.mark.parametrize("value, expected", [("0", 0), ("42", 42), (7, 7), (INT_MAX, INT_MAX)])
def test_index_values(value: object, expected: int) -> None:
    assert index_value(value, "n") == expected


@pytest.mark.parametrize("value", ["-1", "1.5", "", " 1", "１", str(INT_MAX + 1), "9" * 40,
                                   True, 1.0, None, -1, INT_MAX + 1, [1]])
def test_index_values_refused(value: object) -> None:
    with pytest.raises(ValueError, match="n must be an integer"):
        index_value(value, "n")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_dsse_base64_reads_both_alphabets_with_or_without_padding(data: bytes) -> None:
    standard = base64.b64encode(data).decode()
    url = base64.urlsafe_b64encode(data).decode()
    for text in (standard, url, standard.rstrip("="), url.rstrip("=")):
        assert dsse_b64decode(text) == data


@pytest.mark.parametrize("text", ["+_8=", "YQ=", "Y", "YQ==\n", "YQ===", "Y Q==", "é"])
def test_dsse_base64_refuses_what_no_encoder_writes(text: str) -> None:
    with pytest.raises(ValueError):
        dsse_b64decode(text)


@settings(max_examples=300, deadline=None)
@given(st.text(), st.integers(10, 400))
def test_bounded_text_is_short_printable_and_storable(text: str, limit: int) -> None:
    shown = bounded_text(text, limit)
    assert len(shown) <= limit
    shown.encode("utf-8")
    assert shown.isprintable()
    surrogate = any(0xD800 <= ord(c) <= 0xDFFF for c in text)
    if len(text) < limit and text.isprintable() and not surrogate:
        assert shown == text
