"""The standard's columns and header recognition: aliases, units, two-row headers, delimiters."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from itertools import islice
from typing import Final

from connectors.penalty.cells import nfkc
from connectors.penalty.records import AmountUnit, PenaltyFileError, ReasonCode


class Kind(Enum):
    TEXT = "text"
    CODE = "code"
    USCC = "uscc"
    AMOUNT = "amount"
    DATE = "date"
    CATEGORY = "category"
    CATEGORIES = "categories"


@dataclass(frozen=True, slots=True)
class _FieldSpec:
    name: str  # the DisclosedPenalty attribute
    header: str  # the standard's header, for messages
    kind: Kind
    aliases: tuple[str, ...] = ()
    required: bool = False


def _f(
    name: str, header: str, kind: Kind, *aliases: str, required: bool = False
) -> _FieldSpec:
    return _FieldSpec(name, header, kind, (header, *aliases), required)


_T, _C, _U, _A, _D = Kind.TEXT, Kind.CODE, Kind.USCC, Kind.AMOUNT, Kind.DATE
FIELDS: Final = (
    _f("party_name", "行政相对人名称", _T, "相对人名称", "当事人名称", "当事人", "被处罚人",
       "被处罚人名称", required=True),
    _f("party_category", "行政相对人类别", Kind.CATEGORY, "相对人类别", "当事人类别",
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
    _f("penalty_categories", "处罚类别", Kind.CATEGORIES, "处罚种类"),
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

STANDARD_HEADERS: Final[Mapping[str, str]] = {spec.name: spec.header for spec in FIELDS}
"""DisclosedPenalty attribute -> the column's header in the 2021 standard."""

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
    return _HEADER_NOISE.sub("", nfkc(text).translate(_HEADER_BRACKETS)).lower()


def _alias_table() -> dict[str, _FieldSpec]:
    table: dict[str, _FieldSpec] = {}
    for spec in FIELDS:
        for alias in spec.aliases:
            key = normalise_header(alias)
            if spec.kind is Kind.AMOUNT:
                key = _UNIT_SUFFIX.sub("", key)
            if table.setdefault(key, spec) is not spec:
                raise AssertionError(f"header alias {alias!r} names two fields")
    return table


_UNIT_SUFFIX: Final = re.compile(r"\(?(?:单位)?(?:人民币)?(万元|元)\)?$")
_ALIASES: Final = _alias_table()


@dataclass(frozen=True, slots=True)
class Column:
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
        if spec is not None and spec.kind is Kind.AMOUNT:
            unit = AmountUnit.WAN if unit_match[1] == "万元" else AmountUnit.YUAN
            return spec, unit, True
    spec = _ALIASES.get(key)
    if spec is None:
        return None
    return (spec, AmountUnit.WAN, False) if spec.kind is Kind.AMOUNT else (spec, None, True)


def _bind_header(top: list[str], sub: list[str] | None) -> list[Column]:
    """Columns of a one-row header (`sub` None) or of a two-row header whose top row groups
    columns (a merged cell exported as its text in the first column and blanks after it)."""
    columns: list[Column] = []
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
            columns.append(Column(index, label, None))
        else:
            columns.append(Column(index, label, found[0], found[1], found[2]))
    return columns


def _score(columns: list[Column]) -> int:
    return len({column.spec.name for column in columns if column.spec is not None})


_DELIMITERS: Final = (",", "\t", ";", "|")
_HEADER_SEARCH_ROWS: Final = 10


@dataclass(frozen=True, slots=True)
class _Header:
    delimiter: str
    rows: tuple[int, ...]  # 1-based
    columns: tuple[Column, ...]


def find_header(text: str) -> _Header:
    """The delimiter and header rows under which most standard columns are recognised."""
    best: tuple[tuple[int, int, int, int], _Header] | None = None
    for rank, delimiter in enumerate(_DELIMITERS):
        rows = list(islice(split_records(text, delimiter), _HEADER_SEARCH_ROWS + 1))
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


def split_records(text: str, delimiter: str) -> Iterator[list[str]]:
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


def decode_text(data: bytes) -> tuple[str, str]:
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
