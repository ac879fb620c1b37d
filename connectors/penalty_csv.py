"""Read 双公示 administrative-penalty CSV exports into validated records, with per-cell errors."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import Enum, StrEnum
from itertools import islice
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "STANDARD_HEADERS",
    "AmountUnit",
    "CellValueError",
    "ColumnWarning",
    "ImportReport",
    "PartyCategory",
    "PenaltyCsv",
    "PenaltyFileError",
    "PenaltyImportError",
    "PenaltyRecord",
    "ReasonCode",
    "RowError",
    "RowResult",
    "date_to_excel_serial",
    "decision_key",
    "excel_serial_to_date",
    "import_penalty_csv",
    "is_valid_uscc",
    "normalise_header",
    "parse_amount",
    "parse_date",
    "read_penalty_csv",
    "uscc_check_char",
]


class ReasonCode(StrEnum):
    """Machine reason codes of file errors, row errors and column warnings."""

    # the file as a whole
    UNKNOWN_ENCODING = "UNKNOWN_ENCODING"
    MALFORMED_CSV = "MALFORMED_CSV"
    NO_HEADER = "NO_HEADER"
    MISSING_REQUIRED_COLUMN = "MISSING_REQUIRED_COLUMN"
    DUPLICATE_COLUMN = "DUPLICATE_COLUMN"
    # one row (reader)
    MISSING_VALUE = "MISSING_VALUE"
    DUPLICATE_DECISION_NO = "DUPLICATE_DECISION_NO"
    BAD_USCC = "BAD_USCC"
    BAD_CODE = "BAD_CODE"
    BAD_AMOUNT = "BAD_AMOUNT"
    AMOUNT_TOO_PRECISE = "AMOUNT_TOO_PRECISE"
    BAD_DATE = "BAD_DATE"
    BAD_PARTY_CATEGORY = "BAD_PARTY_CATEGORY"
    EXTRA_CELLS = "EXTRA_CELLS"
    # one row (mapping to hub events, connectors.penalty_mapping)
    MISSING_PARTY_ID = "MISSING_PARTY_ID"
    DATE_IN_FUTURE = "DATE_IN_FUTURE"
    EVENT_INVALID = "EVENT_INVALID"
    # warnings about the header
    UNKNOWN_COLUMN = "UNKNOWN_COLUMN"
    AMOUNT_UNIT_ASSUMED = "AMOUNT_UNIT_ASSUMED"


class PenaltyImportError(Exception):
    """Base of the importer's errors: a reason code, a message for the clerk, one in English."""

    def __init__(self, reason_code: ReasonCode, message_zh: str, message_en: str) -> None:
        super().__init__(f"{reason_code}: {message_en}")
        self.reason_code = reason_code
        self.message_zh = message_zh
        self.message_en = message_en


class PenaltyFileError(PenaltyImportError):
    """The file as a whole cannot be read: encoding, CSV structure, header, required columns."""


class CellValueError(PenaltyImportError, ValueError):
    """One cell's text cannot be read as the type of its column."""


class PartyCategory(StrEnum):
    """行政相对人类别 of the 2021 standard."""

    ORGANIZATION = "法人及非法人组织"
    PERSON = "自然人"
    SELF_EMPLOYED = "个体工商户"


class AmountUnit(Enum):
    """Unit of an amount column, as its header states (the standard's is 万元)."""

    WAN = 4  # 万元: 10,000 yuan; the value is the power of ten of one unit in yuan
    YUAN = 0

    @property
    def label_zh(self) -> str:
        return "万元" if self is AmountUnit.WAN else "元"

    @property
    def label_en(self) -> str:
        return "10,000 yuan" if self is AmountUnit.WAN else "yuan"


# ---------------------------------------------------------------------------------------------
# Records, row errors, warnings
# ---------------------------------------------------------------------------------------------


