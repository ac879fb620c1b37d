"""Which entry thresholds a case's figures meet, and since when (runs over the assessment history).

Thresholds change over time (刑法 Art 12, 从旧兼从轻): each entry of the rule file carries the
day it took effect (and, when replaced, the day it stopped). A case is judged by the entries
in force on the day the act was committed (`CaseState.committed_at`: the opening's
`committed_at`, else `opened_at`), unless the entries in force on the day it is judged (the
assessment's own day) are more lenient: grounds exist only where the figures meet a threshold
of *both* (a later, lower figure never reaches back; a later, higher one always does). The
grounds reported are those of the law at the act.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from schemas.events import Offence
from schemas.money import format_money
from streams.rules import _figures
from streams.rules._quick import quick_init
from streams.rules.calendar import shanghai_date, shanghai_iso
from streams.rules.case_state import AssessmentRecord, CaseState, Figures, figure_parts, sum_of
from streams.rules.rules_config import OffenceRules, RuleSet, ThresholdTrigger

_FIGURE_TEXTS: dict[tuple[str, Decimal, bool], str] = {}


def format_figure(name: str, value: Decimal) -> str:
    """A count as an integer ("500"), an amount in yuan with two decimals ("50000.00").

    Memoised (issue 14: the facts and texts of every threshold met format each figure and
    minimum three to five times): the text depends on the name, the number and, for a zero,
    its sign ("-0.00"), which is the key (equal Decimals of other exponents round alike);
    NaN and infinities are not memoised."""
    if not value.is_finite():
        return _figure_text(name, value)
    key = (name, value, value.is_signed())
    found = _FIGURE_TEXTS.get(key)
    if found is None:
        if len(_FIGURE_TEXTS) >= 65_536:
            _FIGURE_TEXTS.clear()
        found = _FIGURE_TEXTS[key] = _figure_text(name, value)
    return found


def _figure_text(name: str, value: Decimal) -> str:
    if _is_count(name):
        return str(int(value))
    return format_money(value)


@lru_cache(maxsize=256)
def _is_count(name: str) -> bool:
    """Every part of the (possibly "a+b") figure name is a count; names come from the rule file."""
    return all(_figures.kind_of(part) == "count" for part in name.split("+"))


@quick_init
@dataclass(frozen=True)
class MetThreshold:
    """One threshold entry the figures meet, with the values that meet it."""

    offence: Offence
    trigger_id: str
    trigger: ThresholdTrigger
    article: int | None
    values: tuple[tuple[str, Decimal], ...]

    def facts(self) -> dict[str, Any]:
        """The entry's facts: what the law and the rule file say of it (the same for every
        case that meets it, made once per entry: `_entry_facts`), and the figures."""
        trigger = self.trigger
        key = (id(trigger), self.trigger_id, self.article, self.offence)
        found = _ENTRY_FACTS.get(key)
        if found is None or found[0] is not trigger:
            found = _entry_facts(key, self.offence, self.trigger_id, trigger, self.article)
        _, head, minimums, tail = found
        facts: dict[str, Any] = {
            **head,
            "figures": {name: format_figure(name, value) for name, value in self.values},
            "minimums": dict(minimums),  # a dict of the alert's own, as every other value
        }
        if trigger.flags:
            facts["flags"] = list(trigger.flags)
        facts.update(tail)
        return facts

    def describe(self) -> tuple[str, str]:
        """(zh, en): "非法经营数额 60000.00 ≥ 50000.00" etc."""
        zh_parts: list[str] = []
        en_parts: list[str] = []
        for name, value in self.values:
            reached = f"{format_figure(name, value)} ≥ {format_figure(name, self.trigger.min[name])}"
            zh, en = _figures.label(name)
            zh_parts.append(f"{zh} {reached}")
            en_parts.append(f"{en} {reached}")
        for flag in self.trigger.flags:
            zh, en = _figures.label(flag)
            zh_parts.append(zh)
            en_parts.append(en)
        if self.trigger.attempt:
            zh_parts.append("（未遂）")
            en_parts.append("(attempt)")
        return "，".join(zh_parts), ", ".join(en_parts)


_EntryFacts = tuple[ThresholdTrigger, dict[str, Any], dict[str, str], dict[str, Any]]
_ENTRY_FACTS: dict[tuple[int, str, int | None, Offence], _EntryFacts] = {}
"""Per threshold entry (by identity, held, so checked: a rule set is never changed in place),
id, article and offence: the facts of `MetThreshold.facts` before its figures, its minimums
as texts, and the scalars after them (issue 14, session 8: the entry's part of the facts,
its minimums formatted again, was made for every alert resting on a threshold)."""


def _entry_facts(key: tuple[int, str, int | None, Offence], offence: Offence, trigger_id: str,
                 trigger: ThresholdTrigger, article: int | None) -> _EntryFacts:
    head: dict[str, Any] = {
        "offence": offence.value,
        "threshold": trigger_id,
        "criminal_law_article": article,
        "legal_basis": trigger.legal_basis,
        "effective_from": trigger.effective_from.isoformat(),
    }
    minimums = {name: format_figure(name, minimum) for name, minimum in trigger.min.items()}
    tail: dict[str, Any] = {}
    if trigger.attempt:
        tail["attempt"] = True
    if trigger.tier:
        tail["tier"] = trigger.tier
    if trigger.unconfirmed:
        tail["unconfirmed"] = True
        tail["note"] = trigger.note
    if len(_ENTRY_FACTS) >= 4096:
        _ENTRY_FACTS.clear()
    found = _ENTRY_FACTS[key] = (trigger, head, minimums, tail)
    return found


_Entry = tuple[str, ThresholdTrigger, int | None, tuple[tuple[str, tuple[str, ...], Decimal], ...]]
"""A threshold entry as `met_thresholds` walks it: id, entry, article, and per minimum the
figure's name, its parts ("a+b") and the minimum (scaled for screening)."""

