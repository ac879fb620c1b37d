"""One small policy per rule id: from a case's state to the obligations it owes and when each was met.

A policy never looks at the clock. It returns `Obligation`s — "this must happen by the end of
`deadline` from `clock_start`" or, without a deadline, "this is a breach since `raised_at`" —
each with `satisfied_at`, the instant the obligation was met (or the breach cured), if it was.
The engine turns them into open / resolved alerts against `now`.

Readings a policy takes are stated in its docstring; triggers are chosen so that the same fact
always yields the same trigger (hence the same alert id) whatever the order events arrive in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache, partial
from typing import Any

from schemas.money import format_money
from streams.rules._quick import once, quick_init
from streams.rules._thresholds import (
    Indication,
    Run,
    case_indication,
    indication_runs,
)
from streams.rules.calendar import shanghai_iso
from streams.rules.case_state import (
    CaseState,
    ForwardRecord,
    Record,
    TransferDecisionRecord,
    TransferRecord,
)
from streams.rules.rules_config import Deadline, Rule, RuleSet

UNKNOWN_AGENCY = "unknown"


iso = shanghai_iso
"""A time in alert facts: its Shanghai ISO 8601 text. The function itself, not a function
calling it (issue 14, session 11: ~1 k instructions a call, ~4 calls a case)."""


def earliest(*moments: datetime | None) -> datetime | None:
    """The earliest of the known moments (None: none is known). A loop, not `min` over a
    list made first: called with two or three moments for most obligations (issue 14)."""
    first: datetime | None = None
    for moment in moments:
        if moment is not None and (first is None or moment < first):
            first = moment
    return first


def first_at(records: Iterable[Record]) -> datetime | None:
    """The earliest `at` of the records (None: no record); as `min(...)` over them, the first
    of equal ones, with a loop in place of `min` over a generator (issue 14: read for most
    steps of every case, which hold one record or two)."""
    first: datetime | None = None
    for record in records:
        at = record.at
        if first is None or at < first:
            first = at
    return first


@quick_init
@dataclass(frozen=True)
class Obligation:
    """What a rule found in a case: an act due by a deadline, or a breach standing since a time."""

    trigger: str  # stable name of the fact that gave rise to it; part of the alert id
    responsible: str  # the agency that must act
    detail_zh: str = ""
    detail_en: str = ""
    deadline: Deadline | None = None  # None: a breach from `raised_at` on
    deadline_name: str | None = None
    clock_start: datetime | None = None
    raised_at: datetime | None = None
    satisfied_at: datetime | None = None
    unconfirmed: bool = False
    facts: Mapping[str, Any] = field(default_factory=dict)
    explain: Callable[[], Explanation] | None = None
    """When given, what `explained` returns in place of `facts`, `detail_zh` and `detail_en`
    (left empty): made only for an obligation the engine turns into an alert. Issue 14,
    session 7: about half of a case's obligations (an act done on time, a deadline still
    running) make no alert, and their facts and texts (a run's figures, thresholds and
    their descriptions for `should_transfer`) were ~8 µs of a case's ~90 to evaluate."""

    def explained(self) -> Explanation:
        """(facts, detail_zh, detail_en) of the obligation."""
        if self.explain is not None:
            return self.explain()
        return self.facts, self.detail_zh, self.detail_en


Explanation = tuple[Mapping[str, Any], str, str]