class PenaltyRecord(BaseModel):
    """One administrative-penalty record of the export, every cell read and checked."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    row_number: int = Field(ge=1, description="the row in the file as Excel shows it")
    party_name: str = Field(min_length=1)
    party_category: PartyCategory | None = None
    uscc: str | None = Field(default=None, description="行政相对人代码_1 统一社会信用代码")
    business_reg_no: str | None = None
    org_code: str | None = None
    tax_reg_no: str | None = None
    institution_cert_no: str | None = None
    social_org_reg_no: str | None = None
    legal_rep: str | None = None
    legal_rep_id_type: str | None = None
    legal_rep_id_number: str | None = Field(default=None, repr=False)
    person_id_type: str | None = None
    person_id_number: str | None = Field(default=None, repr=False)
    decision_no: str = Field(min_length=1)
    violation_type: str | None = None
    facts: str | None = None
    basis: str | None = None
    penalty_categories: tuple[str, ...] = ()
    content: str | None = None
    fine_yuan: Decimal = Field(default=Decimal("0.00"), ge=0, decimal_places=2)
    confiscated_yuan: Decimal = Field(default=Decimal("0.00"), ge=0, decimal_places=2)
    licence: str | None = None
    decision_date: date
    validity: date | None = None
    publication_end: date | None = None
    agency_name: str | None = None
    agency_code: str | None = None
    data_source: str | None = None
    data_source_code: str | None = None
    remarks: str | None = None


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that was not imported, and why: `column` is the header as in the file (None: whole row)."""

    row_number: int
    column: str | None
    value: str | None
    reason_code: ReasonCode
    message_zh: str
    message_en: str


@dataclass(frozen=True, slots=True)
class ColumnWarning:
    """Something about a header column the clerk should know; rows are still imported."""

    row_number: int
    column: str
    reason_code: ReasonCode
    message_zh: str
    message_en: str


RowResult = PenaltyRecord | RowError


# ---------------------------------------------------------------------------------------------
# Cell codecs: amounts, dates, Excel serials, USCC
# ---------------------------------------------------------------------------------------------

_MAX_INTEGER_DIGITS_YUAN: Final = 16  # the contract's money: at most 16 integer digits
_AMOUNT_RE: Final = re.compile(r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d+))?")


def _nfkc(text: str) -> str:
    """Full-width forms to ASCII (digits, ，．（）, ideographic space), invisible characters out."""
    folded = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in folded if unicodedata.category(ch) != "Cf").strip()


def parse_amount(text: str, unit: AmountUnit = AmountUnit.WAN) -> Decimal:
    """Read an amount exactly as yuan with two decimals; 万元 by default ("1.5" -> 15000.00).

    Accepts full-width digits, thousands separators (, and ，) in groups of three, surrounding
    spaces and a trailing unit word. Refuses anything not exactly representable in fen (more than
    six decimals in 万元), negatives, scientific notation, and values beyond the contract's money.
    """
    cleaned = _nfkc(text)
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
    cleaned = re.sub(r"\s*([年月日])\s*", r"\1", _nfkc(text))
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


_USCC_CHARSET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100-2015: no I, O, S, V, Z
_USCC_WEIGHTS: Final = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, 26, ...


