"""Records of a penalty export, their row errors and warnings, and the import error types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum, StrEnum

from pydantic import BaseModel, ConfigDict, Field


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




class DisclosedPenalty(BaseModel):
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


RowResult = DisclosedPenalty | RowError
