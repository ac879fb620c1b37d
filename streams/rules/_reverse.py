"""Policies of the reverse path (行刑反向衔接) and of public reports and complaints (举报投诉).

Readings (docs/rules.md, "Readings of the law", items 13-17):

* A 检察意见's two months run from its issue: receipt is not an event, and an opinion is
  served when issued on the platform.
* A reply of `no_penalty` must state why (2023 意见: a refusal without reasons is what
  follow-up supervision looks for); a later reasoned reply, or a penalty, cures it.
* SC Art 10: after police decline to file, the agency still owes the penalty due; the clock
  runs from the last refusal (a non-filing decision, or a reconsideration upholding one), the
  period is the operator's (the law fixes none). Any penalty decision of the case meets it;
  police filing after the refusal ends the duty, and a contest of the refusal (reconsideration
  or supervision requested or issued after it) suspends it until the next refusal.
* A report is decided when a case is opened from it (`case.opened` with its `clue_id`, same
  case id) or when the reporter is answered (the answer tells the decision, so it was made);
  15 working days plus the 15 the law allows by extension (extensions are approved inside the
  agency, so no event shows them: the rule waits for the longest lawful period).
* A named reporter (`reporter_named: true`) is told within 5 working days of the decision to
  open a case; a decision not to open is seen only in the answer itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from streams.rules._policies import CaseView, Obligation, earliest, first_at, iso, with_deadline
from streams.rules.case_state import ClueRecord, OpinionReplyRecord
from streams.rules.rules_config import Rule


def opinion_not_answered(view: CaseView, rule: Rule) -> Iterator[Obligation]:
    """CPL Art 177 ¶3; 2021 规定: the agency reports in writing how it handled a 检察意见 within
    2 months. One obligation per opinion id; met by the first reply to it."""
    for opinion in view.case.opinions:
        replied_at = first_at(
            r for r in view.case.opinion_replies if r.opinion_id == opinion.opinion_id
        )
        yield with_deadline(
            rule,
            "reply",
            opinion.issued_at,
            trigger=f"opinion:{opinion.opinion_id}",
            responsible=opinion.to_agency,
            satisfied_at=replied_at,
            facts={
                "opinion_id": opinion.opinion_id,
                "proposal": opinion.proposal,
                "issued_at": iso(opinion.issued_at),
                "procuratorate": opinion.agency,
                "replied_at": iso(replied_at) if replied_at else None,
            },
            detail_zh=f"检察意见（{opinion.opinion_id}）送达后，行政机关未在期限内书面回复处理情况",
            detail_en=(
                f"the agency did not report within the deadline how it handled "
                f"procuratorate opinion {opinion.opinion_id}"
            ),
        )


def _unreasoned_refusal(reply: OpinionReplyRecord) -> bool:
    return reply.outcome == "no_penalty" and not (reply.reasons or "").strip()


def opinion_no_penalty_unreasoned(view: CaseView, rule: Rule) -> Iterator[Obligation]:
    """2023 意见: a reply that imposes no penalty must give its reasons. Raised at the first such
    reply to an opinion; cured by a later reply to it that is not one, or by a penalty decision
    after it."""
    seen: set[str] = set()
    for reply in view.case.opinion_replies:
        if reply.opinion_id in seen or not _unreasoned_refusal(reply):
            continue
        seen.add(reply.opinion_id)
        cured_at = earliest(
            first_at(
                r
                for r in view.case.opinion_replies
                if r.opinion_id == reply.opinion_id
                and r.replied_at >= reply.replied_at
                and not _unreasoned_refusal(r)
            ),
            first_at(p for p in view.case.penalties if p.decided_at >= reply.replied_at),
        )
        yield Obligation(
            trigger=f"opinion:{reply.opinion_id}",
            responsible=reply.agency,
            raised_at=reply.replied_at,
            satisfied_at=cured_at,
            facts={
                "opinion_id": reply.opinion_id,
                "replied_at": iso(reply.replied_at),
                "outcome": reply.outcome,
            },
            detail_zh=f"对检察意见（{reply.opinion_id}）回复不予处罚，但未说明理由，应跟进监督",
            detail_en=(
                f"the reply to procuratorate opinion {reply.opinion_id} imposes no penalty and "
                "gives no reasons: follow-up supervision is due"
            ),
        )


def penalty_after_non_filing(view: CaseView, rule: Rule) -> Iterator[Obligation]:
    """SC Art 10: police declined to file; the agency imposes the administrative penalty still due
    within the operator's period from the last refusal. Ended by police filing after it."""
    case = view.case
    if not case.filing_decisions:
        return
    refusals = [
        *(d.decided_at for d in case.filing_decisions if not d.filed),
        *(d.decided_at for d in case.reconsideration_decisions if d.upheld),
    ]
    if not any(not d.filed for d in case.filing_decisions):
        return
    last_refusal = max(refusals)
    if any(d.filed and d.decided_at >= last_refusal for d in case.filing_decisions):
        return
    contested = (*case.reconsideration_requests, *case.supervision_requests, *case.supervisions)
    if any(record.at >= last_refusal for record in contested):
        return  # the refusal is being contested (SC Art 9): the duty waits for its outcome
    penalised_at = first_at(case.penalties)
    yield with_deadline(
        rule,
        "penalty",
        last_refusal,
        trigger="police_declined",
        responsible=view.agency,
        satisfied_at=penalised_at,
        facts={
            "non_filing_at": iso(last_refusal),
            "police": view.police,
            "penalty_decided_at": iso(penalised_at) if penalised_at else None,
        },
        detail_zh="公安机关不予立案后，行政执法机关未在期限内依法作出行政处罚",
        detail_en="after police declined to file, the agency did not decide the penalty due in time",
    )


