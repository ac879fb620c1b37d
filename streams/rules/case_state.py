"""The shape of one case's state: parties, offence, figures, and a record of every step.

`streams.rules.fold` builds it from accepted events. `apply(state, event)` is pure, idempotent by event id, and insensitive to arrival order: every
step is kept in a tuple sorted by the event's own time (`*_at` in its data, then event id), and
the summary fields (agency, offence, parties, figures) are derived from those tuples, so any
permutation of the same events yields an equal state. The state is a pydantic model whose JSON
(`model_dump_json`) round-trips, so it can be stored as JSONB.

Summary fields, as derived:

* `agency`: the sender of `case.opened`; before that arrives, the sender of the earliest
  step only an administrative agency sends (penalty, transfer decision, transfer, requests).
* `offence`, `opened_at`, `parties`: from `case.opened` (the latest by `opened_at` if several).
* `figures`: per figure, the value of the latest assessment (by `assessed_at`) that gives it.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, Literal, NamedTuple, Protocol, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.cloudevent import CloudEvent
from schemas.events import (
    Offence,
)
from schemas.identity import validated_identity

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class CaseEvent(BaseModel):
    """One accepted event as the rules layer sees it: envelope facts plus the wire `data`."""

    model_config = _FROZEN

    event_id: str = Field(min_length=1)
    type_name: str = Field(min_length=1)  # e.g. "case.opened"
    agency: str = Field(min_length=1)  # the sender
    case_id: str = Field(min_length=1)
    time: AwareDatetime  # the CloudEvent time (when the agency sent it)
    data: dict[str, Any]  # wire JSON as received

    @classmethod
    def from_cloudevent(cls, event: CloudEvent) -> CaseEvent:
        return cls(
            event_id=event.event_id,
            type_name=event.type_name,
            agency=event.agency,
            case_id=event.subject,
            time=event.time,
            data=dict(event.data),
        )


class Sent(Protocol):
    """What a step's record takes from its event besides the data: a `CaseEvent` or an
    `EventHead`."""

    @property
    def event_id(self) -> str: ...
    @property
    def type_name(self) -> str: ...
    @property
    def agency(self) -> str: ...
    @property
    def case_id(self) -> str: ...
    @property
    def time(self) -> datetime: ...


M = TypeVar("M", bound=BaseModel)


def built(model: type[M], values: dict[str, Any], fields_set: set[str] | None = None) -> M:
    """An instance of `model` holding `values`: every one of its fields, each already of its
    type (taken from validated models), the model without extra fields or private attributes;
    `fields_set` the fields set explicitly (default: all of them, a copy of the model's set
    of its field names: issue 14, session 12, copying a set costs less than `set(values)`,
    which hashes every name into a new table, for each record of a case: ~3,500 instructions
    a case fewer in bench/fold.py under callgrind).

    What pydantic's `model_construct` makes, without its walk over the fields (defaults,
    aliases): ~1 µs against ~3, for the step record and figures of every assessment (issue
    14). Equal to validated construction, dump included: tests/unit/test_fold_fast_paths.py."""
    instance = _new(model)
    _set_dict(instance, values)
    _set_fields_set(instance, _EVERY_FIELD[model].copy() if fields_set is None else fields_set)
    _set_extra(instance, None)
    _set_private(instance, None)
    return instance


class _EveryField(dict[type[BaseModel], set[str]]):
    """Each model's field names, as a set made once (`built` gives every instance a copy)."""

    def __missing__(self, model: type[BaseModel]) -> set[str]:
        names = self[model] = set(model.model_fields)
        return names


_EVERY_FIELD = _EveryField()
_new = object.__new__
"""Read once (issue 14, session 8: looking `__setattr__` up on `object` four times was ~a
quarter of making a record; a model defines no `__new__` of its own)."""
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__
"""The setters of `BaseModel`'s four slots, which `object.__setattr__` finds for every model
(none redefines them): called directly (issue 14, session 9: 8.7 k instructions to build
`Figures` against 10.6 k through `object.__setattr__` and its checks; three are built an
event). tests/unit/test_fold_fast_paths.py checks every state and record model has them."""