class CaseView:
    """A case under a rule set, with the derived facts several policies share (computed once)."""

    def __init__(self, case: CaseState, rules: RuleSet, related: Sequence[CaseState] = ()) -> None:
        self.case = case
        self.rules = rules
        self.related = related

    @property
    def agency(self) -> str:
        return self.case.agency or UNKNOWN_AGENCY

    @once
    def runs(self) -> tuple[Run, ...]:
        return indication_runs(self.case, self.rules)

    @property
    def current_run(self) -> Run | None:
        return self.runs[-1] if self.runs and self.runs[-1].end is None else None

    @once
    def grounds(self) -> Indication:
        return case_indication(self.rules, self.case)

    @once
    def first_transfer_at(self) -> datetime | None:
        return first_at(self.case.transfers)

    @once
    def first_approval_or_transfer_at(self) -> datetime | None:
        first = self.first_transfer_at
        for decision in self.case.transfer_decisions:
            if decision.approved and (first is None or decision.decided_at < first):
                first = decision.decided_at
        return first

    @once
    def police(self) -> str:
        """The police agency handling the case, best known: last to decide, accept, or receive it."""
        for records in (self.case.filing_decisions, self.case.acceptances):
            if records:
                return records[-1].agency
        if self.case.forwards:
            return self.case.forwards[-1].to_agency
        if self.case.transfers:
            return self.case.transfers[-1].to_agency
        return UNKNOWN_AGENCY

    def offence_titles(self) -> tuple[str, str]:
        if self.case.offence is None:
            return "", ""
        offence = self.rules.offences[self.case.offence]
        return offence.title_zh, offence.title_en

    def handoffs_to(self, agency: str) -> list[datetime]:
        """When the case reached `agency`: transfers and forwards addressed to it."""
        return [record.at for record in self.handoffs() if record.to_agency == agency]

    def handoffs(self) -> tuple[TransferRecord | ForwardRecord, ...]:
        """Every time the case was handed to an agency: transfers, then police forwardings."""
        return (*self.case.transfers, *self.case.forwards)


Policy = Callable[[CaseView, Rule], Iterator[Obligation]]


def with_deadline(
    rule: Rule,
    name: str,
    clock_start: datetime,
    *,
    trigger: str,
    responsible: str,
    satisfied_at: datetime | None = None,
    unconfirmed: bool = False,
    facts: Mapping[str, Any] | None = None,
    detail_zh: str = "",
    detail_en: str = "",
    explain: Callable[[], Explanation] | None = None,
    deadline: Deadline | None = None,
) -> Obligation:
    """An obligation due `rule.deadlines[name]` (or the given deadline) after `clock_start`.

    The obligation's fields named, not passed on as `**fields` (issue 14, session 8: a dict
    of keywords made and unpacked for each of the few obligations of every case)."""
    return Obligation(
        trigger, responsible, detail_zh, detail_en, deadline or rule.deadlines[name], name,
        clock_start, None, satisfied_at, unconfirmed, {} if facts is None else facts, explain)


def should_transfer(view: CaseView, rule: Rule) -> Iterator[Obligation]:
    """SC Arts 3, 5: from the moment the figures meet a threshold (or IP reasonable suspicion is
    recorded), an approved transfer is due within the deadline. One trigger per run of grounds:
    a run that ends because an assessment lowered the figures cures the breach (resolved)."""
    done_at = view.first_approval_or_transfer_at
    for run in view.runs:
        yield with_deadline(
            rule,
            "transfer",
            run.start,
            trigger=f"grounds:{run.start_event_id}",
            responsible=view.agency,
            satisfied_at=earliest(done_at, run.end),
            unconfirmed=run.grounds.unconfirmed,
            explain=partial(_should_transfer_explained, view, run, done_at),
        )


def _should_transfer_explained(view: CaseView, run: Run, done_at: datetime | None) -> Explanation:
    offence_zh, offence_en = view.offence_titles()
    why_zh, why_en = run.grounds.describe()
    return (
        {
            **run.facts(),
            "transfer_approved_or_done_at": iso(done_at) if done_at else None,
        },
        f"{offence_zh}案件达到刑事追诉标准（{why_zh}），未经批准移送公安机关",
        (
            f"{offence_en} case meets the criminal threshold ({why_en}) "
            "and no transfer to police was approved"
        ),
    )


