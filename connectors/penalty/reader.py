"""The reader: decode (GBK or UTF-8), find the header, parse every row into a record or errors."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

from connectors.penalty.cells import (
    clean_code,
    decision_key,
    parse_amount,
    parse_date,
    parse_party_category,
    parse_uscc,
)
from connectors.penalty.columns import FIELDS, Column, Kind, decode_text, find_header, split_records
from connectors.penalty.records import (
    AmountUnit,
    CellValueError,
    ColumnWarning,
    DisclosedPenalty,
    PenaltyFileError,
    ReasonCode,
    RowError,
    RowResult,
)

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


def _parse_cell(column: Column, text: str) -> object:
    assert column.spec is not None
    kind = column.spec.kind
    if kind is Kind.TEXT:
        return text
    if kind is Kind.CODE:
        return clean_code(text) or None
    if kind is Kind.USCC:
        return parse_uscc(text)
    if kind is Kind.AMOUNT:
        return parse_amount(text, column.unit or AmountUnit.WAN)
    if kind is Kind.DATE:
        return parse_date(text)
    if kind is Kind.CATEGORY:
        return parse_party_category(text)
    return tuple(part.strip() for part in _CATEGORY_SEPARATORS.split(text) if part.strip())


@dataclass(frozen=True)
class PenaltyCsv:
    """An export whose encoding, delimiter and header are recognised; iterate it for rows.

    Each data row yields either one DisclosedPenalty or one RowError per problem found in it
    (all of them, so the clerk fixes a row once). Blank rows yield nothing. Iterating again
    reads the file again, with the same results.
    """

    text: str = field(repr=False)
    encoding: str
    delimiter: str
    header_rows: tuple[int, ...]
    columns: tuple[Column, ...] = field(repr=False)
    warnings: tuple[ColumnWarning, ...]

    @property
    def column_labels(self) -> Mapping[str, str]:
        """DisclosedPenalty attribute -> its column's header as in the file (present columns)."""
        return {c.spec.name: c.label for c in self.columns if c.spec is not None}

    def __iter__(self) -> Iterator[RowResult]:
        width = max((column.index + 1 for column in self.columns), default=0)
        known = [column for column in self.columns if column.spec is not None]
        first_row_of: dict[str, int] = {}
        for row_number, cells in enumerate(split_records(self.text, self.delimiter), start=1):
            if row_number <= self.header_rows[-1] or not any(cell.strip() for cell in cells):
                continue
            yield from self._read_row(row_number, cells, width, known, first_row_of)

    def _read_row(
        self,
        row_number: int,
        cells: list[str],
        width: int,
        known: list[Column],
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
            yield DisclosedPenalty.model_validate(values)


def read_penalty_csv(data: bytes) -> PenaltyCsv:
    """Recognise an export's encoding, delimiter and header; raise PenaltyFileError if it can't.

    Headers are matched by name (full-width forms, spaces, bracket styles and the aliases of
    the 2021 standard tolerated); a title row above the header and a two-row header whose top
    row groups columns are recognised. Unknown columns are warnings, not errors.
    """
    text, encoding = decode_text(data)
    header = find_header(text)
    header_row = header.rows[-1]
    warnings: list[ColumnWarning] = []
    seen: dict[str, Column] = {}
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
    missing = [spec.header for spec in FIELDS if spec.required and spec.name not in seen]
    if missing:
        raise PenaltyFileError(
            ReasonCode.MISSING_REQUIRED_COLUMN,
            f"缺少必需的列：{'、'.join(missing)}",
            f"required column(s) missing: {', '.join(missing)}",
        )
    return PenaltyCsv(
        text, encoding, header.delimiter, header.rows, header.columns, tuple(warnings)
    )
