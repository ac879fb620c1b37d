"""Map imported penalty records to the hub's case.opened and penalty.decided events, deterministically."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any, Final, NamedTuple

from pydantic import ValidationError

from connectors.penalty.cells import decision_key
from connectors.penalty.columns import STANDARD_HEADERS
from connectors.penalty.records import DisclosedPenalty, PartyCategory, ReasonCode, RowError
from schemas.cloudevent import AGENCY_ID_PATTERN
from schemas.events import EVENT_TYPES, Offence
from schemas.money import format_money

__all__ = [
    "DEFAULT_OFFENCE_KEYWORDS",
    "EVENT_NAMESPACE",
    "SHANGHAI",
    "HubEvent",
    "OffenceClassifier",
    "case_id_for",
    "decided_at",
    "event_id_for",
    "map_penalty_record",
]

EVENT_NAMESPACE: Final = uuid.UUID("8127bbcc-4264-589d-b462-c8775cbcb7be")
"""uuid5 namespace of imported penalties' event ids. Never change it: re-imports would no
longer be recognised as duplicates."""

SHANGHAI: Final = timezone(timedelta(hours=8), "Asia/Shanghai")
"""China Standard Time; fixed +08:00 (no daylight saving since 1991), so no tz database."""

_CASE_ID_MAX: Final = 128  # the contract's subject: 1-128 characters, no control characters
_HASH_TAIL: Final = 16

_AGENCY_RE: Final = re.compile(AGENCY_ID_PATTERN)


class HubEvent(NamedTuple):
    """One event for the hub, in the order of Connector.publish's arguments:
    `connector.publish(e.type_name, e.case_id, e.data, event_id=e.event_id, time=e.time)`."""

    type_name: str  # "case.opened"
    case_id: str  # the CloudEvents subject and Kafka key
    event_id: str  # a UUID, the same on every import of the same record
    time: datetime  # aware, +08:00: isoformat() is the RFC 3339 form
    data: dict[str, Any]


DEFAULT_OFFENCE_KEYWORDS: Final[tuple[tuple[str, Offence], ...]] = (
    # first match wins: the more specific phrases come before the phrases they contain
    ("销售假冒注册商标", Offence.COUNTERFEIT_GOODS_SALE),
    ("销售明知是假冒注册商标", Offence.COUNTERFEIT_GOODS_SALE),
    ("销售侵犯注册商标专用权", Offence.COUNTERFEIT_GOODS_SALE),
    ("注册商标标识", Offence.ILLEGAL_MARKS),
    ("商标标识", Offence.ILLEGAL_MARKS),
    ("假冒注册商标", Offence.TRADEMARK_COUNTERFEITING),
    ("侵犯注册商标专用权", Offence.TRADEMARK_COUNTERFEITING),
    ("商标侵权", Offence.TRADEMARK_COUNTERFEITING),
    ("假冒专利", Offence.PATENT_COUNTERFEITING),
    ("销售侵权复制品", Offence.INFRINGING_COPIES_SALE),
    ("侵犯著作权", Offence.COPYRIGHT_INFRINGEMENT),
    ("侵犯版权", Offence.COPYRIGHT_INFRINGEMENT),
    ("盗版", Offence.COPYRIGHT_INFRINGEMENT),
    ("商业秘密", Offence.TRADE_SECRET),
    ("假农药", Offence.FAKE_AGRICULTURAL_INPUTS),
    ("劣质农药", Offence.FAKE_AGRICULTURAL_INPUTS),
    ("伪劣农药", Offence.FAKE_AGRICULTURAL_INPUTS),
    ("假兽药", Offence.FAKE_AGRICULTURAL_INPUTS),
    ("劣兽药", Offence.FAKE_AGRICULTURAL_INPUTS),
    ("伪劣兽药", Offence.FAKE_AGRICULTURAL_INPUTS),
    ("假化肥", Offence.FAKE_AGRICULTURAL_INPUTS),
    ("伪劣化肥", Offence.FAKE_AGRICULTURAL_INPUTS),
    ("假种子", Offence.FAKE_AGRICULTURAL_INPUTS),
    ("劣种子", Offence.FAKE_AGRICULTURAL_INPUTS),
    ("伪劣种子", Offence.FAKE_AGRICULTURAL_INPUTS),
    ("伪劣产品", Offence.SHODDY_PRODUCTS),
    ("以假充真", Offence.SHODDY_PRODUCTS),
    ("以次充好", Offence.SHODDY_PRODUCTS),
    ("掺杂掺假", Offence.SHODDY_PRODUCTS),
    ("掺杂、掺假", Offence.SHODDY_PRODUCTS),
    ("不合格产品冒充合格产品", Offence.SHODDY_PRODUCTS),
)
"""Keywords found in 违法行为类型 / 违法事实, per offence of the contract."""


def _fold(text: str) -> str:
    """Comparison form of free text: full-width folded, no whitespace or invisible characters."""
    folded = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in folded if not ch.isspace() and unicodedata.category(ch) != "Cf")


class OffenceClassifier:
    """Classifies a record's offence from 违法行为类型, then 违法事实, by keyword.

    An agency's own `overrides` (keyword or its own 违法行为类型 label -> offence) are tried
    before the default table, longest keyword first; mapping a keyword to "other" keeps a
    default keyword from matching. Nothing found: Offence.OTHER.
    """

    def __init__(
        self,
        overrides: Mapping[str, Offence | str] | None = None,
        *,
        keywords: tuple[tuple[str, Offence], ...] = DEFAULT_OFFENCE_KEYWORDS,
    ) -> None:
        own = sorted(
            ((_fold(keyword), Offence(offence)) for keyword, offence in (overrides or {}).items()),
            key=lambda entry: -len(entry[0]),
        )
        if any(not keyword for keyword, _ in own):
            raise ValueError("an offence keyword cannot be empty")
        self._table: tuple[tuple[str, Offence], ...] = (
            *own,
            *((_fold(keyword), offence) for keyword, offence in keywords),
        )

    def classify(self, violation_type: str | None, facts: str | None) -> Offence:
        for text in (violation_type, facts):
            if not text:
                continue
            folded = _fold(text)
            for keyword, offence in self._table:
                if keyword in folded:
                    return offence
        return Offence.OTHER


_DEFAULT_CLASSIFIER: Final = OffenceClassifier()


def _check_agency(agency_id: str) -> None:
    if not _AGENCY_RE.fullmatch(agency_id):
        raise ValueError(f"not an agency id: {agency_id!r}")


def case_id_for(agency_id: str, decision_no: str) -> str:
    """`<agency>:<decision number>` (decision_key form), at most 128 characters; a longer one
    keeps its head and ends in a hash of the whole, so distinct decisions stay distinct."""
    _check_agency(agency_id)
    case_id = f"{agency_id}:{decision_key(decision_no)}"
    case_id = "".join(ch for ch in case_id if unicodedata.category(ch) != "Cc")
    if len(case_id) <= _CASE_ID_MAX:
        return case_id
    digest = hashlib.sha256(case_id.encode("utf-8")).hexdigest()[:_HASH_TAIL]
    return f"{case_id[: _CASE_ID_MAX - _HASH_TAIL - 1]}~{digest}"


def event_id_for(agency_id: str, decision_no: str, type_name: str) -> str:
    """uuid5 over EVENT_NAMESPACE, the agency, the decision number (decision_key) and the type."""
    _check_agency(agency_id)
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{agency_id}\n{decision_key(decision_no)}\n{type_name}"))


def decided_at(day: date) -> datetime:
    """The decision date at 00:00 China Standard Time."""
    return datetime.combine(day, time(0), tzinfo=SHANGHAI)


_ORGANISATION_CODES: Final = (
    ("uscc", "USCC"),
    ("business_reg_no", "BUSINESS_REG_NO"),
    ("org_code", "ORG_CODE"),
    ("tax_reg_no", "TAX_REG_NO"),
    ("institution_cert_no", "INSTITUTION_CERT_NO"),
    ("social_org_reg_no", "SOCIAL_ORG_REG_NO"),
)
# the record's field behind each event field, to name the column of an EVENT_INVALID error
_SOURCE_FIELD: Final[Mapping[str, str]] = {
    "offence": "violation_type",
    "opened_at": "decision_date",
    "parties": "party_name",
    "summary": "facts",
    "decision_no": "decision_no",
    "decided_at": "decision_date",
    "fine": "fine_yuan",
    "confiscated": "confiscated_yuan",
}


class _Refused(Exception):
    def __init__(self, error: RowError) -> None:
        super().__init__(error.message_en)
        self.error = error


class _Mapper:
    """The mapping of one record, with the file's header names for its errors."""

    def __init__(self, record: DisclosedPenalty, labels: Mapping[str, str]) -> None:
        self.record = record
        self.labels = labels

    def refuse(
        self, field: str | None, code: ReasonCode, message_zh: str, message_en: str
    ) -> _Refused:
        column = None if field is None else self.labels.get(field, STANDARD_HEADERS[field])
        value = None if field is None else getattr(self.record, field)
        shown = None if value is None else str(value)
        return _Refused(
            RowError(self.record.row_number, column, shown, code, message_zh, message_en)
        )

    def party(self) -> dict[str, str]:
        record = self.record
        organisation = next(
            (
                (id_type, code)
                for field, id_type in _ORGANISATION_CODES
                if (code := getattr(record, field))
            ),
            None,
        )
        category = record.party_category
        as_organisation = category is PartyCategory.ORGANIZATION or (
            category is not PartyCategory.PERSON and organisation is not None
        )
        if as_organisation:
            if organisation is None:
                raise self.refuse(
                    "uscc", ReasonCode.MISSING_PARTY_ID,
                    "法人及非法人组织须有统一社会信用代码或其他登记代码",
                    "an organisation needs its unified social credit code or another "
                    "registration code",
                )
            id_type, id_number = organisation
            return {
                "kind": "organization", "id_type": id_type, "id_number": id_number,
                "name": record.party_name,
            }
        if not record.person_id_number:
            raise self.refuse(
                "person_id_number", ReasonCode.MISSING_PARTY_ID,
                "自然人须有证件号码（个体工商户须有证件号码或登记代码）",
                "a natural person needs an identity document number "
                "(a sole trader: that or a business registration code)",
            )
        if not record.person_id_type:
            raise self.refuse(
                "person_id_type", ReasonCode.MISSING_PARTY_ID,
                "有证件号码时须注明证件类型", "an identity document number needs its type",
            )
        return {
            "kind": "person", "id_type": record.person_id_type,
            "id_number": record.person_id_number, "name": record.party_name,
        }

    def validated(self, type_name: str, data: dict[str, Any]) -> dict[str, Any]:
        try:
            EVENT_TYPES[type_name].model.model_validate_json(json.dumps(data))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = "/".join(str(part) for part in first["loc"])
            top = str(first["loc"][0]) if first["loc"] else ""
            raise self.refuse(
                _SOURCE_FIELD.get(top), ReasonCode.EVENT_INVALID,
                f"生成的 {type_name} 事件不符合枢纽的格式：{where}：{first['msg']}",
                f"the {type_name} event made from this row is invalid at {where}: {first['msg']}",
            ) from exc
        return data