class EventHead(NamedTuple):
    """A `CaseEvent` without its wire `data` (the fold's fast path has the data validated
    already, as its contract model, and needs no dict of it)."""

    event_id: str
    type_name: str
    agency: str
    case_id: str
    time: datetime


class PartyRef(BaseModel):
    """A party of the case; `key` (id_type, id_number) links cases across agencies."""

    model_config = _FROZEN

    kind: Literal["person", "organization"]
    id_type: str
    id_number: str
    name: str

    @property
    def identity(self) -> tuple[str, str] | None:
        """("USCC", code) / ("PRC_ID", number) when validated (schemas.identity), else None."""
        return validated_identity(self.id_type, self.id_number)

    @property
    def key(self) -> tuple[str, str]:
        """The validated identity when there is one, else (id_type, id_number) as written."""
        return self.identity or (self.id_type, self.id_number)


class Record(BaseModel):
    """A step of the case: which event, which agency sent it; `at` is the step's own time."""

    model_config = _FROZEN

    event_id: str
    agency: str

    @property
    def at(self) -> datetime:
        raise NotImplementedError

    def sort_key(self) -> tuple[Any, ...]:
        return (self.at, self.event_id)


def by_sort_key(record: Record) -> tuple[Any, ...]:
    """`record.sort_key()`, as a key function (the order every step tuple of a state keeps)."""
    return record.sort_key()


class OpeningRecord(Record):
    opened_at: datetime
    sent_at: datetime
    offence: Offence
    parties: tuple[PartyRef, ...]
    clue_id: str | None = None
    committed_at: datetime | None = None

    @property
    def at(self) -> datetime:
        return self.opened_at

    def sort_key(self) -> tuple[Any, ...]:
        return (self.opened_at, self.sent_at, self.event_id)


@lru_cache(maxsize=256)
def figure_parts(name: str) -> tuple[str, ...]:
    """The figures a threshold's name adds up ("a+b"); names come from the rule file."""
    return tuple(name.split("+"))


_ZERO = Decimal(0)


def sum_of(amounts: Mapping[str, Decimal], counts: Mapping[str, int],
           parts: tuple[str, ...]) -> Decimal | None:
    """The sum of whichever of these figures are known (an amount, else a count), as
    `sum(known, Decimal(0))` adds them (Decimal(0) first, so the sum's exponent is the
    same), or None if none is. Without the lists `value` made (issue 14: threshold
    checks call it for every minimum of every entry of every assessment); over the dicts
    of a `Figures`, so that a walk over assessments needs none (`_thresholds._met`)."""
    total: Decimal | None = None
    for part in parts:
        one = amounts.get(part)  # amounts are Decimals, never None
        if one is None:
            count = counts.get(part)
            if count is None:
                continue
            one = Decimal(count)
        total = _ZERO + one if total is None else total + one
    return total


class Figures(BaseModel):
    """Figures of a case: amounts in yuan, counts, flags, and when each was last assessed."""

    model_config = _FROZEN

    amounts: dict[str, Decimal] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)
    flags: dict[str, bool] = Field(default_factory=dict)
    as_of: dict[str, datetime] = Field(default_factory=dict)

    def value(self, name: str) -> Decimal | None:
        """An amount or count as a Decimal; a sum "a+b" of whichever parts are known."""
        return self.sum_of(figure_parts(name))

    def sum_of(self, parts: tuple[str, ...]) -> Decimal | None:
        """The sum of whichever of these figures are known (an amount, else a count), or
        None if none is (see the module function `sum_of`)."""
        return sum_of(self.amounts, self.counts, parts)

    def flag(self, name: str) -> bool:
        return self.flags.get(name, False)

    def updated(self, assessment: AssessmentRecord) -> Figures:
        """These figures with the assessment's values laid over them.

        Built, not validated: every value comes from these figures or the (validated)
        assessment, so validating them again only re-checked every figure the case has, on
        every assessment (issue 14: ~5 µs of the rules worker's fold per event)."""
        # Read through the fields' dicts (issue 14, session 9: a model's attribute costs ~460
        # instructions, its `__getattr__` hook included, against ~150 for a dict's item).
        mine, new = self.__dict__, assessment.__dict__
        amounts, counts, flags = new["amounts"], new["counts"], new["flags"]
        return built(Figures, {
            "amounts": {**mine["amounts"], **amounts},
            "counts": {**mine["counts"], **counts},
            "flags": {**mine["flags"], **flags},
            "as_of": {**mine["as_of"],
                      **dict.fromkeys((*amounts, *counts, *flags), new["assessed_at"])},
        })


