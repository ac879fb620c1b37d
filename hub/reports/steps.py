"""The steps of a case that the statistics count, derived from its folded state (pure).

Each step is counted in the period in which it happened and for the agency that took it
(the opener for 立案, the police for 受理 and 立案决定, the procuratorate for 起诉), so a case
opened in September and transferred in October counts as opened in September and as
transferred in October. A step's `elapsed_days` is measured from the step it follows, and
is compared on the page with that step's statutory period from the rule set (rules.toml).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from streams.rules import CaseState
from streams.rules._thresholds import indication_runs
from streams.rules.rules_config import RuleSet


@dataclass(frozen=True)
class StepSpec:
    code: str
    zh: str
    en: str
    # (rule id, deadline name) in rules.toml giving the statutory period, if any
    deadline: tuple[str, str] | None = None


STEPS: tuple[StepSpec, ...] = (
    StepSpec("opened", "行政立案", "cases opened"),
    StepSpec("over_threshold", "达到追诉标准", "over a threshold"),
    StepSpec("transfer_approved", "批准移送", "transfer approved",
             ("TRANSFER_DECISION_LATE", "decision")),
    StepSpec("transfer_refused", "不批准移送", "transfer refused",
             ("TRANSFER_DECISION_LATE", "decision")),
    StepSpec("transferred", "已移送", "transferred", ("HANDOVER_LATE", "handover")),
    StepSpec("accepted", "公安受理", "accepted", ("NOT_ACCEPTED", "acceptance")),
    StepSpec("filed", "刑事立案", "filed", ("FILING_OVERDUE", "general")),
    StepSpec("not_filed", "不予立案", "not filed", ("FILING_OVERDUE", "general")),
    StepSpec("prosecuted", "提起公诉", "prosecuted"),
    StepSpec("not_prosecuted", "不起诉", "not prosecuted"),
    StepSpec("penalised", "行政处罚", "penalised"),
)
STEP_CODES = tuple(s.code for s in STEPS)
BY_CODE = {s.code: s for s in STEPS}

# The funnel: each stage over the one before it (rates are within the same period).
FUNNEL: tuple[str, ...] = ("opened", "over_threshold", "transfer_approved", "transferred",
                           "accepted", "filed", "prosecuted")


@dataclass(frozen=True)
class Step:
    case_id: str
    step: str
    at: datetime
    agency: str
    offence: str | None
    elapsed_days: Decimal | None


@dataclass(frozen=True)
class Penalty:
    agency: str
    decision_no: str
    case_id: str
    offence: str | None
    decided_at: datetime
    fine: Decimal
    confiscated: Decimal


def _days(start: datetime | None, end: datetime) -> Decimal | None:
    if start is None:
        return None
    return (Decimal((end - start).total_seconds()) / Decimal(86400)).quantize(Decimal("0.001"))


def statutory_days(rules: RuleSet, spec: StepSpec) -> Decimal | None:
    """The step's statutory period in days (hours converted), from the rule set."""
    if spec.deadline is None:
        return None
    rule = rules.rules.get(spec.deadline[0])
    if rule is None:
        return None
    period = rule.deadlines.get(spec.deadline[1])
    if period is None:
        return None
    amount = Decimal(period.amount)
    return amount / 24 if period.unit == "hours" else amount


def case_steps(state: CaseState, rules: RuleSet) -> list[Step]:
    """The steps the case reached, first occurrence of each."""
    agency = state.agency
    if agency is None:
        return []
    offence = str(state.offence) if state.offence is not None else None
    out: list[Step] = []

    def add(code: str, at: datetime, by: str, since: datetime | None) -> None:
        out.append(Step(state.case_id, code, at, by, offence, _days(since, at)))

    opened = state.opened_at if state.openings else None
    if opened is not None:
        add("opened", opened, agency, None)
    runs = indication_runs(state, rules) if state.offence is not None else ()
    threshold = runs[0].start if runs else None
    if threshold is not None:
        add("over_threshold", threshold, agency, opened)
    approved = None
    if state.transfer_decisions:
        d = state.transfer_decisions[0]
        add("transfer_approved" if d.approved else "transfer_refused", d.decided_at, d.agency,
            d.report_at)
        approved = next((x.decided_at for x in state.transfer_decisions if x.approved), None)
    transferred = None
    if state.transfers:
        t = state.transfers[0]
        transferred = t.transferred_at
        add("transferred", t.transferred_at, t.agency, approved)
    accepted = None
    if state.acceptances:
        a = state.acceptances[0]
        accepted = a.accepted_at
        add("accepted", a.accepted_at, a.agency, transferred)
    filed = None
    if state.filing_decisions:
        f = state.filing_decisions[0]
        filed = f.decided_at if f.filed else None
        add("filed" if f.filed else "not_filed", f.decided_at, f.agency, accepted)
    if state.prosecutions:
        p = state.prosecutions[0]
        add("prosecuted" if p.prosecuted else "not_prosecuted", p.decided_at, p.agency, filed)
    if state.penalties:
        first = state.penalties[0]
        add("penalised", first.decided_at, first.agency, opened)
    return out


def case_penalties(state: CaseState) -> list[Penalty]:
    offence = str(state.offence) if state.offence is not None else None
    return [Penalty(p.agency, p.decision_no, state.case_id, offence, p.decided_at, p.fine,
                    p.confiscated) for p in state.penalties]
