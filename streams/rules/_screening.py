"""Policies over a party's history across cases: split cases (law) and the screening signals of
practice (降格处理, repeat party, 多头受罚). `view.related` holds the other cases sharing a party.

Readings (docs/rules.md, "Readings of the law", items 9 and 18-21):

* SPLIT_CASES, as a prosecutor reads I-2004 Art 12: parts of one course of conduct add up
  whether or not an agency fined them. A fine on a part under the threshold does not "handle"
  the whole it belongs to: it is the 以罚代刑 SC Art 11 forbids, and 行政处罚法 Art 35 offsets a
  fine against the criminal penalty, so a fine is no bar to prosecution. What separates two
  violations is the party's history: a part fined *before the other part's act was committed*
  (known from `committed_at`) was handled, and the later act is a new violation (a repeat
  party, not a split). Parts police filed (criminal handling) and parts over the threshold on
  their own (SHOULD_TRANSFER's) do not add up; parts whose acts lie further apart than the
  window do not either. The law in force at the last act applies (最高检 1998 批复 on
  continuing and repeated offences), with the lenient rule of 刑法 Art 12.
* Screening signals are practice, named as such in every alert; each is its own rule id,
  configurable and switchable. Matches use validated identities only (统一社会信用代码 per
  GB 32100, 居民身份证号码 per GB 11643): an unchecked number links nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from schemas.money import format_money
from streams.rules._policies import CaseView, Obligation, first_at, iso
from streams.rules._thresholds import (
    Indication,
    aggregate,
    case_indication,
    format_figure,
    indication,
    shanghai_day,
)
from streams.rules.case_state import CaseState, PenaltyRecord
from streams.rules.rules_config import Rule

PRACTICE_ZH = "（筛查信号，属实践做法而非法定义务）"
PRACTICE_EN = " (a screening signal of practice, not a statutory duty)"


def _filed(case: CaseState) -> bool:
    return any(d.filed for d in case.filing_decisions)


def _handled_before_act(earlier: CaseState, later: CaseState) -> bool:
    """`earlier` was fined before `later`'s act, as far as the act's date is known."""
    act = later.openings[-1].committed_at if later.openings else None
    fined = first_at(earlier.penalties)
    return act is not None and fined is not None and fined < act


def _within(a: datetime | None, b: datetime | None, window: timedelta) -> bool:
    return a is not None and b is not None and abs(a - b) <= window


def split_cases(view: CaseView, rule: Rule) -> Iterator[Obligation]:
    """I-2004 Art 12 as a prosecutor reads it (module docstring): same offence, a shared party,
    each part under every threshold, none filed by police, acts within the window and neither
    fined before the other's act; together they meet a threshold. Raised when the last figure
    used was assessed; resolved by this case's transfer."""
    case = view.case
    if not view.related or case.offence is None or not case.figures.as_of:
        return
    if view.grounds or _filed(case):
        return
    window = timedelta(days=rule.int_param("window_days"))
    keys = case.party_keys
    group: dict[str, CaseState] = {}
    for other in view.related:
        if (
            other.case_id == case.case_id
            or other.offence != case.offence
            or not (other.party_keys & keys)
            or not other.figures.as_of
            or _filed(other)
            or not _within(other.committed_at, case.committed_at, window)
            or _handled_before_act(other, case)
            or _handled_before_act(case, other)
            or case_indication(view.rules, other)
        ):
            continue
        group.setdefault(other.case_id, other)
    if not group:
        return
    members = [case, *(group[case_id] for case_id in sorted(group))]
    total = aggregate(members)
    last_act = max(m.committed_at for m in members if m.committed_at is not None)
    grounds = indication(
        view.rules,
        case.offence,
        total,
        shanghai_day(last_act),
        shanghai_day(max(total.as_of.values())),
    )
    if not grounds.met:
        return
    raised_at = max(max(member.figures.as_of.values()) for member in members)
    if _transferred_by(view, raised_at):
        return
    transferred_at = view.first_transfer_at
    why_zh, why_en = grounds.describe()
    shared = sorted(
        {f"{kind}:{number}" for other in group.values() for kind, number in other.party_keys & keys}
    )
    penalised = sorted(m.case_id for m in members if m.penalties)
    act_dates_known = all(m.openings and m.openings[-1].committed_at for m in members)
    fined_zh = "，其中已处罚 " + "、".join(penalised) if penalised else ""
    fined_en = f"; {', '.join(penalised)} already fined" if penalised else ""
    yield Obligation(
        trigger="split",
        responsible=view.agency,
        raised_at=raised_at,
        satisfied_at=transferred_at,
        unconfirmed=grounds.unconfirmed,
        facts={
            **grounds.facts(),
            "related_cases": [
                {"case_id": other.case_id, "agency": other.agency} for other in members[1:]
            ],
            "shared_parties": shared,
            "penalised_cases": penalised,
            "act_dates_known": act_dates_known,
            "window_days": rule.int_param("window_days"),
            "aggregate": {
                name: format_figure(name, value)
                for name in sorted((*total.amounts, *total.counts))
                if (value := total.value(name)) is not None
            },
        },
        detail_zh=(
            f"同一当事人的 {len(members)} 起案件均未达追诉标准，合计达到（{why_zh}）"
            f"{fined_zh}，应累计计算并移送"
        ),
        detail_en=(
            f"{len(members)} cases against the same party are each under the threshold and "
            f"together meet it ({why_en}){fined_en}; they add up and call for a transfer"
        ),
    )