def _clue_decided_at(view: CaseView, clue: ClueRecord) -> datetime | None:
    """When the agency decided on the clue: a case opened from it, or its answer."""
    return earliest(
        first_at(o for o in view.case.openings if o.clue_id == clue.clue_id),
        first_at(a for a in view.case.clue_answers if a.clue_id == clue.clue_id),
    )


def _first_clues(view: CaseView, rule: Rule) -> Iterator[ClueRecord]:
    """Each clue id once (its first receipt), received by an agency the rule covers."""
    if not view.case.clues:
        return
    agencies = rule.agencies_param("agencies")
    seen: set[str] = set()
    for clue in view.case.clues:
        if clue.clue_id in seen or clue.agency not in agencies:
            continue
        seen.add(clue.clue_id)
        yield clue


def complaint_not_decided(view: CaseView, rule: Rule) -> Iterator[Obligation]:
    """SAMR Order 20 Art 31; 市场监督管理行政处罚程序规定 Art 18: decide within 15 working days of
    receiving a report whether to open a case, extendable by 15 working days."""
    if not view.case.clues:
        return
    base = rule.deadline("decision")
    extension = rule.int_param("extension_working_days")
    deadline = base.model_copy(update={"amount": base.amount + extension})
    for clue in _first_clues(view, rule):
        decided_at = _clue_decided_at(view, clue)
        yield with_deadline(
            rule,
            "decision",
            clue.received_at,
            deadline=deadline,
            trigger=f"clue:{clue.clue_id}",
            responsible=clue.agency,
            satisfied_at=decided_at,
            unconfirmed=rule.param_unconfirmed("extension_working_days"),
            facts={
                "clue_id": clue.clue_id,
                "channel": clue.channel,
                "platform": clue.platform,
                "received_at": iso(clue.received_at),
                "working_days": base.amount,
                "extension_working_days": extension,
                "decided_at": iso(decided_at) if decided_at else None,
            },
            detail_zh=(
                f"举报（{clue.clue_id}）受理后 {base.amount} 个工作日（含可延长的 {extension} 个"
                "工作日）内未决定是否立案"
            ),
            detail_en=(
                f"no decision whether to open a case on report {clue.clue_id} within "
                f"{base.amount} working days plus the {extension}-day extension"
            ),
        )


def reporter_not_told(view: CaseView, rule: Rule) -> Iterator[Obligation]:
    """SAMR Order 20 Art 31: a named reporter is told within 5 working days of the decision to open
    a case; met by the answer to the clue."""
    for clue in _first_clues(view, rule):
        if not clue.reporter_named:
            continue
        opened_at = first_at(o for o in view.case.openings if o.clue_id == clue.clue_id)
        if opened_at is None:
            continue
        told_at = first_at(a for a in view.case.clue_answers if a.clue_id == clue.clue_id)
        yield with_deadline(
            rule,
            "notice",
            opened_at,
            trigger=f"clue:{clue.clue_id}",
            responsible=clue.agency,
            satisfied_at=told_at,
            facts={
                "clue_id": clue.clue_id,
                "case_opened_at": iso(opened_at),
                "answered_at": iso(told_at) if told_at else None,
            },
            detail_zh=f"实名举报（{clue.clue_id}）立案后，未在期限内告知举报人",
            detail_en=(
                f"the named reporter of {clue.clue_id} was not told in time that a case was opened"
            ),
        )