def penalty_instead_of_transfer(view: CaseView, rule: Rule) -> Iterator[Obligation]:
    """SC Art 11: a penalty decision on a case with grounds to suspect a crime and no transfer at or
    before it. Grounds are the current figures (an assessment after the penalty still describes
    the conduct it punished) or, if the figures were later lowered, a run covering the decision.
    A later transfer, or the run ending, resolves it."""
    transferred_at = view.first_transfer_at
    for penalty in view.case.penalties:
        if transferred_at is not None and transferred_at <= penalty.decided_at:
            continue
        run = view.current_run or next((r for r in view.runs if r.covers(penalty.decided_at)), None)
        if run is None:
            continue
        why_zh, why_en = run.grounds.describe()
        yield Obligation(
            trigger=f"penalty:{penalty.event_id}",
            responsible=penalty.agency,
            raised_at=penalty.decided_at,
            satisfied_at=earliest(transferred_at, run.end),
            unconfirmed=run.grounds.unconfirmed,
            facts={
                **run.facts(),
                "decision_no": penalty.decision_no,
                "penalty_decided_at": iso(penalty.decided_at),
                "fine": format_money(penalty.fine),
                "confiscated": format_money(penalty.confiscated),
                "transferred_at": iso(transferred_at) if transferred_at else None,
            },
            detail_zh=(
                f"案件达到刑事追诉标准（{why_zh}），作出行政处罚决定"
                f"（{penalty.decision_no}）而未移送公安机关"
            ),
            detail_en=(
                f"the case meets the criminal threshold ({why_en}); penalty "
                f"{penalty.decision_no} was decided without a transfer to police"
            ),
        )


def transfer_decision_late(view: CaseView, rule: Rule) -> Iterator[Obligation]:
    """SC Art 5: the head decides within 3 days of the transfer report. The report is known only
    from the decision event, so lateness is seen when the decision arrives (status resolved)."""
    for decision in view.case.transfer_decisions:
        yield with_deadline(
            rule,
            "decision",
            decision.report_at,
            trigger=f"decision:{decision.event_id}",
            responsible=decision.agency,
            satisfied_at=decision.decided_at,
            explain=partial(_decision_late_explained, decision),
        )


def _decision_late_explained(decision: TransferDecisionRecord) -> Explanation:
    return (
        {
            "report_at": iso(decision.report_at),
            "decided_at": iso(decision.decided_at),
            "approved": decision.approved,
        },
        "移送涉嫌犯罪案件的书面报告未在期限内审批",
        "the transfer report was not decided within the deadline",
    )


def handover_late(view: CaseView, rule: Rule) -> Iterator[Obligation]:
    """SC Art 5: hand the case to police within 24 hours of the (first) approval."""
    approvals = [d for d in view.case.transfer_decisions if d.approved]
    if not approvals:
        return
    approval = approvals[0]
    transferred_at = view.first_transfer_at
    yield with_deadline(
        rule,
        "handover",
        approval.decided_at,
        trigger="first_approval",
        responsible=approval.agency,
        satisfied_at=transferred_at,
        explain=lambda: (
            {
                "approved_at": iso(approval.decided_at),
                "transferred_at": iso(transferred_at) if transferred_at else None,
            },
            "批准移送后未在 24 小时内移交公安机关",
            "the approved transfer was not handed to police within 24 hours",
        ),
    )


def documents_missing(view: CaseView, rule: Rule) -> Iterator[Obligation]:
    """SC Art 6: the transfer carries 移送书, 调查报告, 涉案物品清单, 检验报告/鉴定意见. Documents
    sent with a later transfer of the same case complete it (resolved at that transfer)."""
    transfers = view.case.transfers
    if not transfers or not rule.required_documents:
        return
    required = _required_documents(rule.required_documents)
    if required.issubset(transfers[0].document_kinds):
        return  # complete at the first transfer (the usual case; below it returns too)
    seen: set[str] = set()
    completed_at: datetime | None = None
    for transfer in transfers:
        seen |= set(transfer.document_kinds)
        if required <= seen:
            completed_at = transfer.transferred_at
            break
    first = transfers[0]
    if completed_at == first.transferred_at:
        return
    missing_first = sorted(required - set(first.document_kinds))
    still_missing = sorted(required - seen)
    yield Obligation(
        trigger="first_transfer",
        responsible=first.agency,
        raised_at=first.transferred_at,
        satisfied_at=completed_at,
        facts={
            "transferred_at": iso(first.transferred_at),
            "to_agency": first.to_agency,
            "required_documents": sorted(required),
            "missing_at_transfer": missing_first,
            "still_missing": still_missing,
        },
        detail_zh="移送时未附法定材料：" + "、".join(missing_first),
        detail_en="the transfer lacked required documents: " + ", ".join(missing_first),
    )