def near_threshold_penalty(view: CaseView, rule: Rule) -> Iterator[Obligation]:
    """Practice (降格处理 screening): a penalty on a case whose figures reach `ratio` of a criminal
    threshold without meeting one. Resolved by a later transfer."""
    if not view.case.penalties or view.grounds:
        return
    ratio = rule.ratio_param("ratio")
    near = case_indication(view.rules, view.case, scale=ratio)
    if not near.met:
        return
    transferred_at = view.first_transfer_at
    why_zh, why_en = near.describe()
    percent = f"{(ratio * 100).normalize():f}%"
    for penalty in view.case.penalties:
        if transferred_at is not None and transferred_at <= penalty.decided_at:
            continue
        yield Obligation(
            trigger=f"penalty:{penalty.event_id}",
            responsible=penalty.agency,
            raised_at=penalty.decided_at,
            satisfied_at=transferred_at,
            unconfirmed=near.unconfirmed or rule.param_unconfirmed("ratio"),
            facts={
                **near.facts(),
                "screening": "practice",
                "ratio": str(ratio),
                "decision_no": penalty.decision_no,
                "penalty_decided_at": iso(penalty.decided_at),
                "fine": format_money(penalty.fine),
            },
            detail_zh=(
                f"涉案数额达到追诉标准的 {percent}（{why_zh}，按比例折算），"
                f"以罚款结案（{penalty.decision_no}），需审查是否降格处理{PRACTICE_ZH}"
            ),
            detail_en=(
                f"the figures reach {percent} of a criminal threshold ({why_en}, scaled) and "
                f"the case ended with penalty {penalty.decision_no}: check for a downgraded "
                f"case{PRACTICE_EN}"
            ),
        )


def _transferred_by(view: CaseView, moment: datetime) -> bool:
    transferred_at = view.first_transfer_at
    return transferred_at is not None and transferred_at <= moment


def _penalised_history(
    view: CaseView, window: timedelta, around: datetime
) -> list[tuple[CaseState, PenaltyRecord]]:
    """Penalties of other cases of the same offence against a validated identity of this case,
    dated within `window` of `around`, in time order."""
    case = view.case
    identities = case.identities
    found: list[tuple[CaseState, PenaltyRecord]] = []
    for other in view.related:
        if (
            other.case_id == case.case_id
            or other.offence != case.offence
            or not (other.identities & identities)
        ):
            continue
        found += [(other, p) for p in other.penalties if abs(p.decided_at - around) <= window]
    found.sort(key=lambda item: (item[1].decided_at, item[0].case_id, item[1].event_id))
    return found


def _history_facts(history: list[tuple[CaseState, PenaltyRecord]]) -> list[dict[str, Any]]:
    return [
        {
            "case_id": other.case_id,
            "agency": penalty.agency,
            "decision_no": penalty.decision_no,
            "decided_at": iso(penalty.decided_at),
            "fine": format_money(penalty.fine),
        }
        for other, penalty in history
    ]


