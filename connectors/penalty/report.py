"""The per-row error report for the clerk (CSV, safe to open in Excel)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from connectors.penalty.reader import PenaltyCsv, read_penalty_csv
from connectors.penalty.records import ColumnWarning, DisclosedPenalty, RowError, RowResult

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
    records: tuple[DisclosedPenalty, ...]
    errors: tuple[RowError, ...]
    warnings: tuple[ColumnWarning, ...]

    @classmethod
    def from_results(cls, source: PenaltyCsv, results: Iterable[RowResult]) -> ImportReport:
        records: list[DisclosedPenalty] = []
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
