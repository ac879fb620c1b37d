"""Party identifiers: 统一社会信用代码 (GB 32100-2015) and 居民身份证号码 (GB 11643-1999) check characters.

A party is matched across agencies by a *validated* identifier only: the same code written by
two agencies under different type names ("USCC", "统一社会信用代码"; "身份证", "居民身份证")
is the same party, and a code whose check character is wrong matches nothing but itself.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from functools import lru_cache
from typing import Final

USCC_CHARSET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100-2015: no I, O, S, V, Z
_USCC_WEIGHTS: Final = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, 26, ...
# GB 32100-2015 §4.1: the first character is the registration authority (登记管理部门代码):
# 1-9, A (军队), N (农业), Y (其他); characters 3-8 are the administrative division code.
_USCC_AUTHORITIES: Final = frozenset("123456789ANY")

_ID_WEIGHTS: Final = tuple(pow(2, 17 - i, 11) for i in range(17))  # 7, 9, 10, 5, 8, 4, 2, 1, 6, ...
_ID_CHECK: Final = "10X98765432"  # GB 11643-1999: check = _ID_CHECK[sum mod 11]

USCC: Final = "USCC"
PRC_ID: Final = "PRC_ID"

# Type names agencies use for the two identifiers (compared after NFKC folding, upper case).
USCC_TYPE_NAMES: Final = frozenset(
    {"USCC", "统一社会信用代码", "社会信用代码", "UNIFIED_SOCIAL_CREDIT_CODE", "CREDIT_CODE"}
)
PRC_ID_TYPE_NAMES: Final = frozenset(
    {"PRC_ID", "RID", "ID_CARD", "IDCARD", "身份证", "居民身份证", "身份证号", "身份证号码",
     "居民身份证号码"}
)


def uscc_check_char(body: str) -> str:
    """The 18th character of a 统一社会信用代码 for its first 17 (GB 32100-2015, mod 31)."""
    if len(body) != 17 or any(ch not in USCC_CHARSET for ch in body):
        raise ValueError("a USCC body is 17 characters of 0-9 and A-Y without I, O, S, V, Z")
    total = sum(USCC_CHARSET.index(ch) * w for ch, w in zip(body, _USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    """True when `code` is an 18-character USCC whose check character is right."""
    return (
        len(code) == 18
        and all(ch in USCC_CHARSET for ch in code)
        and uscc_check_char(code[:17]) == code[17]
    )


def is_wellformed_uscc(code: str) -> bool:
    """A valid check character, a registration authority of the standard (1-9, A, N, Y) and a
    six-digit division code: what a party match requires."""
    return is_valid_uscc(code) and code[0] in _USCC_AUTHORITIES and code[2:8].isdigit()


def prc_id_check_char(body: str) -> str:
    """The 18th character of a 居民身份证号码 for its first 17 digits (GB 11643-1999, ISO 7064 MOD 11-2)."""
    if len(body) != 17 or not body.isascii() or not body.isdigit():
        raise ValueError("an identity number body is 17 digits")
    return _ID_CHECK[sum(int(ch) * w for ch, w in zip(body, _ID_WEIGHTS, strict=True)) % 11]


def is_valid_prc_id(number: str) -> bool:
    """18 characters, a real date of birth in characters 7-14, and the right check character."""
    if len(number) != 18 or not number[:17].isascii() or not number[:17].isdigit():
        return False
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return born.year >= 1900 and prc_id_check_char(number[:17]) == number[17]


def _fold(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).split()).upper()


@lru_cache(maxsize=65536)  # called for every party of every case the rules look at
def validated_identity(id_type: str, id_number: str) -> tuple[str, str] | None:
    """("USCC", code) or ("PRC_ID", number) when the type names one of the two identifiers and the
    number passes its standard's checks; None otherwise (the party cannot be matched reliably)."""
    kind, number = _fold(id_type), _fold(id_number)
    if kind in USCC_TYPE_NAMES and is_wellformed_uscc(number):
        return (USCC, number)
    if kind in PRC_ID_TYPE_NAMES and is_valid_prc_id(number):
        return (PRC_ID, number)
    return None