def repeat_party(view: CaseView, rule: Rule) -> Iterator[Obligation]:
    """Practice (历史案件): the party of this case was penalised by any agency for the same offence
    within `window_days` before this case's act. Reports whether the figures reach the lowered
    threshold for repeat offenders (`repeat_ratio`; 2025 interpretation, UNCONFIRMED)."""
    case = view.case
    act = case.committed_at
    if not view.related or case.offence is None or act is None or not case.identities:
        return
    if view.grounds:
        return
    window = timedelta(days=rule.int_param("window_days"))
    history = [
        (other, p) for other, p in _penalised_history(view, window, act) if p.decided_at < act
    ]
    if not history:
        return
    ratio = rule.ratio_param("repeat_ratio")
    lowered: Indication = case_indication(view.rules, case, scale=ratio)
    opened_at = case.opened_at or act
    raised_at = max(opened_at, history[-1][1].decided_at)
    if _transferred_by(view, raised_at):
        return
    agencies = sorted({p.agency for _, p in history})
    zh = (
        f"当事人在本案行为前 {window.days} 天内已因同类违法行为受过 {len(history)} 次行政处罚"
        f"（{'、'.join(agencies)}）"
    )
    en = (
        f"the party was penalised {len(history)} time(s) for the same offence within "
        f"{window.days} days before this act ({', '.join(agencies)})"
    )
    if lowered.met:
        why_zh, why_en = lowered.describe()
        zh += f"，涉案数额达到对再犯降低后的追诉标准（{why_zh}，按 {ratio} 折算）"
        en += f"; the figures reach the threshold lowered for repeat offenders ({why_en}, × {ratio})"
    yield Obligation(
        trigger="repeat_party",
        responsible=view.agency,
        raised_at=raised_at,
        satisfied_at=view.first_transfer_at,
        unconfirmed=bool(lowered.met) and rule.param_unconfirmed("repeat_ratio"),
        facts={
            "screening": "practice",
            "identities": sorted(f"{kind}:{number}" for kind, number in case.identities),
            "earlier_penalties": _history_facts(history),
            "window_days": window.days,
            "lowered_threshold_met": bool(lowered.met),
            "repeat_ratio": str(ratio),
            **({"lowered": lowered.facts()} if lowered.met else {}),
        },
        detail_zh=zh + PRACTICE_ZH,
        detail_en=en + PRACTICE_EN,
    )


def multi_agency_penalties(view: CaseView, rule: Rule) -> Iterator[Obligation]:
    """Practice (多头受罚): at least `min_agencies` agencies penalised the party of this case for the
    same offence within `window_days` of this case's penalty (行政处罚法 Art 29 forbids fining one
    act twice; several agencies fining pieces is also how a split hides). Raised when the last
    agency needed had decided; resolved by this case's transfer."""
    case = view.case
    mine = case.penalties[0] if case.penalties else None
    if not view.related or case.offence is None or mine is None or not case.identities:
        return
    window = timedelta(days=rule.int_param("window_days"))
    needed = rule.int_param("min_agencies")
    history = _penalised_history(view, window, mine.decided_at)
    first_by_agency: dict[str, datetime] = {}
    for _, penalty in history:
        if penalty.agency != mine.agency:
            first_by_agency.setdefault(penalty.agency, penalty.decided_at)
    if 1 + len(first_by_agency) < needed:
        return
    others = sorted(first_by_agency.values())
    raised_at = max(mine.decided_at, others[needed - 2]) if needed > 1 else mine.decided_at
    if _transferred_by(view, raised_at):
        return
    agencies = sorted({mine.agency, *first_by_agency})
    yield Obligation(
        trigger="multi_agency",
        responsible=view.agency,
        raised_at=raised_at,
        satisfied_at=view.first_transfer_at,
        facts={
            "screening": "practice",
            "identities": sorted(f"{kind}:{number}" for kind, number in case.identities),
            "agencies": agencies,
            "penalties": _history_facts(history),
            "window_days": window.days,
            "fines_total": format_money(
                sum((p.fine for _, p in history), Decimal(0)) + mine.fine
            ),
        },
        detail_zh=(
            f"{len(agencies)} 个机关（{'、'.join(agencies)}）在 {window.days} 天内因同类违法行为"
            f"处罚同一当事人{PRACTICE_ZH}"
        ),
        detail_en=(
            f"{len(agencies)} agencies ({', '.join(agencies)}) penalised the same party for the "
            f"same offence within {window.days} days{PRACTICE_EN}"
        ),
    )
