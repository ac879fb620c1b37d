"""Split cases and screening signals on a backfill of 双公示 penalty records from several agencies.

The records become events exactly as `connectors.penalty.mapping` makes them (case.opened and
penalty.decided at the decision date, ids deterministic); the agencies then send the figures of
their case files as case.assessed. Every arrival order of the same events yields the same
alerts (hypothesis permutations), and the split across agencies appears although every part
was already fined (docs/rules.md reading 9: I-2004 Art 12 as a prosecutor reads it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.penalty.mapping import decided_at, map_penalty_record
from connectors.penalty.records import DisclosedPenalty, PartyCategory, RowError
from streams.rules import AlertDecision, CaseEvent, CaseState, apply, evaluate, load_rules

RULES = load_rules()
NOW = datetime(2025, 12, 1, tzinfo=UTC)
PARTY = "91442000MA4UAAAA15"  # valid GB 32100 check character
OTHER_PARTY = "91442000MA4UBBBB2X"

# (agency, decision number, party, decision date, fine in yuan, illegal business amount or None)
ROWS: list[tuple[str, str, str, date, str, str | None]] = [
    ("zs-aic", "中工商罚〔2025〕11号", PARTY, date(2025, 3, 3), "8000.00", "20000.00"),
    ("zs-customs", "中关缉违字〔2025〕7号", PARTY, date(2025, 4, 1), "6000.00", "15000.00"),
    ("zs-qts", "中质监罚〔2025〕3号", PARTY, date(2025, 5, 6), "7000.00", "18000.00"),
    ("zs-aic", "中工商罚〔2025〕12号", OTHER_PARTY, date(2025, 4, 1), "9000.00", "30000.00"),
]


def record(row: int, decision_no: str, party: str, day: date, fine: str) -> DisclosedPenalty:
    return DisclosedPenalty(
        row_number=row,
        party_name="中山市某灯饰有限公司",
        party_category=PartyCategory.ORGANIZATION,
        uscc=party,
        decision_no=decision_no,
        violation_type="侵犯注册商标专用权",
        facts="在灯具上使用假冒注册商标",
        fine_yuan=Decimal(fine),
        decision_date=day,
    )


def backfill(with_figures: bool) -> list[CaseEvent]:
    events: list[CaseEvent] = []
    for row, (agency, decision_no, party, day, fine, amount) in enumerate(ROWS, start=2):
        mapped = map_penalty_record(
            record(row, decision_no, party, day, fine), agency_id=agency, now=NOW
        )
        assert not isinstance(mapped, RowError), mapped
        for hub_event in mapped:
            events.append(
                CaseEvent(
                    event_id=hub_event.event_id,
                    type_name=hub_event.type_name,
                    agency=agency,
                    case_id=hub_event.case_id,
                    time=hub_event.time,
                    data=hub_event.data,
                )
            )
        if with_figures and amount is not None:
            assessed = decided_at(day).replace(hour=10)
            events.append(
                CaseEvent(
                    event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{agency}/{decision_no}/figures")),
                    type_name="case.assessed",
                    agency=agency,
                    case_id=mapped[0].case_id,
                    time=assessed,
                    data={"assessed_at": assessed.isoformat(), "illegal_business_amount": amount},
                )
            )
    return events


def judge(events: Iterable[CaseEvent]) -> dict[str, list[AlertDecision]]:
    states: dict[str, CaseState] = {}
    for event in events:
        states[event.case_id] = apply(states.get(event.case_id), event)
    return {
        case_id: evaluate(
            state,
            RULES,
            NOW,
            [o for o in states.values() if o.case_id != case_id and o.party_keys & state.party_keys],
        )
        for case_id, state in sorted(states.items())
    }


def rules_of(alerts: Sequence[AlertDecision]) -> set[str]:
    return {f"{a.rule_id}:{a.status}" for a in alerts}


WITH_FIGURES = backfill(with_figures=True)
BASELINE = judge(WITH_FIGURES)
PARTY_CASES = sorted(
    case_id for case_id in BASELINE if not case_id.endswith("12号")
)


def test_the_parts_fined_by_three_agencies_add_up_to_a_split() -> None:
    assert len(PARTY_CASES) == 3
    for case_id in PARTY_CASES:
        alerts = {a.rule_id: a for a in BASELINE[case_id]}
        split = alerts["SPLIT_CASES"]
        assert split.status == "open"
        assert split.facts["aggregate"] == {"illegal_business_amount": "53000.00"}
        assert split.facts["penalised_cases"] == PARTY_CASES
        assert split.facts["act_dates_known"] is False
        assert split.raised_at == datetime.fromisoformat("2025-05-06T10:00:00+08:00")
        assert "MULTI_AGENCY_PENALTIES" in alerts
        assert "（筛查信号" in alerts["MULTI_AGENCY_PENALTIES"].message_zh
    other = next(c for c in BASELINE if c.endswith("12号"))
    assert BASELINE[other] == []


def test_without_figures_the_backfill_shows_the_screening_signals_but_no_split() -> None:
    judged = judge(backfill(with_figures=False))
    rules = {case_id: rules_of(judged[case_id]) for case_id in PARTY_CASES}
    assert all("SPLIT_CASES:open" not in found for found in rules.values())
    assert all("MULTI_AGENCY_PENALTIES:open" in found for found in rules.values())
    # every later fine is of a party already fined (acts dated by the decisions: unknown)
    assert sum("REPEAT_PARTY:open" in found for found in rules.values()) == 2


@settings(max_examples=40, deadline=None)
@given(st.permutations(WITH_FIGURES))
def test_any_arrival_order_raises_the_same_alerts(order: list[CaseEvent]) -> None:
    assert judge(order) == BASELINE
