"""The event catalogue: one pydantic model per event type's `data`, who may send it, titles."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from schemas.cloudevent import (
    AGENCY_ID_PATTERN,
    BoundedTime,
    CanonicalEventId,
    CloudEvent,
    InnerTime,
)
from schemas.money import Money


class Role(StrEnum):
    """An agency's role in the linkage process (contract section 1)."""

    ADMINISTRATIVE = "administrative"
    POLICE = "police"
    PROCURATORATE = "procuratorate"


ANY_ROLE = frozenset(Role)


class Offence(StrEnum):
    """Offences of the contract, with the Criminal Law article in the comment."""

    TRADEMARK_COUNTERFEITING = "trademark_counterfeiting"  # 213
    COUNTERFEIT_GOODS_SALE = "counterfeit_goods_sale"  # 214
    ILLEGAL_MARKS = "illegal_marks"  # 215
    PATENT_COUNTERFEITING = "patent_counterfeiting"  # 216
    COPYRIGHT_INFRINGEMENT = "copyright_infringement"  # 217
    INFRINGING_COPIES_SALE = "infringing_copies_sale"  # 218
    TRADE_SECRET = "trade_secret"  # 219
    SHODDY_PRODUCTS = "shoddy_products"  # 140
    FAKE_AGRICULTURAL_INPUTS = "fake_agricultural_inputs"  # 147
    OTHER = "other"


Timestamp = BoundedTime
AgencyId = str
_AGENCY = Field(pattern=AGENCY_ID_PATTERN)
_SHA256 = Field(pattern=r"^[0-9a-f]{64}$")


