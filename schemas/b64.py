"""Strict base64 (RFC 4648 §4): the one decoder for every base64 field the hub reads."""

from __future__ import annotations

import base64
import binascii


def strict_b64decode(s: str) -> bytes:
    """Standard base64 with alphabet, padding and canonical form checked; ValueError if not."""
    try:
        raw = base64.b64decode(s.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise ValueError("not standard base64") from exc
    if base64.b64encode(raw).decode("ascii") != s:
        raise ValueError("non-canonical base64")
    return raw