def uscc_check_char(body: str) -> str:
    """The 18th character of a 统一社会信用代码 for its first 17 (GB 32100-2015, mod 31)."""
    if len(body) != 17 or any(ch not in _USCC_CHARSET for ch in body):
        raise ValueError("a USCC body is 17 characters of 0-9 and A-Y without I, O, S, V, Z")
    total = sum(_USCC_CHARSET.index(ch) * w for ch, w in zip(body, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARSET[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    """True when `code` is an 18-character USCC whose check character is right."""
    return (
        len(code) == 18
        and all(ch in _USCC_CHARSET for ch in code)
        and uscc_check_char(code[:17]) == code[17]
    )


def _clean_code(text: str) -> str:
    """A code as typed: full-width folded, Excel text markers (="…", leading ') and spaces out."""
    cleaned = _nfkc(text)
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


def _parse_uscc(text: str) -> str:
    code = _clean_code(text)
    if len(code) != 18:
        raise CellValueError(
            ReasonCode.BAD_USCC,
            f"统一社会信用代码应为 18 位，实际为 {len(code)} 位",
            f"a unified social credit code has 18 characters, this one has {len(code)}",
        )
    bad = sorted({ch for ch in code if ch not in _USCC_CHARSET})
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


def _parse_party_category(text: str) -> PartyCategory:
    category = _PARTY_CATEGORY_ALIASES.get("".join(_nfkc(text).split()))
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
    folded = "".join(_nfkc(decision_no).split())
    return folded.translate(_KEY_BRACKETS)


# ---------------------------------------------------------------------------------------------
# Columns of the standard and header recognition
# ---------------------------------------------------------------------------------------------


class _Kind(Enum):
    TEXT = "text"
    CODE = "code"
    USCC = "uscc"
    AMOUNT = "amount"
    DATE = "date"
    CATEGORY = "category"
    CATEGORIES = "categories"


@dataclass(frozen=True, slots=True)
class _FieldSpec:
    name: str  # the PenaltyRecord attribute
    header: str  # the standard's header, for messages
    kind: _Kind
    aliases: tuple[str, ...] = ()
    required: bool = False


def _f(
    name: str, header: str, kind: _Kind, *aliases: str, required: bool = False
) -> _FieldSpec:
    return _FieldSpec(name, header, kind, (header, *aliases), required)


_T, _C, _U, _A, _D = _Kind.TEXT, _Kind.CODE, _Kind.USCC, _Kind.AMOUNT, _Kind.DATE
_FIELDS: Final = (
    _f("party_name", "行政相对人名称", _T, "相对人名称", "当事人名称", "当事人", "被处罚人",
       "被处罚人名称", required=True),
    _f("party_category", "行政相对人类别", _Kind.CATEGORY, "相对人类别", "当事人类别",
       "行政相对人类型"),
    _f("uscc", "行政相对人代码_1(统一社会信用代码)", _U, "行政相对人代码_1", "代码_1",
       "统一社会信用代码", "行政相对人统一社会信用代码", "社会信用代码"),
    _f("business_reg_no", "行政相对人代码_2(工商注册号)", _C, "行政相对人代码_2", "代码_2",
       "工商注册号"),
    _f("org_code", "行政相对人代码_3(组织机构代码)", _C, "行政相对人代码_3", "代码_3",
       "组织机构代码"),
    _f("tax_reg_no", "行政相对人代码_4(税务登记号)", _C, "行政相对人代码_4", "代码_4",
       "税务登记号"),
    _f("institution_cert_no", "行政相对人代码_5(事业单位证书号)", _C, "行政相对人代码_5",
       "代码_5", "事业单位证书号"),
    _f("social_org_reg_no", "行政相对人代码_6(社会组织登记证号)", _C, "行政相对人代码_6",
       "代码_6", "社会组织登记证号"),
    _f("legal_rep", "法定代表人", _T, "法定代表人姓名", "法定代表人(负责人)", "负责人"),
    _f("legal_rep_id_type", "法定代表人证件类型", _T),
    _f("legal_rep_id_number", "法定代表人证件号码", _C),
    _f("person_id_type", "证件类型", _T, "行政相对人证件类型"),
    _f("person_id_number", "证件号码", _C, "行政相对人证件号码"),
    _f("decision_no", "行政处罚决定书文号", _T, "处罚决定书文号", "决定书文号",
       "行政处罚决定文书号", "处罚决定文书号", required=True),
    _f("violation_type", "违法行为类型", _T, "违法类型"),
    _f("facts", "违法事实", _T, "主要违法事实", "违法行为"),
    _f("basis", "处罚依据", _T),
    _f("penalty_categories", "处罚类别", _Kind.CATEGORIES, "处罚种类"),
    _f("content", "处罚内容", _T, "处罚结果"),
    _f("fine_yuan", "罚款金额(万元)", _A, "罚款金额", "罚款"),
    _f("confiscated_yuan", "没收违法所得、没收非法财物的金额(万元)", _A,
       "没收违法所得、没收非法财物的金额", "没收违法所得没收非法财物金额", "没收金额",
       "没收违法所得金额"),
    _f("licence", "暂扣或吊销证照名称及编号", _T, "暂扣或者吊销证照名称及编号"),
    _f("decision_date", "处罚决定日期", _D, "决定日期", "处罚日期", required=True),
    _f("validity", "处罚有效期", _D),
    _f("publication_end", "公示截止期", _D, "公示截止日期"),
    _f("agency_name", "处罚机关", _T, "处罚机关名称", "作出处罚决定机关"),
    _f("agency_code", "处罚机关统一社会信用代码", _U),
    _f("data_source", "数据来源单位", _T),
    _f("data_source_code", "数据来源单位统一社会信用代码", _U),
    _f("remarks", "备注", _T),
)

STANDARD_HEADERS: Final[Mapping[str, str]] = {spec.name: spec.header for spec in _FIELDS}
"""PenaltyRecord attribute -> the column's header in the 2021 standard."""

_OPENING_BRACKETS: Final = "[【〔〖{<《"
_CLOSING_BRACKETS: Final = "]】〕〗}>》"
_HEADER_BRACKETS: Final = str.maketrans(
    _OPENING_BRACKETS + _CLOSING_BRACKETS,
    "(" * len(_OPENING_BRACKETS) + ")" * len(_CLOSING_BRACKETS),
)
_HEADER_NOISE: Final = re.compile(r"[\s_\-、,.。·:;*#\"'“”‘’]")


def normalise_header(text: str) -> str:
    """The comparison form of a header: full-width folded, brackets as (), no spaces or marks.

    `罚款金额（万元）`, `罚款金额 (万元)` and `*罚款金额【万元】` all become `罚款金额(万元)`.
    """
    return _HEADER_NOISE.sub("", _nfkc(text).translate(_HEADER_BRACKETS)).lower()


def _alias_table() -> dict[str, _FieldSpec]:
    table: dict[str, _FieldSpec] = {}
    for spec in _FIELDS:
        for alias in spec.aliases:
            key = normalise_header(alias)
            if spec.kind is _Kind.AMOUNT:
                key = _UNIT_SUFFIX.sub("", key)
            if table.setdefault(key, spec) is not spec:
                raise AssertionError(f"header alias {alias!r} names two fields")
    return table


_UNIT_SUFFIX: Final = re.compile(r"\(?(?:单位)?(?:人民币)?(万元|元)\)?$")
_ALIASES: Final = _alias_table()


@dataclass(frozen=True, slots=True)
class _Column:
    index: int
    label: str  # as in the file
    spec: _FieldSpec | None
    unit: AmountUnit | None = None
    unit_stated: bool = True


def _lookup(key: str) -> tuple[_FieldSpec, AmountUnit | None, bool] | None:
    """Field, amount unit and whether the header stated it, for a normalised header."""
    unit_match = _UNIT_SUFFIX.search(key)
    if unit_match is not None:
        spec = _ALIASES.get(key[: unit_match.start()])
        if spec is not None and spec.kind is _Kind.AMOUNT:
            unit = AmountUnit.WAN if unit_match[1] == "万元" else AmountUnit.YUAN
            return spec, unit, True
    spec = _ALIASES.get(key)
    if spec is None:
        return None
    return (spec, AmountUnit.WAN, False) if spec.kind is _Kind.AMOUNT else (spec, None, True)


def _bind_header(top: list[str], sub: list[str] | None) -> list[_Column]:
    """Columns of a one-row header (`sub` None) or of a two-row header whose top row groups
    columns (a merged cell exported as its text in the first column and blanks after it)."""
    columns: list[_Column] = []
    group = ""
    for index in range(max(len(top), len(sub or ()))):
        upper = top[index].strip() if index < len(top) else ""
        lower = sub[index].strip() if sub is not None and index < len(sub) else ""
        if upper:
            group = upper
        if lower:
            parent = upper or group
            label = f"{parent}/{lower}" if parent else lower
            candidates = [parent + lower, parent.removesuffix("信息") + lower, lower]
        else:
            label, candidates = upper, [upper]
        if not label:
            continue
        found = next(
            (hit for hit in (_lookup(normalise_header(c)) for c in candidates) if hit), None
        )
        if found is None:
            columns.append(_Column(index, label, None))
        else:
            columns.append(_Column(index, label, found[0], found[1], found[2]))
    return columns


def _score(columns: list[_Column]) -> int:
    return len({column.spec.name for column in columns if column.spec is not None})


_DELIMITERS: Final = (",", "\t", ";", "|")
_HEADER_SEARCH_ROWS: Final = 10


@dataclass(frozen=True, slots=True)
class _Header:
    delimiter: str
    rows: tuple[int, ...]  # 1-based
    columns: tuple[_Column, ...]


def _find_header(text: str) -> _Header:
    """The delimiter and header rows under which most standard columns are recognised."""
    best: tuple[tuple[int, int, int, int], _Header] | None = None
    for rank, delimiter in enumerate(_DELIMITERS):
        rows = list(islice(_records(text, delimiter), _HEADER_SEARCH_ROWS + 1))
        for start in range(min(_HEADER_SEARCH_ROWS, len(rows))):
            candidates: list[tuple[list[str], list[str] | None]] = [(rows[start], None)]
            if start + 1 < len(rows):
                candidates.append((rows[start], rows[start + 1]))
            for top, sub in candidates:
                columns = _bind_header(top, sub)
                height = 1 if sub is None else 2
                # more columns recognised first; on a tie fewer header rows, an earlier start,
                # the more usual delimiter
                key = (_score(columns), -height, -start, -rank)
                if best is None or key > best[0]:
                    header_rows = tuple(range(start + 1, start + 1 + height))
                    best = (key, _Header(delimiter, header_rows, tuple(columns)))
    if best is None or best[0][0] == 0:
        raise PenaltyFileError(
            ReasonCode.NO_HEADER,
            f"前 {_HEADER_SEARCH_ROWS} 行中找不到行政处罚信息的表头",
            f"no administrative-penalty header in the first {_HEADER_SEARCH_ROWS} rows",
        )
    return best[1]


def _records(text: str, delimiter: str) -> Iterator[list[str]]:
    """The file's rows as Excel numbers them (a quoted cell over several lines is one row)."""
    done = 0
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            yield row
            done += 1
    except csv.Error as exc:
        raise PenaltyFileError(
            ReasonCode.MALFORMED_CSV,
            f"第 {done + 1} 行的 CSV 结构无法读取：{exc}",
            f"unreadable CSV structure in row {done + 1}: {exc}",
        ) from exc


def _decode(data: bytes) -> tuple[str, str]:
    """Text and encoding name: UTF-8 (BOM or not), UTF-16 with BOM, else GBK / GB18030."""
    if data.startswith(b"\xef\xbb\xbf"):
        attempts: tuple[str, ...] = ("utf-8-sig",)
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        attempts = ("utf-16",)
    else:
        attempts = ("utf-8", "gbk", "gb18030")
    for encoding in attempts:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise PenaltyFileError(
        ReasonCode.UNKNOWN_ENCODING,
        "文件编码无法识别：请另存为 UTF-8 或 GBK 编码的 CSV",
        "unknown text encoding: save the file as CSV in UTF-8 or GBK",
    )


# ---------------------------------------------------------------------------------------------
# The reader
# ---------------------------------------------------------------------------------------------

_BLANK_PLACEHOLDERS: Final = frozenset({"-", "--", "—", "——", "/", "无", "null", "none", "n/a"})
_CATEGORY_SEPARATORS: Final = re.compile(r"[;；,，|\n]+")


def _clean_text(raw: str) -> str | None:
    """A cell's text without surrounding spaces and invisible characters; None when blank."""
    text = "".join(
        ch
        for ch in raw.replace("\r\n", "\n").replace("\r", "\n")
        if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf")
    ).strip()
    if not text or unicodedata.normalize("NFKC", text).lower() in _BLANK_PLACEHOLDERS:
        return None
    return text


def _parse_cell(column: _Column, text: str) -> object:
    assert column.spec is not None
    kind = column.spec.kind
    if kind is _Kind.TEXT:
        return text
    if kind is _Kind.CODE:
        return _clean_code(text) or None
    if kind is _Kind.USCC:
        return _parse_uscc(text)
    if kind is _Kind.AMOUNT:
        return parse_amount(text, column.unit or AmountUnit.WAN)
    if kind is _Kind.DATE:
        return parse_date(text)
    if kind is _Kind.CATEGORY:
        return _parse_party_category(text)
    return tuple(part.strip() for part in _CATEGORY_SEPARATORS.split(text) if part.strip())


@dataclass(frozen=True)
class PenaltyCsv:
    """An export whose encoding, delimiter and header are recognised; iterate it for rows.

    Each data row yields either one PenaltyRecord or one RowError per problem found in it
    (all of them, so the clerk fixes a row once). Blank rows yield nothing. Iterating again
    reads the file again, with the same results.
    """

    text: str = field(repr=False)
    encoding: str
    delimiter: str
    header_rows: tuple[int, ...]
    columns: tuple[_Column, ...] = field(repr=False)
    warnings: tuple[ColumnWarning, ...]

    @property
    def column_labels(self) -> Mapping[str, str]:
        """PenaltyRecord attribute -> its column's header as in the file (present columns)."""
        return {c.spec.name: c.label for c in self.columns if c.spec is not None}

    def __iter__(self) -> Iterator[RowResult]:
        width = max((column.index + 1 for column in self.columns), default=0)
        known = [column for column in self.columns if column.spec is not None]
        first_row_of: dict[str, int] = {}
        for row_number, cells in enumerate(_records(self.text, self.delimiter), start=1):
            if row_number <= self.header_rows[-1] or not any(cell.strip() for cell in cells):
                continue
            yield from self._read_row(row_number, cells, width, known, first_row_of)

    def _read_row(
        self,
        row_number: int,
        cells: list[str],
        width: int,
        known: list[_Column],
        first_row_of: dict[str, int],
    ) -> Iterator[RowResult]:
        errors: list[RowError] = []
        values: dict[str, object] = {"row_number": row_number}
        extra = [cell for cell in cells[width:] if cell.strip()]
        if extra:
            errors.append(
                RowError(
                    row_number, None, extra[0].strip(), ReasonCode.EXTRA_CELLS,
                    f"本行在表头范围之外（第 {width + 1} 列起）还有 {len(extra)} 个单元格，"
                    "可能有未加引号的分隔符导致错列",
                    f"{len(extra)} cell(s) beyond the header (from column {width + 1}); "
                    "an unquoted delimiter may have shifted the columns",
                )
            )
        for column in known:
            assert column.spec is not None
            raw = cells[column.index] if column.index < len(cells) else ""
            text = _clean_text(raw)
            if text is None:
                if column.spec.required:
                    errors.append(
                        RowError(
                            row_number, column.label, raw.strip() or None,
                            ReasonCode.MISSING_VALUE,
                            f"必填项“{column.label}”为空",
                            f"required field '{column.label}' is empty",
                        )
                    )
                continue
            try:
                values[column.spec.name] = _parse_cell(column, text)
            except CellValueError as exc:
                errors.append(
                    RowError(
                        row_number, column.label, text, exc.reason_code,
                        exc.message_zh, exc.message_en,
                    )
                )
                continue
            if column.spec.name == "decision_no":
                key = decision_key(text)
                first = first_row_of.setdefault(key, row_number)
                if first != row_number:
                    errors.append(
                        RowError(
                            row_number, column.label, text, ReasonCode.DUPLICATE_DECISION_NO,
                            f"决定书文号与第 {first} 行重复，本行未导入",
                            f"the decision number already appears in row {first}; "
                            "this row was not imported",
                        )
                    )
        if errors:
            yield from errors
        else:
            yield PenaltyRecord.model_validate(values)


def read_penalty_csv(data: bytes) -> PenaltyCsv:
    """Recognise an export's encoding, delimiter and header; raise PenaltyFileError if it can't.

    Headers are matched by name (full-width forms, spaces, bracket styles and the aliases of
    the 2021 standard tolerated); a title row above the header and a two-row header whose top
    row groups columns are recognised. Unknown columns are warnings, not errors.
    """
    text, encoding = _decode(data)
    header = _find_header(text)
    header_row = header.rows[-1]
    warnings: list[ColumnWarning] = []
    seen: dict[str, _Column] = {}
    for column in header.columns:
        if column.spec is None:
            warnings.append(
                ColumnWarning(
                    header_row, column.label, ReasonCode.UNKNOWN_COLUMN,
                    f"未识别的列“{column.label}”，其内容不会导入",
                    f"unknown column '{column.label}'; its values are not imported",
                )
            )
            continue
        other = seen.setdefault(column.spec.name, column)
        if other is not column:
            raise PenaltyFileError(
                ReasonCode.DUPLICATE_COLUMN,
                f"“{other.label}”与“{column.label}”都是{column.spec.header}，无法确定使用哪一列",
                f"'{other.label}' and '{column.label}' both name {column.spec.header}; "
                "cannot tell which to use",
            )
        if column.unit is AmountUnit.WAN and not column.unit_stated:
            warnings.append(
                ColumnWarning(
                    header_row, column.label, ReasonCode.AMOUNT_UNIT_ASSUMED,
                    f"列“{column.label}”未注明单位，按标准以万元计",
                    f"column '{column.label}' states no unit; read as 10,000 yuan (the standard's)",
                )
            )
    missing = [spec.header for spec in _FIELDS if spec.required and spec.name not in seen]
    if missing:
        raise PenaltyFileError(
            ReasonCode.MISSING_REQUIRED_COLUMN,
            f"缺少必需的列：{'、'.join(missing)}",
            f"required column(s) missing: {', '.join(missing)}",
        )
    return PenaltyCsv(
        text, encoding, header.delimiter, header.rows, header.columns, tuple(warnings)
    )


# ---------------------------------------------------------------------------------------------
# The report for the clerk
# ---------------------------------------------------------------------------------------------

_REPORT_HEADER: Final = (
    "级别 Level",
    "行号 Row",
    "列 Column",
    "原值 Value",
    "原因代码 Reason",
    "说明",
    "Message",
)
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def _excel_safe(value: str) -> str:
    """Keep Excel from running a cell of the report as a formula (CSV injection)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


@dataclass(frozen=True)
class ImportReport:
    """What an import did: counts, the records read, every row error and header warning.

    Build it from a PenaltyCsv and its results, possibly after the mapping to hub events has
    replaced some records by RowErrors: ImportReport.from_results(csv_file, results).
    """

    encoding: str
    delimiter: str
    header_rows: tuple[int, ...]
    records: tuple[PenaltyRecord, ...]
    errors: tuple[RowError, ...]
    warnings: tuple[ColumnWarning, ...]

    @classmethod
    def from_results(cls, source: PenaltyCsv, results: Iterable[RowResult]) -> ImportReport:
        records: list[PenaltyRecord] = []
        errors: list[RowError] = []
        for result in results:
            if isinstance(result, RowError):
                errors.append(result)
            else:
                records.append(result)
        return cls(
            source.encoding, source.delimiter, source.header_rows,
            tuple(records), tuple(errors), source.warnings,
        )

    @property
    def rows_read(self) -> int:
        """Data rows that were not blank."""
        return self.rows_imported + self.rows_rejected

    @property
    def rows_imported(self) -> int:
        return len(self.records)

    @property
    def rows_rejected(self) -> int:
        return len({error.row_number for error in self.errors})

    @property
    def summary_zh(self) -> str:
        return (
            f"共读取 {self.rows_read} 行：导入 {self.rows_imported} 行，"
            f"{self.rows_rejected} 行有错误未导入（{len(self.errors)} 处错误），"
            f"{len(self.warnings)} 条表头提示"
        )

    @property
    def summary_en(self) -> str:
        return (
            f"{self.rows_read} rows read: {self.rows_imported} imported, {self.rows_rejected} "
            f"rejected ({len(self.errors)} errors), {len(self.warnings)} header warnings"
        )

    def to_error_csv(self) -> bytes:
        """The error report for the clerk: UTF-8 with BOM (opens in Excel), bilingual header,
        header warnings first, then errors by row."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(_REPORT_HEADER)
        for warning in self.warnings:
            writer.writerow(
                ("提示 warning", warning.row_number, _excel_safe(warning.column), "",
                 warning.reason_code, warning.message_zh, warning.message_en)
            )
        for error in sorted(self.errors, key=lambda e: e.row_number):
            writer.writerow(
                ("错误 error", error.row_number, _excel_safe(error.column or ""),
                 _excel_safe(error.value or ""), error.reason_code, error.message_zh,
                 error.message_en)
            )
        return ("\ufeff" + out.getvalue()).encode("utf-8")


def import_penalty_csv(data: bytes) -> ImportReport:
    """Read a whole export: every row either imported or reported (PenaltyFileError if the
    file as a whole cannot be read)."""
    source = read_penalty_csv(data)
    return ImportReport.from_results(source, source)
