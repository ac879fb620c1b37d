"""Strict JSON reading of untrusted bytes: I-JSON (RFC 7493) plus what PostgreSQL can store.

What a record's JSON must be before any model sees it (docs/contract-notes.md, "Strict
JSON"): UTF-8; no `NaN`, `Infinity` or `-Infinity`; no duplicate member names; numbers
finite, integers within signed 64 bits; no U+0000 and no lone surrogate in any string or
member name (PostgreSQL's text and jsonb cannot hold them); nesting at most MAX_DEPTH deep.
Any breach raises `StrictJsonError` with an RFC 6901 pointer to where it was found.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from json.scanner import make_scanner
from typing import Any

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects accepted (an event needs about 5 levels)."""

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
_MAX_INT_DIGITS = 20


class StrictJsonError(ValueError):
    """Bytes that are not strict JSON; ``pointer`` locates the breach when it is known."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(f"{pointer or '/'}: {message}")
        self.pointer = pointer
        self.message = message


class _Constant(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _Constant(f"{name} 不是 JSON 数值 / {name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Constant(f"数值超出范围 / number out of range: {text[:40]}")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise _Constant("整数超过 64 位 / integer beyond 64 bits")
    value = int(text)
    if not INT_MIN <= value <= INT_MAX:
        raise _Constant("整数超过 64 位 / integer beyond 64 bits")
    return value


class _Duplicate(ValueError):
    pass


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _Duplicate(name)
            seen.add(name)
    return obj


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def _bad_string(text: str) -> str | None:
    if "\x00" in text:
        return "字符串含 U+0000 / string contains U+0000"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "字符串含孤立代理项 / string contains a lone surrogate"
    return None


def _check_tree(document: Any) -> None:
    """Depth, strings and member names, iteratively (no recursion on hostile input)."""
    stack: list[tuple[Any, str, int]] = [(document, "", 0)]
    while stack:
        node, pointer, depth = stack.pop()
        if isinstance(node, str):
            problem = _bad_string(node)
            if problem:
                raise StrictJsonError(pointer, problem)
        elif isinstance(node, dict | list):
            if depth >= MAX_DEPTH:
                raise StrictJsonError(pointer, f"嵌套超过 {MAX_DEPTH} 层 / nested deeper than "
                                               f"{MAX_DEPTH} levels")
            if isinstance(node, dict):
                for name, value in node.items():
                    problem = _bad_string(name)
                    child = f"{pointer}/{_escape(name) if problem is None else '?'}"
                    if problem:
                        raise StrictJsonError(child, "成员名: " + problem)
                    stack.append((value, child, depth + 1))
            else:
                stack.extend((value, f"{pointer}/{i}", depth + 1) for i, value in enumerate(node))


def loads_strict(data: bytes) -> Any:
    """Parse bytes as strict JSON (module docstring); raises StrictJsonError.

    Design decision (issue 14, session 9): text with no white space before or after its value
    (what every signer writes) is scanned by the decoder's C scanner directly, with the same
    hooks; `JSONDecoder.decode` wraps that scan in two regular-expression matches for the
    white space and a Python call or two (~11,000 of the ~48,000 instructions of reading an
    event). Whatever the direct scan does not end at the text's end with a document (white
    space, extra data, any error) is read again by `decode`, which then raises as before."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StrictJsonError("", f"不是 UTF-8 (字节 {exc.start}) / not UTF-8 (byte {exc.start})"
                              ) from None
    try:
        document, end = _SCAN(text, 0)
    except Exception:  # any failure: `decode` below reads it again and says why
        end = -1
    if end == len(text):
        if text.count("{") + text.count("[") > MAX_DEPTH or _SUSPECT.search(text):
            _check_tree_unless_shallow(text, document)
        return document
    try:
        document = _DECODER.decode(text)
    except _Duplicate as exc:
        raise StrictJsonError("", f"成员名重复 / duplicate member name {str(exc)[:40]!r}"
                              ) from None
    except _Constant as exc:
        raise StrictJsonError("", str(exc)) from None
    except RecursionError:
        raise StrictJsonError("", f"嵌套超过 {MAX_DEPTH} 层 / nested deeper than {MAX_DEPTH} "
                                  "levels") from None
    except json.JSONDecodeError as exc:
        raise StrictJsonError("", f"不是 JSON (第 {exc.pos} 个字符) / not JSON (at character "
                                  f"{exc.pos}): {exc.msg}") from None
    except ValueError as exc:  # e.g. int digits limit
        raise StrictJsonError("", f"数值无效 / invalid number: {str(exc)[:60]}") from None
    _check_tree_unless_shallow(text, document)
    return document


def _check_tree_unless_shallow(text: str, document: Any) -> None:
    if _SUSPECT.search(text) or (not _few_containers(text) and not _shallow_enough(document)):
        _check_tree(document)  # the exact check, naming where the problem is


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float,
                            parse_int=_bounded_int, object_pairs_hook=_unique_members)
"""One decoder for every call (`json.loads` with hooks builds a new one each time)."""
_SCAN: Callable[[str, int], tuple[Any, int]] = make_scanner(_DECODER)  # type: ignore[arg-type]
"""Its C scanner, called directly (`loads_strict`)."""


def _few_containers(text: str) -> bool:
    """True when the text opens at most MAX_DEPTH arrays and objects (brackets inside strings
    counted too): then none can sit at depth MAX_DEPTH, and the depth walk is not needed."""
    return text.count("{") + text.count("[") <= MAX_DEPTH


_SUSPECT = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
"""The only ways valid UTF-8 JSON text can put U+0000 or a lone surrogate into a string (json
rejects raw control characters in strings, and the UTF-8 decode rejects raw surrogates). Text
without them needs only the depth walk; a false alarm (e.g. an escaped backslash before
`u0000`) just takes the full check."""


def _shallow_enough(document: Any) -> bool:
    """True when no container sits at depth MAX_DEPTH or deeper (the fast path of the walk)."""
    stack: list[tuple[Any, int]] = [(document, 0)] if isinstance(document, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth >= MAX_DEPTH:
            return False
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return True


def load_object(data: bytes) -> dict[str, Any]:
    """A request body as a strict JSON object; StrictJsonError (a ValueError) if it is not."""
    document = loads_strict(data)
    if not isinstance(document, dict):
        raise StrictJsonError("", "需要 JSON 对象 / a JSON object is required")
    return document


def index_value(value: object, name: str) -> int:
    """A non-negative integer PostgreSQL's bigint holds (a tree size, an index), from a query
    string or a JSON value; ValueError naming `name` otherwise (bools and floats included)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= INT_MAX:
        raise ValueError(f"{name} 须为 0..{INT_MAX} 的整数 / {name} must be an integer in "
                         f"0..{INT_MAX}")
    return value
