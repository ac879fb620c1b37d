"""Money on the wire: a JSON string in yuan with at most two decimals, Decimal inside."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

MONEY_PATTERN = r"^(0|[1-9][0-9]{0,15})(\.[0-9]{1,2})?$"
_MONEY_RE = re.compile(MONEY_PATTERN)


def parse_money(value: object) -> Decimal:
    """Parse a contract money string ("50000.00") exactly; floats and numbers are refused."""
    if not isinstance(value, str):
        raise ValueError("money must be a JSON string in yuan, e.g. \"50000.00\"")
    if not _MONEY_RE.fullmatch(value):
        raise ValueError("money must be a non-negative decimal string with at most two decimals")
    return Decimal(value)


_CENT = Decimal("0.01")


def format_money(value: Decimal) -> str:
    """Format a Decimal as the contract's money string with two decimals."""
    return f"{value.quantize(_CENT):f}"


Money = Annotated[
    Decimal,
    BeforeValidator(parse_money),
    PlainSerializer(format_money, return_type=str, when_used="always"),
    WithJsonSchema({"type": "string", "pattern": MONEY_PATTERN, "description": "人民币元 / yuan"}),
]