@lru_cache(maxsize=64)
def _required_documents(kinds: tuple[str, ...]) -> frozenset[str]:
    """The set of a rule's required documents (the rule file's tuple, few)."""
    return frozenset(kinds)


def not_accepted(view: CaseView, rule: Rule) -> Iterator[Obligation]:
    """SC Art 7: police accept (sign the receipt for) a case handed to it — by an agency's transfer
    or another police's forwarding. One trigger per receiving agency, clock from the first handoff
    to it; met by that agency's first acceptance."""
    first_handoff: dict[str, datetime] = {}
    for record in view.handoffs():
        current = first_handoff.get(record.to_agency)
        first_handoff[record.to_agency] = record.at if current is None else min(current, record.at)
    for to_agency, handed_at in sorted(first_handoff.items()):
        accepted_at = first_at(a for a in view.case.acceptances if a.agency == to_agency)
        yield with_deadline(
            rule,
            "acceptance",
            handed_at,
            trigger=f"to:{to_agency}",
            responsible=to_agency,
            satisfied_at=accepted_at,
            explain=partial(_not_accepted_explained, to_agency, handed_at, accepted_at),
        )


def _not_accepted_explained(to_agency: str, handed_at: datetime,
                            accepted_at: datetime | None) -> Explanation:
    return (
        {
            "handed_over_at": iso(handed_at),
            "to_agency": to_agency,
            "accepted_at": iso(accepted_at) if accepted_at else None,
        },
        f"案件移交 {to_agency} 后未在期限内受理",
        f"{to_agency} did not accept the case within the deadline",
    )


def forward_late(view: CaseView, rule: Rule) -> Iterator[Obligation]:
    """SC Art 7: police forward a case outside its jurisdiction within 24 hours of receiving it
    (its acceptance; failing that, the handoff to it). Seen when the forwarding arrives."""
    for forward in view.case.forwards:
        received_at = first_at(a for a in view.case.acceptances if a.agency == forward.agency)
        if received_at is None:
            received_at = min(view.handoffs_to(forward.agency), default=None)
        if received_at is None:
            continue
        yield with_deadline(
            rule,
            "forward",
            received_at,
            trigger=f"forward:{forward.event_id}",
            responsible=forward.agency,
            satisfied_at=forward.forwarded_at,
            facts={
                "received_at": iso(received_at),
                "forwarded_at": iso(forward.forwarded_at),
                "to_agency": forward.to_agency,
            },
            detail_zh=f"不属管辖的案件未在 24 小时内转送 {forward.to_agency}",
            detail_en=f"the case was not forwarded to {forward.to_agency} within 24 hours",
        )


def filing_overdue(view: CaseView, rule: Rule) -> Iterator[Obligation]:
    """SC Art 8 / PROC Art 177: decide on filing within 3 days of acceptance; economic offences
    (offences.<offence>.economic) 10 days, complex ones 30 days (ECON Art 16). Complexity is known
    from the decision (complex = true). While the offence is unknown the economic period is used,
    so no alert is raised early. Met by the accepting police's filing decision or its forwarding
    of the case (it is then the receiving police's to decide)."""
    economic = True
    if view.case.offence is not None:
        economic = view.rules.offences[view.case.offence].economic
    police_agencies = sorted({a.agency for a in view.case.acceptances})
    for police in police_agencies:
        accepted_at = first_at(a for a in view.case.acceptances if a.agency == police)
        assert accepted_at is not None
        decisions = [d for d in view.case.filing_decisions if d.agency == police]
        forwarded_at = first_at(f for f in view.case.forwards if f.agency == police)
        decided_at = decisions[0].decided_at if decisions else None
        complex_case = bool(decisions) and decisions[0].complex
        name = ("economic_complex" if complex_case else "economic") if economic else "general"
        yield with_deadline(
            rule,
            name,
            accepted_at,
            trigger=f"police:{police}",
            responsible=police,
            satisfied_at=earliest(decided_at, forwarded_at),
            explain=partial(_filing_overdue_explained, accepted_at, economic, complex_case,
                            decided_at, forwarded_at),
        )