_TABLES: dict[tuple[int, date | None, Decimal | None],
              tuple[OffenceRules, dict[str, ThresholdTrigger], tuple[_Entry, ...]]] = {}
"""The entries of an offence's rules in force on a day, per rules (by identity, checked with
their thresholds dict: a rule set is never changed in place), day and scale (issue 14: the
per-entry checks, the minimums' scaling and the figure names' splitting were repeated for
every assessment of every case; days are few, so the table stays small)."""


def _entries(rules: OffenceRules, day: date | None, scale: Decimal | None) -> tuple[_Entry, ...]:
    """The enabled entries of `rules` in force on `day` (any day if None), in the rule file's
    order, each minimum multiplied by `scale` where it applies (see `met_thresholds`)."""
    key = (id(rules), day, scale)
    found = _TABLES.get(key)
    if found is not None and found[0] is rules and found[1] is rules.thresholds:
        return found[2]
    entries: list[_Entry] = []
    for trigger_id, trigger in rules.thresholds.items():
        if not trigger.enabled or (day is not None and not trigger.in_force_on(day)):
            continue
        minimums: list[tuple[str, tuple[str, ...], Decimal]] = []
        for name, minimum in trigger.min.items():
            if scale is not None and not (
                _figures.kind_of(name) == "count" and name in _figures.NON_ADDITIVE_COUNTS
            ):
                minimum = minimum * scale
            minimums.append((name, figure_parts(name), minimum))
        article = trigger.criminal_law_article or rules.criminal_law_article
        entries.append((trigger_id, trigger, article, tuple(minimums)))
    if len(_TABLES) >= 4096:
        _TABLES.clear()
    table = _TABLES[key] = (rules, rules.thresholds, tuple(entries))
    return table[2]


def met_thresholds(
    offence: Offence,
    rules: OffenceRules,
    figures: Figures,
    day: date | None = None,
    scale: Decimal | None = None,
) -> tuple[MetThreshold, ...]:
    """Every enabled threshold entry of the offence in force on `day` (any day if None) that the
    figures meet; with `scale`, each minimum amount or count multiplied by it (screening)."""
    return _met(offence, rules, figures.amounts, figures.counts, figures.flags, day, scale)


_Values = Mapping[str, Decimal]


def _met(
    offence: Offence,
    rules: OffenceRules,
    amounts: _Values,
    counts: Mapping[str, int],
    flags: Mapping[str, bool],
    day: date | None,
    scale: Decimal | None,
) -> tuple[MetThreshold, ...]:
    """`met_thresholds` over the three dicts of figures (what `Figures.sum_of` and
    `Figures.flag` read), so that `indication_runs` walks an assessment history without
    making a `Figures` per assessment.

    A single-part minimum that is an amount (nearly all) is looked up here, as
    `Figures.sum_of` would add it up (`Decimal(0) + value`: the sum's exponent, which the
    facts print); a count, a sum "a+b" or an unknown figure goes through `case_state.sum_of`,
    as `Figures.sum_of` does. Issue 14, session 8: with a method call, a list and a
    generator per entry, checking the four entries of an offence was ~2.5 µs, made for every
    assessment walked and for the grounds of a case again. tests/unit/test_threshold_tables.py
    compares it with walking the rule file."""
    met: list[MetThreshold] = []
    for trigger_id, trigger, article, minimums in _entries(rules, day, scale):
        values: list[tuple[str, Decimal]] = []
        for name, parts, minimum in minimums:
            value = amounts.get(name) if len(parts) == 1 else None
            if value is not None:  # an amount alone: added up as `sum_of` would
                value = _ZERO + value
            else:  # a count, a sum, or unknown
                value = sum_of(amounts, counts, parts)
            if value is None or value < minimum:
                break
            values.append((name, value))
        else:
            wanted = trigger.flags
            if not wanted or all(flags.get(flag, False) for flag in wanted):
                met.append(MetThreshold(offence, trigger_id, trigger, article, tuple(values)))
    return tuple(met)


