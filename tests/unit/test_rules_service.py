"""The rules runner in process, over the in-memory case store and ledger: events raise and
resolve alerts, deadlines fire on the clock, failures are retried and never silently dropped,
the outbox survives a broker outage, replay is silent when nothing changed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import streams.memory as memory_store
import streams.rules_runner as runner_module
from audit.memory import InMemoryLedger, new_entry
from schemas.alert import Alert
from schemas.dsse import ALERT_PAYLOAD_TYPE, Envelope
from schemas.signing import SigningKey, verify_envelope_signature
from streams.memory import InMemoryCaseStore
from streams.rules import CaseState, load_rules
from streams.rules_runner import (
    RETRY_FAILED_APPLY,
    RETRY_FAILED_EVALUATION,
    CaseFold,
    RulesRunner,
    decode_event,
)
from tests.records import event_dict, signed

START = datetime.now(UTC).replace(microsecond=0)
HUB_KEY = SigningKey.generate()
AGENCY_KEY = SigningKey.generate()
RULES = load_rules()


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class BrokerDown(Exception):
    pass


class MemoryPublisher:
    """streams.ports.Publisher in memory; `down` makes every enqueue fail like a dead broker."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []
        self.down = False

    async def enqueue(self, topic: str, key: bytes | None, value: bytes,
                      headers: list[tuple[str, bytes]]) -> Awaitable[object]:
        if self.down:
            raise BrokerDown("broker down")
        self.sent.append((topic, key, value))
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def alerts(self) -> list[Alert]:
        found = []
        for topic, key, value in self.sent:
            envelope = Envelope.model_validate_json(value)
            assert topic == "linkage.alerts" and envelope.payload_type == ALERT_PAYLOAD_TYPE
            assert verify_envelope_signature(envelope, envelope.signatures[0].signature_bytes(),
                                             HUB_KEY.public_key)
            alert = Alert.model_validate_json(envelope.payload_bytes())
            assert key == alert.case_id.encode()
            found.append(alert)
        return found


def at(hours_ago: float) -> str:
    return (START - timedelta(hours=hours_ago)).isoformat()


def record(type_name: str, case_id: str, data: dict[str, Any]) -> bytes:
    return signed(AGENCY_KEY, "zs-aic",
                  event_dict("zs-aic", type_name, case_id, data=data)).value


def penalty_case(case_id: str) -> list[bytes]:
    """Over the threshold, fined, never transferred: PENALTY_INSTEAD_OF_TRANSFER."""
    return [
        record("case.opened", case_id, {
            "offence": "trademark_counterfeiting", "opened_at": at(5), "summary": "灯具",
            "parties": [{"kind": "organization", "id_type": "USCC",
                         "id_number": f"9144{uuid.uuid4().hex[:8]}", "name": "古镇某灯饰厂"}]}),
        record("case.assessed", case_id, {"assessed_at": at(4),
                                          "illegal_business_amount": "86000.00"}),
        record("penalty.decided", case_id, {"decision_no": "中工商罚〔2026〕9号",
                                            "decided_at": at(3), "fine": "20000.00",
                                            "confiscated": "0.00"}),
    ]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger() -> InMemoryLedger:
    return InMemoryLedger()


@pytest.fixture
def store(ledger: InMemoryLedger) -> InMemoryCaseStore:
    return InMemoryCaseStore(ledger)


@pytest.fixture
def runner(store: InMemoryCaseStore, clock: Clock) -> RulesRunner:
    return RulesRunner(store, HUB_KEY, RULES, clock=clock)


@pytest.fixture
def publisher() -> MemoryPublisher:
    return MemoryPublisher()


async def processed(store: InMemoryCaseStore, values: list[bytes]) -> set[str]:
    async with store.transaction() as tx:
        return await tx.processed([decode_event(v).event_id for v in values])


async def case(store: InMemoryCaseStore, case_id: str) -> CaseState:
    async with store.transaction() as tx:
        return (await tx.load_cases({case_id}))[case_id]


async def test_events_raise_a_signed_alert_once_and_redelivery_raises_nothing(
        runner: RulesRunner, store: InMemoryCaseStore, publisher: MemoryPublisher) -> None:
    values = penalty_case("PEN-1")
    transitions = await runner.process(values, publisher)
    assert [(t.alert.rule_id, t.previous, t.alert.status) for t in transitions] == [
        ("PENALTY_INSTEAD_OF_TRANSFER", None, "open")]
    [alert] = publisher.alerts()
    assert alert == transitions[0].alert and alert.facts["decision_no"] == "中工商罚〔2026〕9号"
    assert await store.open_count() == 1 and await store.unpublished_count() == 0
    assert await runner.process(values, publisher) == []
    assert await runner.process([values[1], b"{not json"], publisher) == []
    assert len(publisher.sent) == 1


