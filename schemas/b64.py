"""Strict base64 (RFC 4648 §4) for every base64 field the hub reads; DSSE's two alphabets."""

from __future__ import annotations

import base64
import binascii
import re
from functools import lru_cache


def strict_b64decode(s: str) -> bytes:
    """Standard base64 with alphabet, padding and canonical form checked; ValueError if not."""
    try:
        raw = base64.b64decode(s.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise ValueError("not standard base64") from exc
    if base64.b64encode(raw).decode("ascii") != s:
        raise ValueError("non-canonical base64")
    return raw


_STANDARD = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_URL_SAFE = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def _dsse_checked(text: str) -> tuple[str, bytes | None]:
    """`text` padded, and its alphabet's altchars, if it is DSSE base64; ValueError if not.
    What passes these checks `base64.b64decode(..., validate=True)` always decodes."""
    if _STANDARD.fullmatch(text):
        altchars = None
    elif _URL_SAFE.fullmatch(text):
        altchars = b"-_"
    else:
        raise ValueError("not base64")
    body = text.rstrip("=")
    if len(body) % 4 == 1 or (text != body and len(text) % 4):
        raise ValueError("not base64: bad length or padding")
    return body + "=" * (-len(body) % 4), altchars


@lru_cache(maxsize=4096)
def dsse_b64decode(text: str) -> bytes:
    """Decode DSSE base64: standard or URL-safe alphabet (never mixed), padding optional.

    The DSSE envelope spec allows either encoding; like the reference implementations,
    padding may be left out. Anything else (whitespace, mixed alphabets, a length that no
    base64 text can have) raises ValueError.

    Memoised (bytes are immutable; errors are not cached): reading one record decoded its
    payload seven times (validators, signature check, event parse, receipt).
    """
    padded, altchars = _dsse_checked(text)
    return base64.b64decode(padded.encode("ascii"), altchars=altchars, validate=True)
