"""Threshold checks from per-day entry tables (issue 14) decide as walking the rule file does."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.events import Offence
from schemas.money import format_money
from streams.rules import _figures, _thresholds, load_rules
from streams.rules._thresholds import MetThreshold, format_figure, met_thresholds
from streams.rules.case_state import Figures
from streams.rules.rules_config import OffenceRules, RuleSet

RULES = load_rules()
NAMES = sorted({name for offence in RULES.offences.values()
                for trigger in offence.thresholds.values() for name in trigger.min})
FLAGS = sorted({flag for offence in RULES.offences.values()
                for trigger in offence.thresholds.values() for flag in trigger.flags})
DAYS = sorted({d for offence in RULES.offences.values() for trigger in offence.thresholds.values()
               for d in (trigger.effective_from, trigger.effective_until) if d is not None})

# Amounts with various exponents ("6E+4", "60000.00"), zero included: the sums' exponents show.
decimals = st.sampled_from(["0", "0.00", "1.5", "4999.99", "6E+4", "50000", "60000.00",
                            "150000.00", "1E+6"]).map(Decimal)
figures = st.builds(
    lambda amounts, counts, flags: Figures(amounts=amounts, counts=counts, flags=flags),
    st.dictionaries(st.sampled_from(sorted(_figures.AMOUNTS)), decimals, max_size=5),
    st.dictionaries(st.sampled_from(sorted(_figures.COUNTS)), st.integers(0, 30_000), max_size=4),
    st.dictionaries(st.sampled_from(FLAGS or ["reasonable_suspicion"]), st.booleans(),
                    max_size=2))
days = st.one_of(st.none(), st.sampled_from(DAYS),
                 st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 1, 1)))
scales = st.one_of(st.none(), st.sampled_from([Decimal("0.8"), Decimal("0.80"), Decimal("1")]))


def reference_value(figures: Figures, name: str) -> Decimal | None:
    """A figure or sum "a+b" as `Figures.value` first computed it."""
    known = []
    for part in name.split("+"):
        if part in figures.amounts:
            known.append(figures.amounts[part])
        elif part in figures.counts:
            known.append(Decimal(figures.counts[part]))
    return sum(known, Decimal(0)) if known else None


def reference_met(offence: Offence, rules: OffenceRules, figures: Figures, day: date | None,
                  scale: Decimal | None) -> tuple[MetThreshold, ...]:
    """Every entry walked as the rule file lists it, each minimum checked on its own."""
    found = []
    for trigger_id, trigger in rules.thresholds.items():
        if not trigger.enabled or (day is not None and not trigger.in_force_on(day)):
            continue

        def scaled(name: str, minimum: Decimal) -> Decimal:
            fixed = name in _figures.NON_ADDITIVE_COUNTS  # (all of them are counts)
            return minimum if scale is None or fixed else minimum * scale

        values = [(name, reference_value(figures, name)) for name in trigger.min]
        if any(value is None or value < scaled(name, trigger.min[name])
               for name, value in values):
            continue
        if all(figures.flag(flag) for flag in trigger.flags):
            found.append(MetThreshold(
                offence, trigger_id, trigger,
                trigger.criminal_law_article or rules.criminal_law_article,
                tuple((name, value) for name, value in values if value is not None)))
    return tuple(found)


@settings(max_examples=300, deadline=None)
@given(figures=figures, name=st.sampled_from(
    [*NAMES, "sales_amount+illegal_gains", "no_such_figure", "labels_count+copies"]))
def test_a_figure_value_is_the_sum_as_first_computed(figures: Figures, name: str) -> None:
    got, expected = figures.value(name), reference_value(figures, name)
    assert got == expected
    assert str(got) == str(expected)  # the same exponent: the facts print it


@settings(max_examples=400, deadline=None)
@given(offence=st.sampled_from(sorted(RULES.offences)), figures=figures, day=days, scale=scales)
def test_met_thresholds_equal_walking_the_rule_file(
        offence: Offence, figures: Figures, day: date | None, scale: Decimal | None) -> None:
    rules = RULES.offences[offence]
    for _ in range(2):  # the table made, then the table remembered
        got = met_thresholds(offence, rules, figures, day, scale)
        assert got == reference_met(offence, rules, figures, day, scale)
        assert [str(v) for m in got for _, v in m.values] == [
            str(v) for m in reference_met(offence, rules, figures, day, scale) for _, v in m.values]


def test_a_table_follows_the_rules_it_was_made_from() -> None:
    """Tables are remembered per rules object: another offence's rules (a rule file with
    other minimums, made after the first was used) get their own answer."""
    offence = Offence("trademark_counterfeiting")
    rules = RULES.offences[offence]
    figures = Figures(amounts={"illegal_business_amount": Decimal("60000.00")})
    day = date(2026, 1, 1)
    assert met_thresholds(offence, rules, figures, day)
    raised: dict[str, Any] = {
        trigger_id: trigger.model_copy(update={"min": {
            name: minimum * 100 for name, minimum in trigger.min.items()}})
        for trigger_id, trigger in rules.thresholds.items()}
    stricter = rules.model_copy(update={"thresholds": raised})
    assert met_thresholds(offence, stricter, figures, day) == ()
    assert met_thresholds(offence, rules, figures, day)


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from([*NAMES, "fine"]),
       values=st.lists(st.one_of(
           decimals, st.sampled_from(["-0", "-0.00", "0E+3", "-1.005", "1.005", "2.675"]).map(
               Decimal),
           st.decimals(allow_nan=False, allow_infinity=False, places=3,
                       min_value=-10**6, max_value=10**9)), min_size=1, max_size=6))
def test_a_remembered_figure_text_is_the_text_formatted_again(
        name: str, values: list[Decimal]) -> None:
    """Equal Decimals of other exponents, and zeros of either sign, one after the other: the
    remembered text of each is the one formatting it gives."""
    for value in values:
        expected = str(int(value)) if _thresholds._is_count(name) else format_money(value)
        assert format_figure(name, value) == expected


def test_nan_and_infinity_are_formatted_as_before() -> None:
    assert format_figure("fine", Decimal("NaN")) == format_money(Decimal("NaN"))
    for value in (Decimal("Infinity"), Decimal("sNaN")):
        with pytest.raises(InvalidOperation):
            format_figure("fine", value)


def test_the_work_calendar_is_the_rule_sets_own() -> None:
    rules = load_rules()
    assert rules.work_calendar is rules._work_calendar
    unvalidated = RuleSet.model_construct(**dict(rules))
    assert unvalidated.work_calendar is unvalidated._work_calendar


def reference_facts(met: MetThreshold) -> dict[str, Any]:
    """`MetThreshold.facts` as first written: every part made again for each call."""
    facts: dict[str, Any] = {
        "offence": met.offence.value,
        "threshold": met.trigger_id,
        "criminal_law_article": met.article,
        "legal_basis": met.trigger.legal_basis,
        "effective_from": met.trigger.effective_from.isoformat(),
        "figures": {name: format_figure(name, value) for name, value in met.values},
        "minimums": {name: format_figure(name, m) for name, m in met.trigger.min.items()},
    }
    if met.trigger.flags:
        facts["flags"] = list(met.trigger.flags)
    if met.trigger.attempt:
        facts["attempt"] = True
    if met.trigger.tier:
        facts["tier"] = met.trigger.tier
    if met.trigger.unconfirmed:
        facts["unconfirmed"] = True
        facts["note"] = met.trigger.note
    return facts


@settings(max_examples=300, deadline=None)
@given(offence=st.sampled_from(sorted(RULES.offences)), figures=figures, day=days, scale=scales)
def test_an_entrys_facts_made_once_equal_the_facts_made_again(
        offence: Offence, figures: Figures, day: date | None, scale: Decimal | None) -> None:
    """The entry's part of the facts is made once per entry (issue 14, session 8): each
    call's facts equal, in order and in JSON, the facts made again, with containers of
    their own (an alert's facts share nothing with another's)."""
    for met in met_thresholds(offence, RULES.offences[offence], figures, day, scale):
        first, second, expected = met.facts(), met.facts(), reference_facts(met)
        assert first == second == expected
        assert list(first) == list(expected)
        assert json.dumps(first) == json.dumps(expected)
        assert first["minimums"] is not second["minimums"]
        assert first.get("flags") is None or first["flags"] is not second["flags"]
