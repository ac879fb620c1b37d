"""The strict-JSON fast path (only the depth walk when the text holds no `\\u0000` or surrogate
escape) decides exactly as the full walk: same documents accepted, same errors and pointers."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from schemas import strict_json
from schemas.strict_json import MAX_DEPTH, StrictJsonError, loads_strict

TEXT = st.text(alphabet=st.sampled_from(["a", "é", "\x00", "\ud800", "\udfff", "\\", "u", "0",
                                         "😀", '"']), max_size=8)
LEAVES = st.none() | st.booleans() | st.integers(-10**6, 10**6) | TEXT
DOCUMENTS = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=3)
                         | st.dictionaries(TEXT, inner, max_size=3), max_leaves=20)


def full_walk(data: bytes) -> Any:
    document = json.loads(data.decode("utf-8"))
    strict_json._check_tree(document)
    return document


def outcome(parse: Any, data: bytes) -> tuple[str, Any]:
    try:
        return "ok", parse(data)
    except StrictJsonError as exc:
        return "error", str(exc)


def nested(depth: int, leaf: Any) -> Any:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


@given(DOCUMENTS)
def test_fast_path_equals_the_full_walk(document: Any) -> None:
    data = json.dumps(document, ensure_ascii=True).encode()  # surrogates and NUL as \\u escapes
    assert outcome(loads_strict, data) == outcome(full_walk, data)


@given(st.integers(MAX_DEPTH - 2, MAX_DEPTH + 2), TEXT)
def test_depth_limit_is_the_same_on_both_paths(depth: int, leaf: str) -> None:
    for doc in (nested(depth, 1), nested(depth, leaf), {"a": nested(depth - 1, 1)}):
        data = json.dumps(doc, ensure_ascii=False, allow_nan=False).encode("utf-8", "surrogatepass")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            continue  # raw surrogates are not UTF-8: both paths refuse them before the walk
        assert outcome(loads_strict, data) == outcome(full_walk, data)
