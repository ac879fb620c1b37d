"""Cell codecs of the 双公示 export: amounts in 元/万元, dates and Excel serials, 统一社会信用代码."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Final

from connectors.penalty.records import AmountUnit, CellValueError, PartyCategory, ReasonCode
from schemas.identity import USCC_CHARSET, uscc_check_char

_MAX_INTEGER_DIGITS_YUAN: Final = 16  # the contract's money: at most 16 integer digits
_AMOUNT_RE: Final = re.compile(r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?")


def nfkc(text: str) -> str:
    """Full-width forms to ASCII (digits, ，．（）, ideographic space), invisible characters out."""
    folded = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in folded if unicodedata.category(ch) != "Cf").strip()


def parse_amount(text: str, unit: AmountUnit = AmountUnit.WAN) -> Decimal:
    """Read an amount exactly as yuan with two decimals; 万元 by default ("1.5" -> 15000.00).

    Accepts full-width digits, thousands separators (, and ，) in groups of three, surrounding
    spaces and a trailing unit word. Refuses anything not exactly representable in fen (more than
    six decimals in 万元), negatives, scientific notation, and values beyond the contract's money.
    """
    cleaned = nfkc(text)
    cleaned = cleaned.removesuffix(unit.label_zh)
    if unit is AmountUnit.WAN:
        cleaned = cleaned.removesuffix("万")
    cleaned = cleaned.rstrip()
    if cleaned.startswith("-"):
        raise CellValueError(
            ReasonCode.BAD_AMOUNT, "金额不能为负数", "an amount cannot be negative"
        )
    if re.fullmatch(r"[\d.,]+[eE][+-]?\d+", cleaned):
        raise CellValueError(
            ReasonCode.BAD_AMOUNT,
            "金额为科学计数法，请将单元格设为数值格式后重新导出",
            "the amount is in scientific notation; format the cell as a number and export again",
        )
    match = _AMOUNT_RE.fullmatch(cleaned)
    if match is None:
        raise CellValueError(
            ReasonCode.BAD_AMOUNT,
            f"无法识别为金额（{unit.label_zh}），应为如 1,234.5 的数字",
            f"not an amount in {unit.label_en}; "
            "expected a number such as 1,234.5",
        )
    integer = match["int"].replace(",", "").lstrip("0")
    fraction = (match["frac"] or "").rstrip("0")
    places = unit.value + 2  # decimals of this unit that are whole fen
    if len(fraction) > places:
        raise CellValueError(
            ReasonCode.AMOUNT_TOO_PRECISE,
            f"金额精确到了分以下：以{unit.label_zh}为单位最多 {places} 位小数",
            f"the amount is more precise than one fen: at most {places} decimals in "
            f"{unit.label_en}",
        )
    if len(integer) + unit.value > _MAX_INTEGER_DIGITS_YUAN:
        raise CellValueError(
            ReasonCode.BAD_AMOUNT, "金额过大", "the amount is too large"
        )
    fen = int(integer + fraction.ljust(places, "0"))
    return Decimal((0, tuple(int(digit) for digit in str(fen)), -2))


_EXCEL_EPOCH: Final = date(1899, 12, 30)  # serial 0 for every date from 1900-03-01 on
_EXCEL_LEAP_BUG: Final = 60  # Excel's 1900-02-29, which does not exist
_EXCEL_MAX_SERIAL: Final = 2958465  # 9999-12-31


def excel_serial_to_date(serial: int) -> date:
    """Excel 1900 date system: 1 = 1900-01-01, 45292 = 2024-01-01 (60 is Excel's 1900-02-29)."""
    if not 1 <= serial <= _EXCEL_MAX_SERIAL or serial == _EXCEL_LEAP_BUG:
        raise CellValueError(
            ReasonCode.BAD_DATE,
            f"Excel 日期序列号 {serial} 不对应任何日期",
            f"Excel date serial {serial} is not a date",
        )
    if serial < _EXCEL_LEAP_BUG:
        return _EXCEL_EPOCH + timedelta(days=serial + 1)
    return _EXCEL_EPOCH + timedelta(days=serial)


def date_to_excel_serial(day: date) -> int:
    """The Excel 1900-system serial of a date from 1900-01-01 on (inverse of the above)."""
    serial = (day - _EXCEL_EPOCH).days
    if day < date(1900, 3, 1):
        serial -= 1
    if serial < 1:
        raise ValueError("Excel's 1900 date system starts on 1900-01-01")
    return serial


_TIME_SUFFIX: Final = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
_DATE_FORMS: Final = (
    re.compile(rf"(?P<y>\d{{4}})(?P<sep>[-/.])(?P<m>\d{{1,2}})(?P=sep)(?P<d>\d{{1,2}}){_TIME_SUFFIX}"),
    re.compile(r"(?P<y>\d{4})年(?P<m>\d{1,2})月(?P<d>\d{1,2})日?"),
    re.compile(r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})"),
)
_EXCEL_SERIAL_FORM: Final = re.compile(r"(?P<serial>\d{5})(?:\.\d+)?")