class AssessmentRecord(Record):
    assessed_at: datetime
    sent_at: datetime
    amounts: dict[str, Decimal] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)
    flags: dict[str, bool] = Field(default_factory=dict)
    ignored_fields: tuple[str, ...] = ()  # extension fields present with a value of the wrong type

    @property
    def at(self) -> datetime:
        return self.assessed_at

    def sort_key(self) -> tuple[Any, ...]:
        # Same assessment time: the one sent later is the correction.
        return (self.assessed_at, self.sent_at, self.event_id)


class PenaltyRecord(Record):
    decided_at: datetime
    decision_no: str
    fine: Decimal
    confiscated: Decimal

    @property
    def at(self) -> datetime:
        return self.decided_at


class TransferDecisionRecord(Record):
    report_at: datetime
    decided_at: datetime
    approved: bool
    reasons: str | None = None

    @property
    def at(self) -> datetime:
        return self.decided_at


class TransferRecord(Record):
    to_agency: str
    transferred_at: datetime
    document_kinds: tuple[str, ...]

    @property
    def at(self) -> datetime:
        return self.transferred_at


class AcceptanceRecord(Record):
    accepted_at: datetime
    receipt_no: str

    @property
    def at(self) -> datetime:
        return self.accepted_at


class ForwardRecord(Record):
    forwarded_at: datetime
    to_agency: str

    @property
    def at(self) -> datetime:
        return self.forwarded_at


class FilingRecord(Record):
    decided_at: datetime
    filed: bool
    complex: bool = False
    reasons: str | None = None

    @property
    def at(self) -> datetime:
        return self.decided_at


class ReconsiderationRequestRecord(Record):
    requested_at: datetime

    @property
    def at(self) -> datetime:
        return self.requested_at


class ReconsiderationDecisionRecord(Record):
    decided_at: datetime
    upheld: bool

    @property
    def at(self) -> datetime:
        return self.decided_at


class SupervisionRequestRecord(Record):
    requested_at: datetime

    @property
    def at(self) -> datetime:
        return self.requested_at


class SupervisionRecord(Record):
    issued_at: datetime
    kind: Literal["explain_non_filing", "order_filing", "recommend_transfer", "correction"]
    to_agency: str

    @property
    def at(self) -> datetime:
        return self.issued_at


class HandoverRecord(Record):
    handover_id: str
    to_agency: str
    handed_over_at: datetime
    item_count: int

    @property
    def at(self) -> datetime:
        return self.handed_over_at


class EvidenceReceiptRecord(Record):
    handover_id: str
    received_at: datetime
    discrepancy_count: int

    @property
    def at(self) -> datetime:
        return self.received_at


class ClosureRecord(Record):
    closed_at: datetime
    outcome: str

    @property
    def at(self) -> datetime:
        return self.closed_at


class ProsecutionRecord(Record):
    decided_at: datetime
    prosecuted: bool
    reasons: str

    @property
    def at(self) -> datetime:
        return self.decided_at