class EventData(BaseModel):
    """Base of every event's data: strict types, unknown extra fields kept (extensible)."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)


class Party(BaseModel):
    """A party to a case (当事人): a person or an organisation."""

    model_config = ConfigDict(
        extra="allow", strict=True, frozen=True, title="当事人 / Party"
    )

    kind: Literal["person", "organization"]
    id_type: str = Field(min_length=1)
    id_number: str = Field(min_length=1)
    name: str = Field(min_length=1)


class CaseOpened(EventData):
    model_config = ConfigDict(title="行政立案 / Case opened")
    offence: Offence
    opened_at: Timestamp
    parties: list[Party] = Field(min_length=1)
    summary: str
    clue_id: str | None = Field(default=None, min_length=1)  # v1.1: the clue it came from
    # Extension: when the act was committed, if the agency knows (the thresholds in force then
    # apply, 刑法 Art 12); the rules fall back to `opened_at`.
    committed_at: Timestamp | None = None


AMOUNT_FIELDS: tuple[str, ...] = (
    "illegal_business_amount",
    "illegal_gains",
    "sales_amount",
    "unsold_goods_value",
    "rightholder_loss",
    "production_loss",
)
COUNT_FIELDS: tuple[str, ...] = ("copies", "marks_count", "labels_count")
# Optional extension figures the thresholds of the law file need beyond the contract's table
# (online copyright, unsold labels, patents) and the two flags: see streams/_figures.py.
EXTENSION_COUNT_FIELDS: tuple[str, ...] = (
    "works_count",
    "click_count",
    "member_count",
    "unsold_labels_count",
    "patents_count",
)
EXTENSION_FLAG_FIELDS: tuple[str, ...] = ("reasonable_suspicion", "rightholder_bankrupt")


class CaseAssessed(EventData):
    model_config = ConfigDict(title="涉案金额认定 / Amounts assessed")
    assessed_at: Timestamp
    illegal_business_amount: Money | None = None
    illegal_gains: Money | None = None
    sales_amount: Money | None = None
    unsold_goods_value: Money | None = None
    copies: int | None = Field(default=None, ge=0)
    marks_count: int | None = Field(default=None, ge=0)
    labels_count: int | None = Field(default=None, ge=0)
    rightholder_loss: Money | None = None
    production_loss: Money | None = None
    works_count: int | None = Field(default=None, ge=0)  # 网络传播作品数 / works online
    click_count: int | None = Field(default=None, ge=0)  # 点击数 / clicks
    member_count: int | None = Field(default=None, ge=0)  # 注册会员数 / registered members
    unsold_labels_count: int | None = Field(default=None, ge=0)  # 尚未销售标识数 / unsold labels
    patents_count: int | None = Field(default=None, ge=0)  # 假冒专利件数 / patents
    reasonable_suspicion: bool | None = None  # 合理嫌疑 (SC Art 3 ¶2, IP cases)
    rightholder_bankrupt: bool | None = None  # 权利人破产 (I-2020 Art 4)

    @model_validator(mode="after")
    def _at_least_one_figure(self) -> Self:
        # Read from the fields' dict (every figure is a declared field), the names joined once
        # (issue 14, session 7: ~1 µs of each assessment folded, against ~0.3).
        values = self.__dict__
        for name in _FIGURE_FIELDS:
            if values[name] is not None:
                return self
        raise ValueError("at least one amount, count or flag is required")


_FIGURE_FIELDS = AMOUNT_FIELDS + COUNT_FIELDS + EXTENSION_COUNT_FIELDS + EXTENSION_FLAG_FIELDS
assert set(_FIGURE_FIELDS) <= set(CaseAssessed.model_fields)


class ClueNotified(EventData):
    model_config = ConfigDict(title="线索通报 / Clue notified")
    to_agency: AgencyId = _AGENCY
    summary: str


class PenaltyDecided(EventData):
    model_config = ConfigDict(title="行政处罚决定 / Penalty decided")
    decision_no: str = Field(min_length=1)
    decided_at: Timestamp
    fine: Money
    confiscated: Money


class TransferDecided(EventData):
    model_config = ConfigDict(title="移送审批 / Transfer decided")
    report_at: Timestamp
    decided_at: Timestamp
    approved: bool
    reasons: str | None = None

    @model_validator(mode="after")
    def _reasons_when_refused(self) -> Self:
        if not self.approved and not (self.reasons or "").strip():
            raise ValueError("reasons are required when the transfer is not approved")
        return self


class TransferDocument(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, frozen=True, title="移送材料 / Document")
    kind: Literal[
        "transfer_letter", "investigation_report", "seized_items_list", "inspection_report", "other"
    ]
    title: str
    sha256: str = _SHA256


class CaseTransferred(EventData):
    model_config = ConfigDict(title="移送 / Case transferred")
    to_agency: AgencyId = _AGENCY
    transferred_at: Timestamp
    documents: list[TransferDocument]


class EvidenceItem(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True, frozen=True, title="物品 / Item")
    item_id: str = Field(min_length=1)
    description: str
    quantity: int = Field(ge=0)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class EvidenceHandedOver(EventData):
    model_config = ConfigDict(title="证据移交 / Evidence handed over")
    handover_id: str = Field(min_length=1)
    to_agency: AgencyId = _AGENCY
    handed_over_at: Timestamp
    items: list[EvidenceItem]


class EvidenceReceived(EventData):
    model_config = ConfigDict(title="证据接收 / Evidence received")
    handover_id: str = Field(min_length=1)
    received_at: Timestamp
    discrepancies: list[Any]


class TransferAccepted(EventData):
    model_config = ConfigDict(title="受理 / Transfer accepted")
    accepted_at: Timestamp
    receipt_no: str = Field(min_length=1)


class TransferForwarded(EventData):
    model_config = ConfigDict(title="移交他机关 / Transfer forwarded")
    forwarded_at: Timestamp
    to_agency: AgencyId = _AGENCY


class FilingDecided(EventData):
    model_config = ConfigDict(title="立案决定 / Filing decided")
    decided_at: Timestamp
    filed: bool
    reasons: str | None = None
    complex: bool = False

    @model_validator(mode="after")
    def _reasons_when_not_filed(self) -> Self:
        if not self.filed and not (self.reasons or "").strip():
            raise ValueError("reasons are required when the case is not filed")
        return self


class ReconsiderationRequested(EventData):
    model_config = ConfigDict(title="提请复议 / Reconsideration requested")
    requested_at: Timestamp


class ReconsiderationDecided(EventData):
    model_config = ConfigDict(title="复议决定 / Reconsideration decided")
    decided_at: Timestamp
    upheld: bool


class SupervisionRequested(EventData):
    model_config = ConfigDict(title="提请立案监督 / Supervision requested")
    requested_at: Timestamp
    reasons: str


class SupervisionIssued(EventData):
    model_config = ConfigDict(title="检察监督 / Supervision issued")
    issued_at: Timestamp
    kind: Literal["explain_non_filing", "order_filing", "recommend_transfer", "correction"]
    to_agency: AgencyId = _AGENCY


class InvestigationRequested(EventData):
    model_config = ConfigDict(title="协查请求 / Investigation requested")
    to_agency: AgencyId = _AGENCY
    request_id: str = Field(min_length=1)


class InvestigationResponded(EventData):
    model_config = ConfigDict(title="协查答复 / Investigation responded")
    request_id: str = Field(min_length=1)
    responded_at: Timestamp


class CaseClosed(EventData):
    model_config = ConfigDict(title="结案 / Case closed")
    closed_at: Timestamp
    outcome: str = Field(min_length=1)


class ProsecutionDecided(EventData):
    model_config = ConfigDict(title="起诉或不起诉决定 / Prosecution decided")
    decided_at: Timestamp
    prosecuted: bool
    reasons: str


class OpinionIssued(EventData):
    model_config = ConfigDict(title="检察意见（反向衔接） / Procuratorate opinion issued")
    opinion_id: str = Field(min_length=1)
    to_agency: AgencyId = _AGENCY
    issued_at: Timestamp
    proposal: Literal["administrative_penalty", "disciplinary_sanction", "other"]
    summary: str


class OpinionReplied(EventData):
    model_config = ConfigDict(title="检察意见回复 / Opinion replied")
    opinion_id: str = Field(min_length=1)
    replied_at: Timestamp
    outcome: Literal["penalty_imposed", "no_penalty", "other"]
    reasons: str | None = None  # required by the rules (not the schema) for `no_penalty`



class ClueReceived(EventData):
    model_config = ConfigDict(title="举报投诉受理 / Clue received")
    clue_id: str = Field(min_length=1)
    channel: Literal["hotline_12345", "online", "ecommerce_platform", "letter", "visit", "other"]
    received_at: Timestamp
    summary: str
    parties: list[Party] | None = None
    platform: str | None = None  # the e-commerce platform's name (channel ecommerce_platform)
    # Extension: the reporter gave a name (实名举报): the reporter must then be told whether a
    # case was opened (SAMR Order 20 Art 31).
    reporter_named: bool | None = None


class ClueAnswered(EventData):
    model_config = ConfigDict(title="举报投诉答复 / Clue answered")
    clue_id: str = Field(min_length=1)
    answered_at: Timestamp
    outcome: Literal["case_opened", "transferred", "no_violation", "other"]


@dataclass(frozen=True)
class EventTypeSpec:
    """One row of the contract's event table."""

    name: str
    title_zh: str
    title_en: str
    model: type[EventData]
    roles: frozenset[Role]

    @property
    def ce_type(self) -> str:
        return f"cn.linkage.{self.name}.v1"