@quick_init
@dataclass(frozen=True)
class Indication:
    """Grounds to suspect a crime: thresholds met, or (IP offences) recorded reasonable suspicion."""

    met: tuple[MetThreshold, ...] = ()
    suspicion: bool = False
    act_day: date | None = None  # the law in force on this day decides (刑法 Art 12)
    lenient_day: date | None = None  # a later day whose law was also applied (从轻)

    def __bool__(self) -> bool:
        return bool(self.met) or self.suspicion

    @property
    def unconfirmed(self) -> bool:
        """True when every ground rests on a figure flagged unconfirmed."""
        if not self.met or self.suspicion:
            return False
        for met in self.met:  # a loop, not all() over a generator: read for every run
            if not met.trigger.unconfirmed:
                return False
        return True

    def facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"thresholds_met": [m.facts() for m in self.met]}
        if self.act_day is not None:
            facts["law_in_force_on"] = self.act_day.isoformat()
        if self.lenient_day is not None:
            facts["also_judged_by_law_of"] = self.lenient_day.isoformat()
        if self.suspicion:
            facts["reasonable_suspicion"] = True
        return facts

    def describe(self) -> tuple[str, str]:
        if self.met:
            return self.met[0].describe()
        return (
            "行政执法机关认定存在犯罪合理嫌疑（第三条第二款）",
            "the agency recorded a reasonable suspicion of a crime (SC Art 3 para 2)",
        )


_NO_GROUNDS = Indication()
"""Made once: immutable (frozen)."""
_ZERO = Decimal(0)

_SAME_LAW: dict[tuple[int, date, date], tuple[OffenceRules, dict[str, ThresholdTrigger], bool]] = {}
"""`_same_law` per rules (by identity, checked as `_TABLES` does), and pair of days: asked for
every assessment walked whose figures meet a threshold on a later day than the act's (issue
14, session 8: ~1.9 µs each, a walk over every entry and its dates)."""


def _same_law(rules: OffenceRules, first: date, second: date) -> bool:
    """True when the same enabled entries are in force on both days."""
    key = (id(rules), first, second)
    found = _SAME_LAW.get(key)
    if found is not None and found[0] is rules and found[1] is rules.thresholds:
        return found[2]
    same = all(
        trigger.in_force_on(first) == trigger.in_force_on(second)
        for trigger in rules.thresholds.values()
        if trigger.enabled
    )
    if len(_SAME_LAW) >= 4096:
        _SAME_LAW.clear()
    _SAME_LAW[key] = (rules, rules.thresholds, same)
    return same


def shanghai_day(moment: datetime | None) -> date | None:
    return shanghai_date(moment) if moment is not None else None


def indication(
    rules: RuleSet,
    offence: Offence | None,
    figures: Figures,
    act_day: date | None = None,
    judged_day: date | None = None,
    scale: Decimal | None = None,
) -> Indication:
    """The grounds the figures give for the offence (none if the offence is unknown), under the
    law in force on `act_day` and, where it differs, also under the law of `judged_day`
    (从旧兼从轻, see the module docstring). Without days, every enabled entry counts."""
    return _indication(rules, offence, figures.amounts, figures.counts, figures.flags,
                       act_day, judged_day, scale)


def _indication(
    rules: RuleSet,
    offence: Offence | None,
    amounts: _Values,
    counts: Mapping[str, int],
    flags: Mapping[str, bool],
    act_day: date | None,
    judged_day: date | None,
    scale: Decimal | None,
) -> Indication:
    """`indication` over the three dicts of figures (see `_met`)."""
    if offence is None:
        return _NO_GROUNDS
    offence_rules = rules.offences[offence]
    act_day = act_day or judged_day
    met = _met(offence, offence_rules, amounts, counts, flags, act_day, scale)
    lenient_day: date | None = None
    if (
        met
        and act_day is not None
        and judged_day is not None
        and judged_day > act_day
        and not _same_law(offence_rules, act_day, judged_day)
    ):
        lenient_day = judged_day
        if not _met(offence, offence_rules, amounts, counts, flags, judged_day, scale):
            met = ()
    suspicion = offence_rules.reasonable_suspicion and flags.get("reasonable_suspicion", False)
    if not met and not suspicion and lenient_day is None:
        return _no_grounds_on(act_day)
    return Indication(met=met, suspicion=suspicion, act_day=act_day, lenient_day=lenient_day)


