"""From stored records to what a person may see: lights, stage, thresholds, masking.

Shared by the JSON API and the pages, so both show the same thing; `for_principal` is the
one place identity numbers are masked for auditors and admins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal, TypeVar

from pydantic import BaseModel

from hub.access import Principal
from hub.adapters.workbench_store import AlertRow, CaseRecord
from hub.web.models import (
    AlertOut,
    CaseOut,
    DeadlineOut,
    FigureOut,
    PartyOut,
    StageOut,
    ThresholdOut,
    TimelineEventOut,
)
from hub.web.security import mask_identities
from schemas.alert import Alert
from streams.rules.calendar import SHANGHAI
from streams.rules.case_state import CaseState
from streams.rules.engine import pending_deadlines
from streams.rules.rules_config import RuleSet

Light = Literal["red", "yellow", "green", "none"]
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Names:
    """Agency id -> Chinese and English names (the registry), for display."""

    agencies: dict[str, tuple[str, str, str]]

    def zh(self, agency_id: str | None) -> str:
        if agency_id is None:
            return "-"
        return self.agencies.get(agency_id, (agency_id, "", ""))[0]

    def en(self, agency_id: str | None) -> str:
        if agency_id is None:
            return "-"
        return self.agencies.get(agency_id, ("", agency_id, ""))[1] or agency_id


def local(moment: datetime | None) -> str:
    """A time as shown everywhere: Asia/Shanghai, to the minute."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if moment else "-"


def light(status: str, due_at: datetime | None, now: datetime, yellow_days: float) -> Light:
    """Red: overdue (or a breach without a deadline); yellow: due within `yellow_days`;
    green: on track; none: resolved."""
    if status != "open":
        return "none"
    if due_at is None or due_at <= now:
        return "red"
    return "yellow" if due_at - now <= timedelta(days=yellow_days) else "green"


def for_principal(model: M, principal: Principal) -> M:
    """The model as this principal may see it (identity numbers masked for auditors, admins)."""
    if not principal.masks_identities:
        return model
    return type(model).model_validate(mask_identities(model.model_dump(mode="json")))


def alert_out(alert: Alert, names: Names, now: datetime, yellow_days: float,
              offence: str | None = None) -> AlertOut:
    return AlertOut(**alert.model_dump(), agency_name=names.zh(alert.agency), offence=offence,
                    light=light(alert.status, alert.due_at, now, yellow_days))


def board_alert(row: AlertRow, names: Names, now: datetime, yellow_days: float) -> AlertOut:
    return alert_out(row.alert, names, now, yellow_days, row.offence)


_STAGES: dict[str, tuple[str, str]] = {
    "closed": ("已结案", "closed"),
    "filed": ("公安机关已立案", "filed by the police"),
    "not_filed": ("公安机关不予立案", "the police declined to file"),
    "forwarded": ("已移交其他机关", "forwarded to another agency"),
    "accepted": ("公安机关已受理", "accepted by the police"),
    "transferred": ("已移送公安机关", "transferred to the police"),
    "transfer_refused": ("决定不移送", "transfer not approved"),
    "transfer_approved": ("已批准移送", "transfer approved"),
    "penalised": ("已作出行政处罚", "administrative penalty decided"),
    "assessed": ("已认定涉案金额", "amounts assessed"),
    "opened": ("行政立案", "opened by the administrative agency"),
    "unknown": ("仅有账本记录", "ledger entries only"),
}


def stage_of(state: CaseState | None) -> StageOut:
    """The case's current stage, from the furthest step its events reached."""
    code = "unknown"
    if state is not None:
        if state.closures:
            code = "closed"
        elif state.filing_decisions:
            code = "filed" if state.filing_decisions[-1].filed else "not_filed"
        elif state.forwards:
            code = "forwarded"
        elif state.acceptances:
            code = "accepted"
        elif state.transfers:
            code = "transferred"
        elif state.transfer_decisions:
            code = ("transfer_approved" if state.transfer_decisions[-1].approved
                    else "transfer_refused")
        elif state.penalties:
            code = "penalised"
        elif state.assessments:
            code = "assessed"
        elif state.openings:
            code = "opened"
    zh, en = _STAGES[code]
    return StageOut(code=code, zh=zh, en=en)


def _figure(state: CaseState, name: str) -> Decimal | int | None:
    figures = state.figures
    if name in figures.amounts:
        return figures.amounts[name]
    return figures.counts.get(name)


def _at_least(value: Decimal | int | None, minimum: object) -> bool:
    return value is not None and Decimal(value) >= Decimal(str(minimum))


def thresholds(state: CaseState | None, rules: RuleSet) -> list[ThresholdOut]:
    """Every enabled threshold of the case's offence, each minimum against the case's figure."""
    if state is None or state.offence is None or state.offence not in rules.offences:
        return []
    out = []
    for name, trigger in rules.offences[state.offence].thresholds.items():
        if not trigger.enabled:
            continue
        actual = {k: _figure(state, k) for k in trigger.min}
        met = all(_at_least(actual[k], m) for k, m in trigger.min.items())
        met = met and all(state.figures.flags.get(flag, False) for flag in trigger.flags)
        out.append(ThresholdOut(
            name=name, legal_basis=trigger.legal_basis, met=met,
            minimums={k: str(m) for k, m in trigger.min.items()},
            actual={k: None if v is None else str(v) for k, v in actual.items()}))
    return out


def case_out(record: CaseRecord, names: Names, rules: RuleSet, now: datetime,
             yellow_days: float) -> CaseOut:
    state = record.state
    offence = state.offence if state else None
    alerts = [alert_out(a, names, now, yellow_days, offence) for a in record.alerts]
    deadlines = [DeadlineOut(
        rule_id=p.rule_id,
        what_zh=rules.rules[p.rule_id].title_zh, what_en=rules.rules[p.rule_id].title_en,
        due_at=p.due.at, light=light("open", p.due.at, now, yellow_days))
        for p in (pending_deadlines(state, rules, now) if state else [])]
    if not deadlines and record.next_due_at is not None and record.next_due_at > now:
        deadlines.append(DeadlineOut(  # the rules runner's view, if the rules have changed
            rule_id=None, what_zh="下一法定期限", what_en="next legal deadline",
            due_at=record.next_due_at,
            light=light("open", record.next_due_at, now, yellow_days)))
    figures = state.figures if state else None
    amounts = [] if figures is None else (
        [FigureOut(name=k, value=str(v)) for k, v in sorted(figures.amounts.items())]
        + [FigureOut(name=k, value=str(v)) for k, v in sorted(figures.counts.items())])
    return CaseOut(
        case_id=record.case_id,
        offence=offence,
        offence_zh=rules.offences[offence].title_zh if offence in rules.offences else None,
        agency=state.agency if state else None,
        agency_name=names.zh(state.agency) if state and state.agency else None,
        opened_at=state.opened_at if state else None,
        parties=[PartyOut(kind=p.kind, id_type=p.id_type, id_number=p.id_number, name=p.name)
                 for p in (state.parties if state else ())],
        amounts=amounts,
        thresholds=thresholds(state, rules),
        stage=stage_of(state),
        open_deadlines=deadlines,
        open_alerts=[a for a in alerts if a.status == "open"],
        resolved_alerts=[a for a in alerts if a.status == "resolved"],
        timeline=[TimelineEventOut(
            event_id=e.event_id, type=e.event_type, agency=e.agency,
            agency_name=names.zh(e.agency), time=e.time, received_at=e.received_at,
            ledger_index=e.ledger_index, leaf_hash=e.leaf_hash) for e in record.timeline],
    )