async def test_a_deadline_fires_on_the_clock_without_a_new_event(
        runner: RulesRunner, clock: Clock, publisher: MemoryPublisher) -> None:
    approved = START - timedelta(hours=23)
    await runner.process([record("transfer.decided", "LATE-1", {
        "report_at": approved.isoformat(), "decided_at": approved.isoformat(),
        "approved": True})], publisher)
    assert await runner.tick(publisher) == [] and publisher.sent == []
    clock.now = approved + timedelta(hours=24) - timedelta(seconds=1)
    assert await runner.tick(publisher) == []
    clock.now += timedelta(seconds=2)
    [transition] = await runner.tick(publisher)
    assert (transition.alert.rule_id, transition.alert.status) == ("HANDOVER_LATE", "open")
    assert transition.alert.due_at == approved + timedelta(hours=24)
    assert [a.rule_id for a in publisher.alerts()] == ["HANDOVER_LATE"]
    assert await runner.tick(publisher) == []


@pytest.fixture
def failing_apply(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """Event ids whose application raises (a stand-in for a bug in the rules)."""
    broken: set[str] = set()
    real, real_read = runner_module.apply, runner_module.fold_read
    real_one = runner_module.applied_read

    def check(event: Any) -> None:
        if event.event_id in broken:
            raise KeyError(f"bug applying {event.event_id}")

    def apply(state: CaseState | None, event: Any) -> CaseState:
        check(event)
        return real(state, event)

    def fold_read(case_id: str, events: Any, state: CaseState | None = None) -> CaseState:
        events = list(events)
        for event, _ in events:
            check(event)
        return real_read(case_id, events, state)

    def applied_read(state: CaseState, event: Any, data: Any) -> CaseState:
        check(event)
        return real_one(state, event, data)

    # Every way the runner applies an event: the careful one and the read-once ones.
    monkeypatch.setattr(runner_module, "apply", apply)
    monkeypatch.setattr(runner_module, "fold_read", fold_read)
    monkeypatch.setattr(runner_module, "applied_read", applied_read)
    yield broken


async def test_an_event_that_fails_to_apply_is_parked_not_processed_and_retried(
        runner: RulesRunner, store: InMemoryCaseStore, clock: Clock,
        publisher: MemoryPublisher, failing_apply: set[str]) -> None:
    values = penalty_case("PARK-1")
    assessed = decode_event(values[1]).event_id
    failing_apply.add(assessed)
    assert await runner.process(values, publisher) == []  # below threshold without it
    assert await processed(store, values) == {decode_event(v).event_id for v in values} - {
        assessed}
    [parked] = await store.parked_events()
    assert (parked.event_id, parked.case_id, parked.record, parked.attempts) == (
        assessed, "PARK-1", values[1], 1)
    assert parked.retry_at == START + RETRY_FAILED_APPLY and "KeyError" in parked.error
    assert not (await case(store, "PARK-1")).has_event(assessed)

    clock.now = START + RETRY_FAILED_APPLY - timedelta(seconds=1)
    assert await runner.tick(publisher) == []  # not yet
    clock.now = START + RETRY_FAILED_APPLY
    assert await runner.tick(publisher) == []  # still broken: parked again
    [again] = await store.parked_events()
    assert again.attempts == 2 and again.retry_at == clock.now + RETRY_FAILED_APPLY

    failing_apply.clear()  # the bug is fixed
    clock.now += RETRY_FAILED_APPLY
    [transition] = await runner.tick(publisher)
    assert (transition.alert.rule_id, transition.alert.status) == (
        "PENALTY_INSTEAD_OF_TRANSFER", "open")
    assert await store.parked_events() == []
    assert assessed in await processed(store, values)
    assert (await case(store, "PARK-1")).has_event(assessed)
    assert await runner.process(values, publisher) == []  # redelivery: all processed now


async def test_a_case_whose_evaluation_fails_keeps_its_alerts_and_is_retried(
        runner: RulesRunner, store: InMemoryCaseStore, clock: Clock,
        publisher: MemoryPublisher, monkeypatch: pytest.MonkeyPatch) -> None:
    real = runner_module.assess

    def broken(state: CaseState, *args: Any) -> Any:
        if state.case_id == "EVAL-1":
            raise ZeroDivisionError("bug")
        return real(state, *args)

    monkeypatch.setattr(runner_module, "assess", broken)
    transitions = await runner.process([*penalty_case("EVAL-1"), *penalty_case("EVAL-2")],
                                       publisher)
    assert [t.alert.case_id for t in transitions] == ["EVAL-2"]  # the other case goes on
    monkeypatch.setattr(runner_module, "assess", real)
    clock.now = START + RETRY_FAILED_EVALUATION
    [transition] = await runner.tick(publisher)
    assert transition.alert.case_id == "EVAL-1"
    assert sorted(a.case_id for a in publisher.alerts()) == ["EVAL-1", "EVAL-2"]


async def test_the_outbox_keeps_alerts_while_the_broker_is_down(
        runner: RulesRunner, store: InMemoryCaseStore, publisher: MemoryPublisher) -> None:
    publisher.down = True
    values = penalty_case("OUT-1")
    with pytest.raises(BrokerDown):
        await runner.process(values, publisher)
    assert await store.unpublished_count() == 1 and await store.open_count() == 1
    with pytest.raises(BrokerDown):
        await runner.process(values, publisher)  # the worker's retry: nothing decided twice
    publisher.down = False
    await runner.tick(publisher)
    assert [a.case_id for a in publisher.alerts()] == ["OUT-1"]
    assert await store.unpublished_count() == 0
    assert await runner.publish_outbox(publisher) == 0


async def test_replay_from_the_ledger_is_silent_when_nothing_changed_and_fills_gaps(
        runner: RulesRunner, store: InMemoryCaseStore, ledger: InMemoryLedger,
        publisher: MemoryPublisher) -> None:
    values = penalty_case("RP-1")
    await runner.process(values, publisher)
    for value in values:
        event = decode_event(value)
        await ledger.append([new_entry(value, case_id=event.case_id)])
    fold = CaseFold()
    for entry in await ledger.entries():
        fold.add(entry.record)
    assert await runner.replay(fold.states) == []

    missed = penalty_case("RP-2")  # ledgered, but the runner never saw it
    for value in missed:
        await ledger.append([new_entry(value, case_id="RP-2")])
        fold.add(value)
    [transition] = await runner.replay({"RP-2": fold.states["RP-2"]})
    assert (transition.alert.case_id, transition.alert.status) == ("RP-2", "open")
    await runner.publish_outbox(publisher)
    assert sorted(a.case_id for a in publisher.alerts()) == ["RP-1", "RP-2"]


async def test_replay_refolds_a_case_that_gained_events_since_the_fold(
        runner: RulesRunner, store: InMemoryCaseStore, ledger: InMemoryLedger,
        publisher: MemoryPublisher) -> None:
    values = penalty_case("RF-1")
    stale = CaseFold()
    stale.add(values[0])  # the fold read the ledger before the other two were ledgered
    for value in values:
        await ledger.append([new_entry(value, case_id="RF-1")])
    await runner.process(values, publisher)
    assert await runner.replay(stale.states) == []  # no retraction from the stale fold
    assert (await case(store, "RF-1")).event_ids == tuple(
        sorted(decode_event(v).event_id for v in values))


def opened(case_id: str, number: str, hours_ago: float) -> bytes:
    return record("case.opened", case_id, {
        "offence": "trademark_counterfeiting", "opened_at": at(hours_ago), "summary": "灯具",
        "parties": [{"kind": "organization", "id_type": "USCC", "id_number": number,
                     "name": "古镇某灯饰厂"}]})


async def test_split_cases_follow_the_party_index_reading_it_once_per_unchanged_batch(
        runner: RulesRunner, store: InMemoryCaseStore, publisher: MemoryPublisher,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two parts of one party's conduct, each under the threshold, add up (SPLIT_CASES) and
    part ways when a case's party is corrected. A batch that moves no party reads the party
    index once for its cases (the neighbours of the cases it re-evaluates beside them once
    more), not again after the save and again for the evaluation."""
    party, other = "91442000MA4UAAAA15", "91442000MA4UBBBB1X"
    calls: list[list[str]] = []
    session_type = memory_store._Session
    real = session_type.neighbours

    async def counting(self: Any, case_ids: Any) -> dict[str, set[str]]:
        calls.append(sorted(case_ids))
        return await real(self, case_ids)

    monkeypatch.setattr(session_type, "neighbours", counting)
    await runner.process([opened("S-1", party, 30), opened("S-2", party, 29)], publisher)
    calls.clear()
    await runner.process([record("case.assessed", "S-1", {
        "assessed_at": at(20), "illegal_business_amount": "30000.00"})], publisher)
    assert calls == [["S-1"], ["S-2"]]  # S-1 before its change; S-2, re-evaluated beside it
    calls.clear()
    split = await runner.process([record("case.assessed", "S-2", {
        "assessed_at": at(19), "illegal_business_amount": "30000.00"})], publisher)
    assert calls == [["S-2"], ["S-1"]]
    assert sorted((t.alert.case_id, t.alert.rule_id, t.alert.status, t.previous)
                  for t in split) == [("S-1", "SPLIT_CASES", "open", None),
                                      ("S-2", "SPLIT_CASES", "open", None)]
    calls.clear()
    # S-2's party corrected (a later opening): the index moves, read again after the save.
    gone = await runner.process([opened("S-2", other, 18)], publisher)
    assert calls == [["S-2"], ["S-2"], ["S-1"]]
    assert sorted((t.alert.alert_id, t.alert.status, t.previous) for t in gone) == sorted(
        (t.alert.alert_id, "resolved", "open") for t in split)



async def test_a_tick_catches_up_from_the_ledger_only_when_asked(
        runner: RulesRunner, store: InMemoryCaseStore, ledger: InMemoryLedger,
        publisher: MemoryPublisher) -> None:
    """The worker's timer passes `catch_up` on every CATCH_UP_EVERY-th tick only: the
    other ticks leave a ledgered record linkage.events never delivered to a later one."""
    missed = penalty_case("CU-1")
    for value in missed:
        await ledger.append([new_entry(value, case_id="CU-1")])
    assert await runner.tick(publisher, catch_up=False) == []
    assert await processed(store, missed) == set()
    await runner.tick(publisher)
    assert await processed(store, missed) == {decode_event(v).event_id for v in missed}
    assert [a.case_id for a in publisher.alerts()] == ["CU-1"]