_NO_GROUNDS_ON: dict[date | None, Indication] = {}
"""`Indication(act_day=day)` per day: no grounds under the law of that day (immutable, so
shared). Issue 14, session 12: the walk over a case's assessments made one for every
assessment whose figures meet no threshold (with a memo of deadlines' alert facts, since
replaced by reads of their fields' dicts (`engine._deadline_facts`): -0.5 % of the assess
pass's instructions on the v1.0 mix, -0.9 % on v1.1)."""


def _no_grounds_on(day: date | None) -> Indication:
    found = _NO_GROUNDS_ON.get(day)
    if found is None:
        if len(_NO_GROUNDS_ON) >= 4096:
            _NO_GROUNDS_ON.clear()
        found = _NO_GROUNDS_ON[day] = Indication(act_day=day)
    return found


def case_indication(
    rules: RuleSet, case: CaseState, figures: Figures | None = None, scale: Decimal | None = None
) -> Indication:
    """`indication` for a case's (or the given) figures, judged on the day of the last assessment."""
    own = figures is None
    figures = figures if figures is not None else case.figures
    judged = max(figures.as_of.values(), default=None)
    act_day, judged_day = shanghai_day(case.committed_at), shanghai_day(judged)
    if own and scale is None and case.offence is not None:
        walked = _walked_grounds(case, rules, act_day, judged_day)
        if walked is not None:
            return walked
    return indication(rules, case.offence, figures, act_day, judged_day, scale)


def _walked_grounds(case: CaseState, rules: RuleSet, act_day: date | None,
                    judged_day: date | None) -> Indication | None:
    """The grounds of the last step of the case's remembered walk (`indication_runs`) when
    that step judged the very figures of the case (the same values, by identity for the
    amounts, whose exponent the facts print) under the same law and on the same days:
    `indication` of the same arguments, which it returns without checking the thresholds
    again (issue 14, session 8: the grounds of a case, read by the policies that need them,
    repeated the walk's last check, ~3 µs). None: work it out."""
    memo = _runs_memo.get(case.case_id)
    if (memo is None or memo.assessments is not case.assessments or memo.rules is not rules
            or memo.offence != case.offence or memo.act_day != act_day
            or memo.judged_day != judged_day):
        return None
    amounts, counts, flags = memo.figures
    figures = case.figures
    if counts != figures.counts or flags != figures.flags or not _same_values(
            amounts, figures.amounts):
        return None
    return memo.grounds


def _same_values(walked: _Values, amounts: _Values) -> bool:
    """True when both dicts hold the same keys with the same (identical) values."""
    if walked is amounts:
        return True
    if len(walked) != len(amounts):
        return False
    for name, value in walked.items():
        if amounts.get(name) is not value:
            return False
    return True


@quick_init
@dataclass(frozen=True)
class Run:
    """A stretch of the assessment history during which there were grounds to suspect a crime."""

    start: datetime
    start_event_id: str
    end: datetime | None  # when an assessment removed the grounds; None: still there
    grounds: Indication  # the grounds at the last point of the run

    def covers(self, moment: datetime) -> bool:
        return self.start <= moment and (self.end is None or moment < self.end)

    def facts(self) -> dict[str, Any]:
        facts = self.grounds.facts()
        facts["threshold_met_at"] = shanghai_iso(self.start)
        if self.end is not None:
            facts["threshold_no_longer_met_at"] = shanghai_iso(self.end)
        return facts


_Walked = tuple[_Values, Mapping[str, int], Mapping[str, bool]]
_NOT_WALKED: _Walked = ({}, {}, {})
"""The figures before any assessment (never changed in place: a walk makes new dicts)."""


@quick_init
@dataclass(frozen=True)
class _RunsSoFar:
    """`indication_runs`' walk after a prefix of one case's assessments, to go on from."""

    rules: RuleSet
    offence: Offence
    act_day: date | None
    assessments: tuple[AssessmentRecord, ...]
    figures: _Walked  # amounts, counts and flags after them (what `_indication` reads)
    start: tuple[datetime, str] | None
    grounds: Indication
    ended: tuple[Run, ...]
    judged_day: date | None  # the day the last assessment walked was judged on


