"""The pure rules engine: a case state, a rule set and a time in; alert decisions out.

`evaluate(case, rules, now, related)` runs the policy of every enabled rule (streams.rules._policy_table)
and judges each obligation it returns against `now`:

* an act due by a deadline, not done, deadline passed (`now` > due_at)  -> "open"
* an act done after its deadline, or a breach later cured               -> "resolved"
* an act done on time, or not yet due                                    -> no decision
* a breach with no deadline (penalty in place of a transfer, missing
  documents, split cases), not cured                                     -> "open"

Nothing in a decision depends on `now` except whether it is open yet: `raised_at` is the
deadline (or the time of the breach), and `alert_id` is uuid5 over "rule|case|trigger", so
re-running the engine raises nothing new, and a late act that cures a breach yields the same
`alert_id` with status "resolved". A resolved decision may come without an open one ever
having been due to the caller (a late act seen only when it arrives, e.g. a late transfer
decision): it records that the step was late.

A decision the engine returned as open and no longer returns for the same case is no longer
supported by the facts (e.g. figures revised below every threshold before a deadline, or a
related case handled); the caller may publish it as resolved.

`next_due(case, rules, now)` is the earliest instant after `now` at which `evaluate` would
return something different without a new event (the first instant past the nearest pending
deadline), or None.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeAlias

from schemas.alert import Alert
from streams.rules._errors import ConfigError, Problem
from streams.rules._policies import CaseView, Obligation, Policy, iso
from streams.rules._policy_table import INPUTS, POLICIES, has_inputs, present_facts
from streams.rules._quick import quick_init
from streams.rules.calendar import (
    _STANDARD_YEAR,
    SHANGHAI,
    DueTime,
    _standard_wall,
    due_after,
    shanghai_minute,
    to_shanghai,
)
from streams.rules.case_state import CaseState, built
from streams.rules.rules_config import Deadline, Rule, RuleSet

AlertDecision: TypeAlias = Alert
ALERT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:linkage:alert")

_UNCONFIRMED_ZH = "（所依据的数值尚未确认）"
_UNCONFIRMED_EN = " (rests on a figure not yet confirmed)"


_NAMESPACE_SHA1 = hashlib.sha1(ALERT_NAMESPACE.bytes, usedforsecurity=False)
"""SHA-1 with the namespace fed in: `alert_id` continues a copy of it (issue 14, session 8:
a copy and an update cost ~a quarter less than a new hash over namespace and name, whose
keyword argument is parsed on every call)."""


def alert_id(rule_id: str, case_id: str, trigger: str) -> str:
    """The deterministic alert id of (rule, case, trigger): `str(uuid.uuid5(ALERT_NAMESPACE,
    "rule|case|trigger"))`, spelled out (RFC 4122 §4.3: SHA-1 of namespace and name, version
    5, variant 10) without the two UUID objects, a twelfth of an evaluation's time. The
    version and variant are set in the digest's hex text (the version nibble is the 13th
    digit, the variant's two bits the top of the 17th: `_VARIANT` maps it), without a
    bytearray (issue 14, session 7: ~1 µs of ~2.2 an alert)."""
    sha1 = _NAMESPACE_SHA1.copy()
    sha1.update(f"{rule_id}|{case_id}|{trigger}".encode())
    x = sha1.hexdigest()
    return f"{x[:8]}-{x[8:12]}-5{x[13:16]}-{_VARIANT[x[16]]}{x[17:20]}-{x[20:32]}"


_VARIANT = {f"{n:x}": f"{(n & 0x3) | 0x8:x}" for n in range(16)}
"""A hex digit with its top two bits set to the RFC 4122 variant (10)."""


_local = shanghai_minute
"""A time in alert messages: "YYYY-MM-DD HH:MM" in Shanghai (the function itself, as `iso`)."""


def _enabled_rules(rules: RuleSet) -> list[Rule]:
    enabled = rules.enabled_rules()
    if not enabled:
        raise ConfigError([Problem("rules", "没有启用的规则", "the rule set has no enabled rule")])
    return enabled


_Chosen = list[tuple[Rule, Policy]]
_CHOSEN: dict[tuple[int, frozenset[str]], tuple[RuleSet, dict[str, Rule], _Chosen]] = {}
"""The enabled rules whose inputs a set of present facts holds, each with its policy, per rule
set (by identity, checked: a rule set and its `rules` dict are never changed in place) and
set of facts (issue 14, session 11: the policy looked up by `rule.id`, a pydantic attribute,
for each of the ~6 rules of every case)."""


def _with_inputs(rules: RuleSet, present: frozenset[str]) -> _Chosen:
    """The enabled rules, in order, whose policies' inputs (`INPUTS`) are all `present`, each
    with its policy."""
    key = (id(rules), present)
    found = _CHOSEN.get(key)
    if found is None or found[0] is not rules or found[1] is not rules.rules:
        if len(_CHOSEN) >= 4096:
            _CHOSEN.clear()
        chosen = [(r, POLICIES[r.id]) for r in _enabled_rules(rules)
                  if has_inputs(present, INPUTS[r.id])]
        found = _CHOSEN[key] = (rules, rules.rules, chosen)
    return found[2]


def _decision(
    case: CaseState,
    rules: RuleSet,
    rule: Rule,
    found: Obligation,
    status: Literal["open", "resolved"],
    raised_at: datetime,
    due: DueTime | None,
) -> AlertDecision:
    found_facts, detail_zh, detail_en = found.explained()
    case_fields = case.__dict__
    case_id = case_fields["case_id"]
    facts: dict[str, Any] = {
        **found_facts,
        "rules_version": rules.version,
        "case_agency": case_fields["agency"],
        "satisfied_at": iso(found.satisfied_at) if found.satisfied_at else None,
    }
    # the rule's fields read off its `__dict__` (where pydantic keeps them): each attribute
    # of a model goes through its `__getattr__` hook, ~45 ns against ~15 (issue 14, session 13;
    # with `_judge`'s deadline fields, bench/assess_path.py --callgrind, 2,000 cases: v1.0
    # 367,285 -> 364,289 instructions a case, v1.1 371,683 -> 369,499, digests the same)
    fields = rule.__dict__
    rule_id = fields["id"]
    unconfirmed = fields["unconfirmed"] or found.unconfirmed
    if found.deadline is not None and due is not None and found.clock_start is not None:
        deadline_facts = _deadline_facts(found.deadline, found.deadline_name)
        unconfirmed = unconfirmed or deadline_facts["unconfirmed"]
        facts["deadline"] = deadline_facts
        facts["clock_started_at"] = iso(found.clock_start)
        facts["due_at"] = iso(due.at)
        if due.extended and due.nominal_last_day is not None:
            facts["holiday_extended_from"] = due.nominal_last_day.isoformat()
        if due.unverified_years:
            facts["calendar_unverified_years"] = list(due.unverified_years)
    facts["unconfirmed"] = unconfirmed

    zh = f"【{fields['title_zh']}】{detail_zh}"
    en = f"[{fields['title_en']}] {detail_en}"
    if due is not None:
        due_by = _local(due.at)
        zh += f"；期限至 {due_by}"
        en += f"; due by {due_by} (Asia/Shanghai)"
    if status == "resolved" and found.satisfied_at is not None:
        done_at = _local(found.satisfied_at)
        zh += f"；已于 {done_at} 迟延履行或纠正"
        en += f"; done late or cured at {done_at}"
    elif due is not None:
        zh += "，已逾期"
        en += ", overdue"
    if unconfirmed:
        zh += _UNCONFIRMED_ZH
        en += _UNCONFIRMED_EN
    # Built, not validated (issue 14: validating it was ~7.5 µs of an alert's ~10 to make,
    # against ~2 built, with the alert's JSON 7 more): every value already has its field's
    # type (strings from the rule set and the validated case state, `status` one of the two
    # literals, both instants aware: `to_shanghai` refuses naive ones, `due.at` is an end of
    # a Shanghai day or an aware start plus hours), and `facts` is this call's own new dict,
    # which validation only copied. tests/unit/test_alert_building.py checks, over generated
    # cases, that every decision equals the validated alert, its JSON included.
    return built(Alert, {
        "alert_id": alert_id(rule_id, case_id, found.trigger),
        "rule_id": rule_id,
        "status": status,
        "case_id": case_id,
        "agency": found.responsible,
        "raised_at": to_shanghai(raised_at),
        "due_at": due.at if due is not None else None,
        "legal_basis": fields["legal_basis"],
        "facts": facts,
        "message_zh": zh + "。",
        "message_en": en + ".",
    })


def _deadline_facts(deadline: Deadline, name: str | None) -> dict[str, Any]:
    """The "deadline" facts of an alert, a dict of its own, read off the deadline's fields'
    dict (`__dict__`, as `_judge` reads it), not through the model's `__getattr__` hook.

    Issue 14, session 13: session 12 kept these facts in a memo keyed by the deadline's
    identity and copied them for each alert; read from `__dict__` they cost what that memo's
    key, look-up and copy did (bench/assess_path.py --callgrind, 2,000 cases,
    PYTHONHASHSEED=0: v1.0 366,099 with the memo -> 366,144 instructions a case, v1.1
    371,162 -> 371,231; digests the same), so the memo, a global cache, went."""
    fields = deadline.__dict__
    return {
        "name": name,
        "amount": fields["amount"],
        "unit": fields["unit"],
        "starts": fields["starts"],
        "unconfirmed": fields["unconfirmed"],
    }


def _after(moment: datetime, due_at: datetime) -> bool:
    """`moment > due_at`, compared in Shanghai where that is exact.

    A deadline's `due_at` is a Shanghai time and an act's time has its sender's offset: their
    comparison asked both zones for their offsets, ~2 µs against ~0.1 for two Shanghai times,
    which Python compares by their wall clocks (the same tzinfo). From 1992 on (Shanghai's
    offset is +08:00 from 1991-09-15 on: `_STANDARD_YEAR`) wall clocks order as instants do,
    the act's read off its own fields (`_standard_wall`);
    earlier, or with `due_at` in another zone, the instants are compared as before (issue
    14, session 8; tests/unit/test_deadline_comparison.py compares the two over generated times)."""
    if due_at.tzinfo is not SHANGHAI:
        # `>` of two times in one other zone compares their wall clocks, which in that zone's
        # spring-forward gap order otherwise than their instants (a hypothesis find)
        return moment > due_at
    wall = _standard_wall(moment)
    if wall is not None and due_at.year >= _STANDARD_YEAR:
        # the two wall clocks, by date then by time of day (naive: no zone asked); issue 14,
        # session 11: converting the act's time (`astimezone`, its hash for the memo) was
        # ~9 k instructions a first time, ~2 for each comparison of a case
        day, due_day = wall.date(), due_at.date()
        return day > due_day if day != due_day else wall.time() > due_at.time()
    return moment > due_at


def _judge(
    case: CaseState, rules: RuleSet, now: datetime, related: Sequence[CaseState],
    every_rule: bool = False,
) -> tuple[list[AlertDecision], list[datetime]]:
    """Decisions as of `now`, and the first-late instants of deadlines still pending.

    A policy whose inputs (`INPUTS`) the case lacks is not called: it would find nothing.
    `every_rule` calls every enabled policy all the same (the reference that shortcut is
    tested against, tests/unit/test_rules_inputs.py)."""
    now = to_shanghai(now)
    view = CaseView(case, rules, related)
    decisions: list[AlertDecision] = []
    pending: list[datetime] = []
    calendar = rules.work_calendar
    chosen = ([(r, POLICIES[r.id]) for r in _enabled_rules(rules)] if every_rule
              else _with_inputs(rules, present_facts(view)))
    for rule, policy in chosen:
        for found in policy(view, rule):
            if found.deadline is None or found.clock_start is None:
                assert found.raised_at is not None, f"{rule.id}: breach without a time"
                status: Literal["open", "resolved"] = (
                    "resolved" if found.satisfied_at is not None else "open"
                )
                decisions.append(_decision(case, rules, rule, found, status, found.raised_at, None))
                continue
            deadline = found.deadline.__dict__  # its fields without the model's hook (as `_decision`)
            due = due_after(found.clock_start, deadline["amount"], deadline["unit"], calendar)
            if found.satisfied_at is not None:
                if _after(found.satisfied_at, due.at):
                    decisions.append(_decision(case, rules, rule, found, "resolved", due.at, due))
            elif now > due.at:
                decisions.append(_decision(case, rules, rule, found, "open", due.at, due))
            else:
                pending.append(due.first_late_instant)
    if len(decisions) > 1:
        decisions.sort(key=_decision_order)
    return decisions, pending


def _decision_order(decision: AlertDecision) -> tuple[datetime, str, str]:
    return decision.raised_at, decision.rule_id, decision.alert_id


@quick_init
@dataclass(frozen=True)
class Assessment:
    """One judgement of a case: its alert decisions and when to look again."""

    decisions: list[AlertDecision]
    next_due: datetime | None


def assess(
    case: CaseState, rules: RuleSet, now: datetime, related: Sequence[CaseState] = (),
    *, every_rule: bool = False,
) -> Assessment:
    """`evaluate` and `next_due` in one pass over the rules (what the workers call);
    `every_rule`: call even the policies whose inputs the case lacks (see `_judge`)."""
    decisions, pending = _judge(case, rules, now, related, every_rule)
    return Assessment(decisions, min(pending) if pending else None)


def evaluate(
    case: CaseState, rules: RuleSet, now: datetime, related: Sequence[CaseState] = ()
) -> list[AlertDecision]:
    """Every alert decision for `case` as of `now`; `related` = other cases sharing a party."""
    return _judge(case, rules, now, related)[0]


def next_due(case: CaseState, rules: RuleSet, now: datetime) -> datetime | None:
    """The earliest instant after `now` at which `evaluate` could change without a new event."""
    pending = _judge(case, rules, now, ())[1]
    return min(pending) if pending else None


@dataclass(frozen=True)
class PendingDeadline:
    """A legal deadline of a case still running: neither met nor missed yet."""

    rule_id: str
    due: DueTime


def pending_deadlines(
    case: CaseState, rules: RuleSet, now: datetime, related: Sequence[CaseState] = ()
) -> list[PendingDeadline]:
    """Every deadline of `case` still running as of `now`, soonest first (what the
    workbench's case page lists as open deadlines; `next_due` is the first of them)."""
    now = to_shanghai(now)
    view = CaseView(case, rules, related)
    pending: list[PendingDeadline] = []
    for rule in _enabled_rules(rules):
        for found in POLICIES[rule.id](view, rule):
            if found.deadline is None or found.clock_start is None or found.satisfied_at:
                continue
            due = due_after(
                found.clock_start, found.deadline.amount, found.deadline.unit, rules.work_calendar
            )
            if now <= due.at:
                pending.append(PendingDeadline(rule.id, due))
    return sorted(pending, key=lambda p: (p.due.at, p.rule_id))