def parse_date(text: str) -> date:
    """Read YYYY-MM-DD, YYYY/M/D, YYYY.M.D (a time after it is ignored), YYYY年M月D日, YYYYMMDD,
    or a five-digit Excel serial number (1900 date system), full-width digits included."""
    cleaned = re.sub(r"\s*([年月日])\s*", r"\1", nfkc(text))
    for form in _DATE_FORMS:
        match = form.fullmatch(cleaned)
        if match is not None:
            try:
                return date(int(match["y"]), int(match["m"]), int(match["d"]))
            except ValueError:
                raise CellValueError(
                    ReasonCode.BAD_DATE, "日期不存在", "no such calendar date"
                ) from None
    match = _EXCEL_SERIAL_FORM.fullmatch(cleaned)
    if match is not None:
        return excel_serial_to_date(int(match["serial"]))
    raise CellValueError(
        ReasonCode.BAD_DATE,
        "无法识别的日期，应为 2024-01-31、2024/1/31、2024年1月31日、20240131 或 Excel 日期",
        "unreadable date; expected 2024-01-31, 2024/1/31, 2024年1月31日, 20240131 or an Excel date",
    )


def clean_code(text: str) -> str:
    """A code as typed: full-width folded, Excel text markers (="…", leading ') and spaces out."""
    cleaned = nfkc(text)
    if len(cleaned) >= 3 and cleaned.startswith('="') and cleaned.endswith('"'):
        cleaned = cleaned[2:-1]
    cleaned = "".join(cleaned.removeprefix("'").split()).upper()
    if re.fullmatch(r"\d+(?:\.\d+)?E\+?\d+", cleaned):
        raise CellValueError(
            ReasonCode.BAD_CODE,
            "号码已被 Excel 显示为科学计数法，原号码已丢失；请将该列设为文本后重新导出",
            "Excel turned this number into scientific notation and lost digits; "
            "format the column as text and export again",
        )
    return cleaned


def parse_uscc(text: str) -> str:
    code = clean_code(text)
    if len(code) != 18:
        raise CellValueError(
            ReasonCode.BAD_USCC,
            f"统一社会信用代码应为 18 位，实际为 {len(code)} 位",
            f"a unified social credit code has 18 characters, this one has {len(code)}",
        )
    bad = sorted({ch for ch in code if ch not in USCC_CHARSET})
    if bad:
        raise CellValueError(
            ReasonCode.BAD_USCC,
            f"统一社会信用代码含不允许的字符 {''.join(bad)}（不使用 I、O、S、V、Z）",
            f"the unified social credit code contains {''.join(bad)} "
            "(I, O, S, V and Z are never used)",
        )
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        raise CellValueError(
            ReasonCode.BAD_USCC,
            f"统一社会信用代码校验码错误：第 18 位应为 {expected}，实为 {code[17]}",
            f"wrong check character in the unified social credit code: "
            f"the 18th should be {expected}, not {code[17]}",
        )
    return code


_PARTY_CATEGORY_ALIASES: Final[Mapping[str, PartyCategory]] = {
    "法人及非法人组织": PartyCategory.ORGANIZATION,
    "法人及其他组织": PartyCategory.ORGANIZATION,
    "法人和其他组织": PartyCategory.ORGANIZATION,
    "法人或其他组织": PartyCategory.ORGANIZATION,
    "法人": PartyCategory.ORGANIZATION,
    "非法人组织": PartyCategory.ORGANIZATION,
    "其他组织": PartyCategory.ORGANIZATION,
    "自然人": PartyCategory.PERSON,
    "个人": PartyCategory.PERSON,
    "个体工商户": PartyCategory.SELF_EMPLOYED,
    "个体户": PartyCategory.SELF_EMPLOYED,
}


def parse_party_category(text: str) -> PartyCategory:
    category = _PARTY_CATEGORY_ALIASES.get("".join(nfkc(text).split()))
    if category is None:
        raise CellValueError(
            ReasonCode.BAD_PARTY_CATEGORY,
            "行政相对人类别应为 法人及非法人组织、自然人 或 个体工商户",
            "the party category must be 法人及非法人组织, 自然人 or 个体工商户",
        )
    return category


_KEY_BRACKETS: Final = str.maketrans(
    {"(": "〔", ")": "〕", "[": "〔", "]": "〕", "【": "〔", "】": "〕", "〖": "〔", "〗": "〕"}
)


def decision_key(decision_no: str) -> str:
    """The identity of a decision number: full-width folded, no spaces, brackets as 〔〕.

    `中市监罚（2024）1 号` and `中市监罚〔2024〕1号` are the same decision.
    """
    folded = "".join(nfkc(decision_no).split())
    return folded.translate(_KEY_BRACKETS)