def _filing_overdue_explained(accepted_at: datetime, economic: bool, complex_case: bool,
                              decided_at: datetime | None,
                              forwarded_at: datetime | None) -> Explanation:
    return (
        {
            "accepted_at": iso(accepted_at),
            "economic": economic,
            "complex": complex_case,
            "filing_decided_at": iso(decided_at) if decided_at else None,
            "forwarded_at": iso(forwarded_at) if forwarded_at else None,
        },
        "受理移送案件后未在期限内作出是否立案的决定",
        "no filing decision within the deadline after accepting the transfer",
    )


def non_filing_not_reconsidered(view: CaseView, rule: Rule) -> Iterator[Obligation]:
    """SC Art 9: after a non-filing notice, the agency may ask police to reconsider or the
    procuratorate to supervise within 3 days. Alerted only where the figures meet a threshold
    (a contest is then expected), for each police's first non-filing decision made before any
    supervision; met by either request, or by the police filing after all."""
    if not view.grounds:
        return
    supervised_from = earliest(
        first_at(view.case.supervision_requests), first_at(view.case.supervisions)
    )
    seen_police: set[str] = set()
    for decision in view.case.filing_decisions:
        if decision.filed or decision.agency in seen_police:
            continue
        seen_police.add(decision.agency)
        if supervised_from is not None and supervised_from <= decision.decided_at:
            continue
        after = decision.decided_at
        contested_at = earliest(
            first_at(r for r in view.case.reconsideration_requests if r.requested_at >= after),
            first_at(r for r in view.case.supervision_requests if r.requested_at >= after),
        )
        filed_at = first_at(
            d
            for d in view.case.filing_decisions
            if d.filed and d.agency == decision.agency and d.decided_at >= after
        )
        yield with_deadline(
            rule,
            "contest",
            decision.decided_at,
            trigger=f"non_filing:{decision.agency}",
            responsible=view.agency,
            satisfied_at=earliest(contested_at, filed_at),
            unconfirmed=view.grounds.unconfirmed,
            facts={
                **view.grounds.facts(),
                "non_filing_at": iso(decision.decided_at),
                "police": decision.agency,
                "reasons": decision.reasons,
                "contested_at": iso(contested_at) if contested_at else None,
            },
            detail_zh="公安机关不予立案，案件达到追诉标准，行政执法机关未提请复议或建议立案监督",
            detail_en=(
                "police declined to file a case that meets the threshold, and the agency "
                "asked neither for reconsideration nor for supervision"
            ),
        )


def reconsideration_overdue(view: CaseView, rule: Rule) -> Iterator[Obligation]:
    """SC Art 9: police decide a reconsideration request within 3 days."""
    for request in view.case.reconsideration_requests:
        decided_at = first_at(
            d for d in view.case.reconsideration_decisions if d.decided_at >= request.requested_at
        )
        refusing = [
            d.agency
            for d in view.case.filing_decisions
            if not d.filed and d.decided_at <= request.requested_at
        ]
        yield with_deadline(
            rule,
            "decision",
            request.requested_at,
            trigger=f"request:{request.event_id}",
            responsible=refusing[-1] if refusing else view.police,
            satisfied_at=decided_at,
            facts={
                "requested_at": iso(request.requested_at),
                "decided_at": iso(decided_at) if decided_at else None,
            },
            detail_zh="提请复议后公安机关未在期限内作出复议决定",
            detail_en="police did not decide the reconsideration request within the deadline",
        )