class OpinionRecord(Record):
    opinion_id: str
    to_agency: str
    issued_at: datetime
    proposal: Literal["administrative_penalty", "disciplinary_sanction", "other"]

    @property
    def at(self) -> datetime:
        return self.issued_at


class OpinionReplyRecord(Record):
    opinion_id: str
    replied_at: datetime
    outcome: Literal["penalty_imposed", "no_penalty", "other"]
    reasons: str | None = None

    @property
    def at(self) -> datetime:
        return self.replied_at


class ClueRecord(Record):
    clue_id: str
    channel: str
    received_at: datetime
    reporter_named: bool | None = None
    platform: str | None = None

    @property
    def at(self) -> datetime:
        return self.received_at


class ClueAnswerRecord(Record):
    clue_id: str
    answered_at: datetime
    outcome: Literal["case_opened", "transferred", "no_violation", "other"]

    @property
    def at(self) -> datetime:
        return self.answered_at


class CaseState(BaseModel):
    """Everything the rules need to know about one case, as of the events applied so far."""

    model_config = _FROZEN

    case_id: str
    # Derived summary (see the module docstring).
    agency: str | None = None
    offence: Offence | None = None
    opened_at: datetime | None = None
    parties: tuple[PartyRef, ...] = ()
    figures: Figures = Field(default_factory=Figures)
    # Steps, each sorted by (own time, event id).
    openings: tuple[OpeningRecord, ...] = ()
    assessments: tuple[AssessmentRecord, ...] = ()
    penalties: tuple[PenaltyRecord, ...] = ()
    transfer_decisions: tuple[TransferDecisionRecord, ...] = ()
    transfers: tuple[TransferRecord, ...] = ()
    acceptances: tuple[AcceptanceRecord, ...] = ()
    forwards: tuple[ForwardRecord, ...] = ()
    filing_decisions: tuple[FilingRecord, ...] = ()
    reconsideration_requests: tuple[ReconsiderationRequestRecord, ...] = ()
    reconsideration_decisions: tuple[ReconsiderationDecisionRecord, ...] = ()
    supervision_requests: tuple[SupervisionRequestRecord, ...] = ()
    supervisions: tuple[SupervisionRecord, ...] = ()
    handovers: tuple[HandoverRecord, ...] = ()
    evidence_receipts: tuple[EvidenceReceiptRecord, ...] = ()
    closures: tuple[ClosureRecord, ...] = ()
    # Contract v1.1: reverse transfer and public complaints.
    prosecutions: tuple[ProsecutionRecord, ...] = ()
    opinions: tuple[OpinionRecord, ...] = ()
    opinion_replies: tuple[OpinionReplyRecord, ...] = ()
    clues: tuple[ClueRecord, ...] = ()
    clue_answers: tuple[ClueAnswerRecord, ...] = ()
    # Every event applied, sorted: apply() ignores an id it has seen.
    event_ids: tuple[str, ...] = ()

    def has_event(self, event_id: str) -> bool:
        index = bisect.bisect_left(self.event_ids, event_id)
        return index < len(self.event_ids) and self.event_ids[index] == event_id

    @property
    def party_keys(self) -> frozenset[tuple[str, str]]:
        """Keys linking cases across agencies (validated identities where possible)."""
        return frozenset(party.key for party in self.parties)

    @property
    def identities(self) -> frozenset[tuple[str, str]]:
        """The parties' validated identities only (USCC / PRC_ID): what screening matches on."""
        return frozenset(i for party in self.parties if (i := party.identity) is not None)

    @property
    def committed_at(self) -> datetime | None:
        """When the act was committed, best known: the opening's `committed_at`, else `opened_at`."""
        if not self.openings:
            return None
        opening = self.openings[-1]
        return opening.committed_at or opening.opened_at

    @property
    def report_at(self) -> datetime | None:
        return min((d.report_at for d in self.transfer_decisions), default=None)

    @property
    def closed_at(self) -> datetime | None:
        return self.closures[0].closed_at if self.closures else None