def _spec(name: str, model: type[EventData], *roles: Role) -> EventTypeSpec:
    title = str(model.model_config.get("title", name))
    zh, _, en = title.partition(" / ")
    return EventTypeSpec(name, zh, en, model, frozenset(roles) if roles else ANY_ROLE)


_ADMIN = Role.ADMINISTRATIVE
_POLICE = Role.POLICE

EVENT_TYPES: dict[str, EventTypeSpec] = {
    spec.name: spec
    for spec in (
        _spec("case.opened", CaseOpened, _ADMIN),
        _spec("case.assessed", CaseAssessed, _ADMIN, _POLICE),
        _spec("clue.notified", ClueNotified),
        _spec("penalty.decided", PenaltyDecided, _ADMIN),
        _spec("transfer.decided", TransferDecided, _ADMIN),
        _spec("case.transferred", CaseTransferred, _ADMIN),
        _spec("evidence.handed_over", EvidenceHandedOver),
        _spec("evidence.received", EvidenceReceived),
        _spec("transfer.accepted", TransferAccepted, _POLICE),
        _spec("transfer.forwarded", TransferForwarded, _POLICE),
        _spec("filing.decided", FilingDecided, _POLICE),
        _spec("reconsideration.requested", ReconsiderationRequested, _ADMIN),
        _spec("reconsideration.decided", ReconsiderationDecided, _POLICE),
        _spec("supervision.requested", SupervisionRequested, _ADMIN),
        _spec("supervision.issued", SupervisionIssued, Role.PROCURATORATE),
        _spec("investigation.requested", InvestigationRequested),
        _spec("investigation.responded", InvestigationResponded),
        _spec("case.closed", CaseClosed),
        # contract v1.1: reverse transfer and public complaints
        _spec("prosecution.decided", ProsecutionDecided, Role.PROCURATORATE),
        _spec("opinion.issued", OpinionIssued, Role.PROCURATORATE),
        _spec("opinion.replied", OpinionReplied, _ADMIN),
        _spec("clue.received", ClueReceived, _ADMIN, _POLICE),
        _spec("clue.answered", ClueAnswered, _ADMIN, _POLICE),
    )
}


@cache
def typed_event_model(type_name: str, *, narrowed: bool = False) -> type[CloudEvent]:
    """The CloudEvent model of one event type (KeyError for a name not in EVENT_TYPES): its
    `type` fixed, its `data` that type's model. One pydantic pass over an event's bytes
    validates both, where `CloudEvent` then the data model over `json.dumps(event.data)` took
    three. For bytes that are strict JSON (schemas/strict_json.py) both ways accept the same
    events: the data's text as sent and as re-serialised read as the same values
    (streams/verification.py uses it; tests/unit/test_verification_fast_path.py compares).
    `narrowed`: its id `CanonicalEventId` and time `InnerTime`, subsets of `EventId` and
    `BoundedTime` pydantic-core checks without calling Python (for a fast path that may
    decline what they refuse: streams/ledger_records.py)."""
    spec = EVENT_TYPES[type_name]
    inner: dict[str, Any] = {"id": (CanonicalEventId, ...), "time": (InnerTime, ...)}
    model: type[CloudEvent] = create_model(
        f"CloudEvent_{type_name.replace('.', '_')}", __base__=CloudEvent,
        type=(Literal[spec.ce_type], ...), data=(spec.model, ...),  # type: ignore[arg-type]
        **(inner if narrowed else {}))
    return model