RUNS_MEMO_SIZE = 5_000
"""Cases whose walk `indication_runs` keeps (least recently used dropped first); a walk holds
the figures and runs of its case (its assessments are shared with the case's state)."""
_runs_memo: OrderedDict[str, _RunsSoFar] = OrderedDict()
_runs_lock = threading.Lock()


def _resumable(case: CaseState, rules: RuleSet, act_day: date | None) -> _RunsSoFar | None:
    """The remembered walk of this case if its assessments are a prefix of the case's now.

    Records are compared by identity first (a state from `apply` or the case store's cache
    shares them with the last one), then by value, never by event id alone: an id does not
    prove the same content in a test or a replay under other rules."""
    with _runs_lock:
        memo = _runs_memo.get(case.case_id)
        if memo is not None:
            _runs_memo.move_to_end(case.case_id)
    if (memo is None or memo.rules is not rules or memo.offence != case.offence
            or memo.act_day != act_day or len(memo.assessments) > len(case.assessments)):
        return None
    if all(a is b or a == b for a, b in zip(memo.assessments, case.assessments, strict=False)):
        return memo
    return None


def indication_runs(case: CaseState, rules: RuleSet) -> tuple[Run, ...]:
    """Replay the assessments in time order; each run starts where grounds appear, ends where they go.

    Incremental (issue 14): the walk is remembered per case, and a later call whose case
    has the same assessments plus later ones (the usual new event) walks only the new ones,
    so assessing a case no longer costs a threshold check per assessment it ever had. An
    assessment sorted before the remembered ones, another offence, act day or rule set start
    the walk over; the result is the same either way.

    The walk keeps the figures as the three dicts `Figures.updated` would make (amounts,
    counts, flags; the times they were assessed are not read), without a `Figures` per
    assessment, and the first assessment's own dicts as they are (the walk never changes a
    dict in place): issue 14, session 8, ~2 µs of a walk of one assessment."""
    offence = case.offence
    if offence is None:
        return ()
    act_day = shanghai_day(case.committed_at)
    memo = _resumable(case, rules, act_day)
    if memo is None:
        walked, (amounts, counts, flags) = 0, _NOT_WALKED
        start: tuple[datetime, str] | None = None
        grounds, ended, judged_day = _NO_GROUNDS, [], None
    else:
        walked, (amounts, counts, flags) = len(memo.assessments), memo.figures
        start, grounds, ended = memo.start, memo.grounds, list(memo.ended)
        judged_day = memo.judged_day
    assessments = case.assessments
    for assessment in assessments[walked:] if walked else assessments:
        if amounts or counts or flags:
            amounts = {**amounts, **assessment.amounts}
            counts = {**counts, **assessment.counts}
            flags = {**flags, **assessment.flags}
        else:
            amounts, counts, flags = assessment.amounts, assessment.counts, assessment.flags
        judged_day = shanghai_day(assessment.assessed_at)
        now_grounds = _indication(rules, offence, amounts, counts, flags, act_day, judged_day,
                                  None)
        if now_grounds and start is None:
            start = (assessment.assessed_at, assessment.event_id)
        elif not now_grounds and start is not None:
            ended.append(Run(start[0], start[1], assessment.assessed_at, grounds))
            start = None
        grounds = now_grounds
    if len(assessments) > walked:
        remembered = _RunsSoFar(rules, offence, act_day, assessments, (amounts, counts, flags),
                                start, grounds, tuple(ended), judged_day)
        with _runs_lock:
            _runs_memo[case.case_id] = remembered
            _runs_memo.move_to_end(case.case_id)
            while len(_runs_memo) > RUNS_MEMO_SIZE:
                _runs_memo.popitem(last=False)
    if start is not None:
        return (*ended, Run(start[0], start[1], None, grounds))
    return tuple(ended)


def aggregate(cases: Iterable[CaseState]) -> Figures:
    """Figures of several cases added up: amounts and quantities sum; marks/patents take the largest."""
    amounts: dict[str, Decimal] = {}
    counts: dict[str, int] = {}
    as_of: dict[str, datetime] = {}
    for case in cases:
        for name, amount in case.figures.amounts.items():
            amounts[name] = amounts.get(name, Decimal(0)) + amount
        for name, count in case.figures.counts.items():
            if name in _figures.NON_ADDITIVE_COUNTS:
                counts[name] = max(counts.get(name, 0), count)
            else:
                counts[name] = counts.get(name, 0) + count
        for name, moment in case.figures.as_of.items():
            as_of[name] = max(as_of[name], moment) if name in as_of else moment
    return Figures(amounts=amounts, counts=counts, as_of=as_of)
