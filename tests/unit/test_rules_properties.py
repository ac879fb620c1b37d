"""Properties of the engine over generated case lifecycles (hypothesis).

A generated lifecycle takes every step the law asks for, each within its deadline, with random
gaps: opened, assessed (over or under a threshold), and if transferred: report, approval within
72 h of the figures, handover within 24 h, acceptance within 72 h, a filing decision within 72 h,
then either seized items handed over within 72 h of filing, or (non-filing of a case over the
threshold) reconsideration, supervision, explanation (then the agency's penalty) or ordered
filing, each in time. 72 hours
from any instant never passes the end of the third calendar day, so these steps are on time
whatever the holidays.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.rules import CaseEvent, CaseState, apply, evaluate, fold, load_rules, next_due
from streams.rules.calendar import ONE_TICK, SHANGHAI
from tests.records import OWN_TIME

RULES = load_rules()
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DOCS = ["transfer_letter", "investigation_report", "seized_items_list", "inspection_report"]

# offence -> (figure, amount over its threshold, amount under every threshold)
FIGURES = {
    "trademark_counterfeiting": ("illegal_business_amount", "60000.00", "20000.00"),
    "shoddy_products": ("sales_amount", "75000.00", "10000.00"),
    "copyright_infringement": ("illegal_gains", "31000.00", "500.00"),
    "other": ("illegal_business_amount", "900000.00", "1.00"),
}


class Timeline:
    """Builds one case's events; each step's time is the previous one plus a drawn gap."""

    def __init__(self, case_id: str, party: str) -> None:
        self.case_id = case_id
        self.party = party
        self.events: list[CaseEvent] = []

    def add(
        self, event_type: str, at: datetime, /, agency: str = "zs-aic", **data: Any
    ) -> datetime:
        own = OWN_TIME[event_type]
        payload = {own: at.isoformat(), **data}
        n = len(self.events)
        self.events.append(
            CaseEvent(
                event_id=str(uuid.uuid5(uuid.NAMESPACE_OID, f"{self.case_id}/{n}")),
                type_name=event_type,
                agency=agency,
                case_id=self.case_id,
                time=at,
                data=payload,
            )
        )
        return at


gap = st.integers(min_value=0, max_value=72 * 60).map(lambda m: timedelta(minutes=m))
short_gap = st.integers(min_value=0, max_value=24 * 60).map(lambda m: timedelta(minutes=m))
starts = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 9, 30)).map(
    lambda t: t.replace(tzinfo=SHANGHAI, microsecond=0)
)


@st.composite
def lifecycle(draw: st.DrawFn, case_id: str = "C1", party: str = "P1", delay: str = "") -> Timeline:
    """A compliant lifecycle; `delay` names one step to push 40 days past its deadline."""
    late = timedelta(days=40)
    offence = draw(st.sampled_from(sorted(FIGURES)))
    figure, over_amount, under_amount = FIGURES[offence]
    over = offence != "other" and draw(st.booleans())
    line = Timeline(case_id, party)
    t = line.add(
        "case.opened",
        draw(starts),
        offence=offence,
        summary="s",
        parties=[{"kind": "person", "id_type": "ID", "id_number": party, "name": "张"}],
    )
    t = line.add("case.assessed", t + draw(gap), **{figure: over_amount if over else under_amount})
    if not (over or draw(st.booleans())):
        if draw(st.booleans()):
            line.add(
                "penalty.decided", t + draw(gap), decision_no="P", fine="1.00", confiscated="0.00"
            )
        return line
    report = t + draw(short_gap) + (late if delay == "approval" else timedelta())
    t = line.add(
        "transfer.decided", report + draw(short_gap), report_at=report.isoformat(), approved=True
    )
    t += draw(short_gap) + (late if delay == "handover" else timedelta())
    t = line.add(
        "case.transferred",
        t,
        to_agency="zs-psb",
        documents=[{"kind": kind, "title": kind, "sha256": "0" * 64} for kind in DOCS],
    )
    if draw(st.booleans()):
        line.add("penalty.decided", t + draw(gap), decision_no="P", fine="1.00", confiscated="0.00")
    t += draw(gap) + (late if delay == "acceptance" else timedelta())
    t = line.add("transfer.accepted", t, agency="zs-psb", receipt_no="R")
    t += draw(gap) + (late if delay == "filing" else timedelta())
    filed = not over or draw(st.booleans())
    if draw(st.booleans()) or filed:
        t = line.add("filing.decided", t, agency="zs-psb", filed=True)
        line.add(
            "evidence.handed_over", t + draw(gap), handover_id="H", to_agency="zs-psb", items=[]
        )
        return line
    t = line.add("filing.decided", t, agency="zs-psb", filed=False, reasons="r")
    t = line.add("reconsideration.requested", t + draw(gap))
    t = line.add("reconsideration.decided", t + draw(gap), agency="zs-psb", upheld=True)
    t = line.add("supervision.requested", t + draw(gap), reasons="r")
    kind = draw(st.sampled_from(["none", "explain_non_filing", "order_filing"]))
    if kind == "none":
        return line
    t = line.add(
        "supervision.issued",
        t + draw(gap),
        agency="zs-procuratorate",
        kind=kind,
        to_agency="zs-psb",
    )
    if kind == "explain_non_filing":
        # the refusal stands after the explanation: the agency then owes the penalty due
        # (PENALTY_AFTER_NON_FILING, SC Art 10), unless it decided one already
        t = line.add("filing.decided", t + draw(gap) * 2, agency="zs-psb", filed=False,
                     reasons="说明")
        line.add("penalty.decided", t + draw(gap), decision_no="P", fine="1.00", confiscated="0.00")
        return line
    t = line.add("filing.decided", t + draw(gap) * 4, agency="zs-psb", filed=True)
    line.add("evidence.handed_over", t + draw(gap), handover_id="H", to_agency="zs-psb", items=[])
    return line


def last_time(events: list[CaseEvent]) -> datetime:
    return max(event.time for event in events)


def state_of(events: list[CaseEvent]) -> CaseState:
    state = fold(events)
    assert state is not None
    return state


@SETTINGS
@given(line=lifecycle(), after=st.integers(min_value=0, max_value=60 * 24 * 60))
def test_a_case_whose_every_step_met_its_deadline_raises_nothing(
    line: Timeline, after: int
) -> None:
    now = last_time(line.events) + timedelta(minutes=after)
    alerts = evaluate(state_of(line.events), RULES, now)
    assert alerts == [], [a.message_en for a in alerts]


@SETTINGS
@given(line=lifecycle(), after=st.integers(min_value=-30 * 24 * 60, max_value=60 * 24 * 60))
def test_evaluate_is_deterministic(line: Timeline, after: int) -> None:
    now = last_time(line.events) + timedelta(minutes=after)
    state = state_of(line.events)
    assert evaluate(state, RULES, now) == evaluate(state_of(line.events), RULES, now)
    assert next_due(state, RULES, now) == next_due(state, RULES, now)


@SETTINGS
@given(data=st.data())
def test_a_permutation_of_one_cases_events_changes_nothing(data: st.DataObject) -> None:
    line = data.draw(lifecycle(delay=data.draw(st.sampled_from(["", "approval", "filing"]))))
    shuffled = data.draw(st.permutations(line.events))
    now = last_time(line.events) + timedelta(days=data.draw(st.integers(0, 60)))
    state = state_of(line.events)
    assert state_of(list(shuffled)) == state
    assert evaluate(state_of(list(shuffled)), RULES, now) == evaluate(state, RULES, now)


@SETTINGS
@given(data=st.data())
def test_interleaving_events_of_different_cases_changes_nothing(data: st.DataObject) -> None:
    first = data.draw(lifecycle("C1", "P1", delay=data.draw(st.sampled_from(["", "acceptance"]))))
    second = data.draw(lifecycle("C2", "P2"))
    stream = data.draw(st.permutations(first.events + second.events))
    states: dict[str, CaseState] = {}
    for event in stream:
        states[event.case_id] = apply(states.get(event.case_id), event)
    now = max(last_time(first.events), last_time(second.events)) + timedelta(days=45)
    for line in (first, second):
        alone = state_of(line.events)
        assert states[line.case_id] == alone
        assert evaluate(states[line.case_id], RULES, now) == evaluate(alone, RULES, now)


@SETTINGS
@given(
    data=st.data(),
    delay=st.sampled_from(["approval", "handover", "acceptance", "filing"]),
)
def test_a_step_taken_late_is_caught(data: st.DataObject, delay: str) -> None:
    line = data.draw(lifecycle(delay=delay))
    expected = {
        "approval": "SHOULD_TRANSFER",
        "handover": "HANDOVER_LATE",
        "acceptance": "NOT_ACCEPTED",
        "filing": "FILING_OVERDUE",
    }[delay]
    kinds = {event.type_name for event in line.events}
    reached = {
        "approval": "transfer.decided",
        "handover": "case.transferred",
        "acceptance": "transfer.accepted",
        "filing": "transfer.accepted",
    }[delay]
    over = any(
        "60000" in str(e.data) or "75000" in str(e.data) or "31000" in str(e.data)
        for e in line.events
        if e.type_name == "case.assessed"
    )
    if reached not in kinds or (delay == "approval" and not over):
        return  # the generated case never reached the delayed step
    now = last_time(line.events) + timedelta(days=1)
    rules = {alert.rule_id: alert.status for alert in evaluate(state_of(line.events), RULES, now)}
    assert rules.get(expected) == "resolved", rules


@SETTINGS
@given(data=st.data())
def test_next_due_is_where_the_result_changes_and_content_never_depends_on_now(
    data: st.DataObject,
) -> None:
    line = data.draw(lifecycle())
    # Drop the tail of the lifecycle so that something is pending.
    cut = data.draw(st.integers(min_value=2, max_value=len(line.events)))
    events = line.events[:cut]
    state = state_of(events)
    now = last_time(events) + timedelta(minutes=data.draw(st.integers(0, 5 * 24 * 60)))
    before = evaluate(state, RULES, now)
    due = next_due(state, RULES, now)
    if due is None:
        assert evaluate(state, RULES, now + timedelta(days=400)) == before
        return
    assert due > now
    assert evaluate(state, RULES, due - ONE_TICK) == before
    after = evaluate(state, RULES, due)
    assert len(after) > len(before)
    assert all(alert in after for alert in before)  # same ids, same content, same status


def test_assess_is_evaluate_and_next_due_in_one_pass() -> None:
    """`assess` must agree with the two separate calls it replaces."""
    from datetime import UTC, datetime, timedelta

    from streams.rules import CaseEvent, apply, assess, evaluate, load_rules, next_due

    rules = load_rules()
    opened = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    state = None
    for i, (name, data) in enumerate([
        ("case.opened", {"offence": "shoddy_products", "opened_at": opened.isoformat(),
                         "summary": "s", "parties": [{"kind": "organization", "id_type": "USCC",
                                                      "id_number": "X", "name": "n"}]}),
        ("case.assessed", {"assessed_at": opened.isoformat(), "sales_amount": "80000.00"}),
    ]):
        state = apply(state, CaseEvent(event_id=f"00000000-0000-0000-0000-00000000000{i}",
                                       type_name=name, agency="zs-qts", case_id="P-1",
                                       time=opened, data=data))
    assert state is not None
    for now in (opened + timedelta(hours=1), opened + timedelta(days=10)):
        result = assess(state, rules, now)
        assert result.decisions == evaluate(state, rules, now)
        assert result.next_due == next_due(state, rules, now)
    assert assess(state, rules, opened + timedelta(days=10)).decisions  # overdue by then


# -- several cases of one party, every kind of event (contract v1.1 included) ----------------

PARTIES = [("USCC", "91442000MA4UAAAA15"), ("统一社会信用代码", "91442000ma4uaaaa15"),
           ("身份证", "442000198001011239")]
AGENCIES = ["zs-aic", "zs-customs", "zs-qts", "zs-culture"]
moments = st.datetimes(min_value=datetime(2024, 6, 1), max_value=datetime(2026, 6, 1)).map(
    lambda t: t.replace(tzinfo=SHANGHAI, microsecond=0)
)
amounts = st.integers(min_value=10_000, max_value=55_000).map(lambda n: f"{n}.00")


@st.composite
def party_history(draw: st.DrawFn, case_id: str) -> Timeline:
    """One case of a shared party: any subset of steps, at any times, in any order of time."""
    id_type, number = draw(st.sampled_from(PARTIES))
    agency = draw(st.sampled_from(AGENCIES))
    line = Timeline(case_id, number)
    opened = draw(moments)
    opening: dict[str, Any] = {
        "offence": draw(st.sampled_from(["trademark_counterfeiting", "infringing_copies_sale"])),
        "summary": "案情",
        "parties": [{"kind": "organization", "id_type": id_type, "id_number": number,
                     "name": "某公司"}],
    }
    if draw(st.booleans()):
        opening["committed_at"] = (opened - timedelta(days=draw(st.integers(0, 400)))).isoformat()
    if draw(st.booleans()):
        opening["clue_id"] = "Q1"
    line.add("case.opened", opened, agency=agency, **opening)
    for _ in range(draw(st.integers(0, 2))):
        figure = draw(st.sampled_from(["illegal_business_amount", "illegal_gains"]))
        line.add("case.assessed", draw(moments), agency=agency, **{figure: draw(amounts)})
    if draw(st.booleans()):
        line.add("penalty.decided", draw(moments), agency=agency, decision_no=f"罚-{case_id}",
                 fine=draw(amounts), confiscated="0.00")
    if draw(st.booleans()):
        line.add("filing.decided", draw(moments), agency="zs-psb", filed=False, reasons="不构成犯罪")
    if draw(st.booleans()):
        line.add("opinion.issued", draw(moments), agency="zs-procuratorate", opinion_id="OP1",
                 to_agency=agency, proposal="administrative_penalty", summary="建议处罚")
        reasons = draw(st.sampled_from(["", "已过时效"]))
        line.add("opinion.replied", draw(moments), agency=agency, opinion_id="OP1",
                 outcome=draw(st.sampled_from(["no_penalty", "penalty_imposed"])), reasons=reasons)
    if draw(st.booleans()):
        line.add("clue.received", draw(moments), agency=agency, clue_id="Q1",
                 channel="hotline_12345", summary="举报", reporter_named=draw(st.booleans()))
        if draw(st.booleans()):
            line.add("clue.answered", draw(moments), agency=agency, clue_id="Q1",
                     outcome="case_opened")
    return line


def judge_all(events: list[CaseEvent], now: datetime) -> dict[str, Any]:
    states: dict[str, CaseState] = {}
    for event in events:
        states[event.case_id] = apply(states.get(event.case_id), event)
    judged: dict[str, Any] = {}
    for case_id, state in sorted(states.items()):
        related = [o for o in states.values() if o.case_id != case_id and o.party_keys & state.party_keys]
        judged[case_id] = (evaluate(state, RULES, now, related), next_due(state, RULES, now))
    return judged


@SETTINGS
@given(data=st.data())
def test_the_same_events_of_one_partys_cases_raise_the_same_alerts_in_any_order(
    data: st.DataObject,
) -> None:
    lines = [data.draw(party_history(f"C{i}")) for i in range(data.draw(st.integers(2, 4)))]
    events = [event for line in lines for event in line.events]
    shuffled = list(data.draw(st.permutations(events)))
    for now in (datetime(2025, 6, 1, tzinfo=SHANGHAI), datetime(2026, 9, 1, tzinfo=SHANGHAI)):
        expected = judge_all(events, now)
        assert judge_all(shuffled, now) == expected
        assert judge_all(shuffled + shuffled[: len(shuffled) // 2], now) == expected  # redelivery