def map_penalty_record(
    record: DisclosedPenalty,
    *,
    agency_id: str,
    classifier: OffenceClassifier | None = None,
    column_labels: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> tuple[HubEvent, HubEvent] | RowError:
    """The case.opened and penalty.decided events of one record, or why it cannot be sent.

    Both events are timed at the decision date, 00:00 +08:00 (the export has no date of
    opening). Ids are deterministic, so a re-import yields the same events and the hub receipts
    them as duplicates. Each data object is validated against the hub's schema here, so a
    problem is a RowError for the clerk, never a rejection at the hub. `column_labels` (from
    PenaltyCsv.column_labels) names errors' columns as in the file; `now` (default: the current
    time) refuses decisions dated in the future.
    """
    _check_agency(agency_id)
    mapper = _Mapper(record, column_labels or {})
    at = decided_at(record.decision_date)
    try:
        if at > (now or datetime.now(UTC)):
            raise mapper.refuse(
                "decision_date", ReasonCode.DATE_IN_FUTURE,
                "处罚决定日期在今天之后", "the decision date is in the future",
            )
        offence = (classifier or _DEFAULT_CLASSIFIER).classify(
            record.violation_type, record.facts
        )
        opened = mapper.validated(
            "case.opened",
            {
                "offence": offence.value,
                "opened_at": at.isoformat(),
                "parties": [mapper.party()],
                "summary": record.facts or record.violation_type or "",
            },
        )
        decided = mapper.validated(
            "penalty.decided",
            {
                "decision_no": record.decision_no,
                "decided_at": at.isoformat(),
                "fine": format_money(record.fine_yuan),
                "confiscated": format_money(record.confiscated_yuan),
            },
        )
    except _Refused as refused:
        return refused.error
    case_id = case_id_for(agency_id, record.decision_no)
    return (
        HubEvent(
            "case.opened", case_id, event_id_for(agency_id, record.decision_no, "case.opened"),
            at, opened,
        ),
        HubEvent(
            "penalty.decided", case_id,
            event_id_for(agency_id, record.decision_no, "penalty.decided"),
            at, decided,
        ),
    )