def supervision_not_requested(view: CaseView, rule: Rule) -> Iterator[Obligation]:
    """SC Art 9: where police uphold the non-filing, the agency may ask the procuratorate to
    supervise within 3 days. Alerted only where the figures meet a threshold; met by the request,
    by the procuratorate acting, or by the police filing."""
    if not view.grounds:
        return
    for decision in view.case.reconsideration_decisions:
        if not decision.upheld:
            continue
        after = decision.decided_at
        met_at = earliest(
            first_at(r for r in view.case.supervision_requests if r.requested_at >= after),
            first_at(s for s in view.case.supervisions if s.issued_at >= after),
            first_at(d for d in view.case.filing_decisions if d.filed and d.decided_at >= after),
        )
        yield with_deadline(
            rule,
            "request",
            after,
            trigger=f"upheld:{decision.event_id}",
            responsible=view.agency,
            satisfied_at=met_at,
            unconfirmed=view.grounds.unconfirmed,
            facts={
                **view.grounds.facts(),
                "reconsideration_decided_at": iso(after),
                "supervision_requested_at": iso(met_at) if met_at else None,
            },
            detail_zh="复议维持不予立案决定后，行政执法机关未建议人民检察院立案监督",
            detail_en="after police upheld the non-filing, the agency did not ask for supervision",
        )


def non_filing_not_explained(view: CaseView, rule: Rule) -> Iterator[Obligation]:
    """SPP01 Art 10: police explain a non-filing within 7 days of the procuratorate's request.
    The contract has no explanation event: a filing decision by the police named in the request,
    dated after it, is read as the explanation (a non-filing decision carries its reasons)."""
    for supervision in view.case.supervisions:
        if supervision.kind != "explain_non_filing":
            continue
        answered_at = first_at(
            d
            for d in view.case.filing_decisions
            if d.agency == supervision.to_agency and d.decided_at >= supervision.issued_at
        )
        yield with_deadline(
            rule,
            "explanation",
            supervision.issued_at,
            trigger=f"supervision:{supervision.event_id}",
            responsible=supervision.to_agency,
            satisfied_at=answered_at,
            facts={
                "supervision_issued_at": iso(supervision.issued_at),
                "explained_at": iso(answered_at) if answered_at else None,
            },
            detail_zh="人民检察院要求说明不立案理由后，公安机关未在期限内说明",
            detail_en="police did not explain the non-filing to the procuratorate in time",
        )


def ordered_filing_overdue(view: CaseView, rule: Rule) -> Iterator[Obligation]:
    """SPP01 Art 10 / PROC: police file within 15 days of the procuratorate's order to file."""
    for supervision in view.case.supervisions:
        if supervision.kind != "order_filing":
            continue
        filed_at = first_at(
            d for d in view.case.filing_decisions if d.filed and d.agency == supervision.to_agency
        )
        yield with_deadline(
            rule,
            "filing",
            supervision.issued_at,
            trigger=f"supervision:{supervision.event_id}",
            responsible=supervision.to_agency,
            satisfied_at=filed_at,
            facts={
                "supervision_issued_at": iso(supervision.issued_at),
                "filed_at": iso(filed_at) if filed_at else None,
            },
            detail_zh="人民检察院通知立案后，公安机关未在期限内立案",
            detail_en="police did not file within the deadline after being ordered to",
        )


def seized_goods_not_handed_over(view: CaseView, rule: Rule) -> Iterator[Obligation]:
    """SC Art 12: after police file, the agency hands over seized items within 3 days of the filing
    notice. Applies when a transfer carried a seized-items list; any evidence handover by the
    opening agency up to the deadline meets it."""
    filed_at = first_at(d for d in view.case.filing_decisions if d.filed)
    has_items = any("seized_items_list" in t.document_kinds for t in view.case.transfers)
    if filed_at is None or not has_items:
        return
    handed_at = first_at(h for h in view.case.handovers if h.agency == view.agency)
    yield with_deadline(
        rule,
        "handover",
        filed_at,
        trigger="filing_notice",
        responsible=view.agency,
        satisfied_at=handed_at,
        facts={
            "filed_at": iso(filed_at),
            "handed_over_at": iso(handed_at) if handed_at else None,
        },
        detail_zh="公安机关立案后，行政执法机关未在期限内移交涉案物品",
        detail_en="seized items were not handed over to police within the deadline after filing",
    )
