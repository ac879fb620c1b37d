"""The case store port's contract (streams.ports.CaseStore), run against the in-memory store
and PostgresCaseStore: one unit of work per transaction, case rows and their party index,
processed and parked events, alerts and the ordered outbox."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import pytest

from audit.ledger import NewEntry
from audit.memory import InMemoryLedger
from hub.adapters import case_store
from hub.adapters.case_store import PostgresCaseStore
from hub.adapters.ledger_store import PostgresLedger
from hub.adapters.postgres import StoreError
from schemas.alert import Alert
from schemas.signing import SigningKey
from streams.memory import InMemoryCaseStore
from streams.ports import CaseStore, ParkedEvent
from streams.rules import CaseState, apply
from streams.rules_runner import decode_event
from tests.contracts.conftest import BACKENDS, PoolFactory
from tests.records import event_dict, signed

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
KEY = SigningKey.generate()


@dataclass
class Subject:
    store: CaseStore
    ledger: Any  # appends ledger rows that `ledger_records` reads
    twin: Callable[[], CaseStore]
    """Another process's store over the same data (in memory: the same store, one process)."""

    async def ledger_append(self, entries: Sequence[NewEntry]) -> None:
        await self.ledger(entries)


@pytest.fixture(params=BACKENDS)
async def subject(request: pytest.FixtureRequest, new_pool: PoolFactory) -> Subject:
    """create_case_store(): an empty store of each implementation, with its ledger."""
    if request.param == "memory":
        ledger = InMemoryLedger()
        memory = InMemoryCaseStore(ledger)
        return Subject(memory, ledger.append, lambda: memory)
    pool = await new_pool()

    async def append(entries: Sequence[NewEntry]) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await PostgresLedger(pool).append(conn, entries)

    return Subject(PostgresCaseStore(pool), append, lambda: PostgresCaseStore(pool))


@functools.cache
def opened(case_id: str) -> CaseState:
    """A case opened by an event whose party (tests.records' sample) every such case shares."""
    record = signed(KEY, "zs-aic", event_dict("zs-aic", "case.opened", case_id))
    return apply(CaseState(case_id=case_id), decode_event(record.value))


def assessed(state: CaseState, amount: str, at: datetime | None = None) -> CaseState:
    """`state` after one more assessment (a new event id each call), made now or `at`."""
    event = event_dict("zs-aic", "case.assessed", state.case_id)
    event["data"] = {"assessed_at": at.isoformat() if at else event["time"],
                     "illegal_business_amount": amount}
    return apply(state, decode_event(signed(KEY, "zs-aic", event).value))


async def stored(store: CaseStore, case_id: str) -> CaseState:
    async with store.transaction() as tx:
        return (await tx.lock_cases({case_id}))[case_id]


async def save(store: CaseStore, state: CaseState) -> None:
    async with store.transaction() as tx:
        await tx.lock_cases({state.case_id})
        await tx.save_cases([state])


def alert(alert_id: str, case_id: str, status: Literal["open", "resolved"] = "open",
          rule_id: str = "HANDOVER_LATE") -> Alert:
    return Alert(alert_id=alert_id, rule_id=rule_id, status=status, case_id=case_id,
                 agency="zs-aic", raised_at=NOW, due_at=None, legal_basis="SC Art 5",
                 facts={"n": 1}, message_zh="逾期。", message_en="Late.")


def ids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


class Boom(Exception):
    pass


async def test_a_transaction_commits_only_when_its_block_succeeds(subject: Subject) -> None:
    store = subject.store
    with pytest.raises(Boom):
        async with store.transaction() as tx:
            await tx.lock_cases({"C-1"})
            await tx.save_cases([opened("C-1")])
            await tx.mark_processed(ids(1))
            raise Boom
    async with store.transaction() as tx:
        assert await tx.load_cases({"C-1"}) == {}
        await tx.lock_cases({"C-1"})
        await tx.save_cases([opened("C-1")])
    async with store.transaction() as tx:
        assert (await tx.load_cases({"C-1"}))["C-1"] == opened("C-1")


async def test_events_are_marked_processed_once(subject: Subject) -> None:
    a, b, c = ids(3)
    async with subject.store.transaction() as tx:
        assert await tx.processed([a, b]) == set()
        await tx.mark_processed([a, b])
        await tx.mark_processed([b])
        await tx.mark_processed([])
    async with subject.store.transaction() as tx:
        assert await tx.processed([a, b, c]) == {a, b}


async def test_locking_creates_empty_cases_and_saving_stores_states(subject: Subject) -> None:
    async with subject.store.transaction() as tx:
        locked = await tx.lock_cases({"C-2", "C-1"})
        assert locked == {"C-1": CaseState(case_id="C-1"), "C-2": CaseState(case_id="C-2")}
        assert await tx.lock_cases(set()) == {}
        await tx.save_cases([opened("C-2")])
        await tx.save_cases([])
    async with subject.store.transaction() as tx:
        loaded = await tx.load_cases({"C-1", "C-2", "C-9"})
        assert loaded == {"C-1": CaseState(case_id="C-1"), "C-2": opened("C-2")}
        assert (await tx.lock_cases({"C-2"}))["C-2"] == opened("C-2")
        assert await tx.load_cases(set()) == {}


async def test_cases_created_with_their_state_are_stored_whole(subject: Subject) -> None:
    """lock_cases(initial=...): a case new to the store is created holding its state (party
    index, events and steps included), read back equal by another process; a case that
    exists keeps its stored state (its initial one is ignored); one not in `initial` is
    created empty."""
    old, shares, new = opened("C-1"), assessed(opened("C-2"), "90000.00"), opened("C-3")
    await save(subject.store, old)
    given = {"C-1": assessed(old, "5.00"), "C-2": shares, "C-3": new}
    async with subject.store.transaction() as tx:
        locked = await tx.lock_cases({"C-1", "C-2", "C-3", "C-4"}, initial=given)
        assert locked == {"C-1": old, "C-2": shares, "C-3": new,
                          "C-4": CaseState(case_id="C-4")}
        assert await tx.neighbours({"C-2"}) == {"C-2": {"C-1", "C-3"}}
        await tx.set_next_due({"C-2": NOW})
    async with subject.twin().transaction() as tx:
        assert await tx.load_cases({"C-1", "C-2", "C-3", "C-4"}) == {
            "C-1": old, "C-2": shares, "C-3": new, "C-4": CaseState(case_id="C-4")}
        assert list(await tx.lock_due(NOW, 10)) == ["C-2"]
        assert await tx.lock_cases({"C-5"}, initial={}) == {"C-5": CaseState(case_id="C-5")}


async def test_cases_sharing_a_party_are_neighbours(subject: Subject) -> None:
    async with subject.store.transaction() as tx:
        await tx.lock_cases({"C-1", "C-2", "C-3"})
        await tx.save_cases([opened("C-1"), opened("C-2")])  # C-3 has no party
        assert await tx.neighbours({"C-1", "C-3"}) == {"C-1": {"C-2"}}
        assert await tx.neighbours({"C-1", "C-2"}) == {"C-1": {"C-2"}, "C-2": {"C-1"}}
        await tx.save_cases([CaseState(case_id="C-2")])  # parties replaced: none left
        assert await tx.neighbours({"C-1", "C-2"}) == {}
        assert await tx.neighbours(set()) == {}


async def test_due_cases_are_locked_earliest_first(subject: Subject) -> None:
    async with subject.store.transaction() as tx:
        await tx.lock_cases({"C-1", "C-2", "C-3", "C-4"})
        await tx.set_next_due({"C-1": NOW + timedelta(minutes=1), "C-2": NOW,
                               "C-3": NOW - timedelta(hours=1), "C-4": None})
        await tx.set_next_due({})
    async with subject.store.transaction() as tx:
        assert list(await tx.lock_due(NOW, 10)) == ["C-3", "C-2"]
        assert list(await tx.lock_due(NOW, 1)) == ["C-3"]
        assert list(await tx.lock_due(NOW + timedelta(days=1), 10)) == ["C-3", "C-2", "C-1"]
        await tx.set_next_due({"C-3": None})
        assert list(await tx.lock_due(NOW, 10)) == ["C-2"]


async def test_alerts_keep_their_latest_status_and_every_change_goes_to_the_outbox(
        subject: Subject) -> None:
    store = subject.store
    a1, a2, a3 = sorted(ids(3))
    async with store.transaction() as tx:
        await tx.record_alerts([alert(a2, "C-1"), alert(a1, "C-2", rule_id="SPLIT_CASES")],
                               [b"env-1", b"env-2"])
        await tx.record_alerts([], [])
    async with store.transaction() as tx:
        changed = [alert(a2, "C-1", "resolved"), alert(a3, "C-1")]
        await tx.record_alerts(changed, [b"env-3", b"env-4"],
                               [a.model_dump_json() for a in changed])  # JSON given: kept
        current = await tx.alerts_of({"C-1"})
        assert {i: a.status for i, a in current.items()} == {a2: "resolved", a3: "open"}
        assert await tx.alerts_of(set()) == {}
    assert await store.open_count() == 2
    assert await store.unpublished_count() == 4
    assert [a.alert_id for a in await store.list_alerts()] == [a1, a2, a3]
    assert [a.alert_id for a in await store.list_alerts(status="open")] == [a1, a3]
    assert await store.list_alerts(status="resolved", case_id="C-1") == [
        alert(a2, "C-1", "resolved")]
    async with store.transaction() as tx:
        rows = await tx.lock_unpublished(3)
        assert [(r.alert_id, r.rule_id, r.status, r.case_id, r.envelope) for r in rows] == [
            (a2, "HANDOVER_LATE", "open", "C-1", b"env-1"),
            (a1, "SPLIT_CASES", "open", "C-2", b"env-2"),
            (a2, "HANDOVER_LATE", "resolved", "C-1", b"env-3")]
        assert rows[0].seq < rows[1].seq < rows[2].seq
        await tx.mark_published([rows[0].seq, rows[1].seq])
    async with store.transaction() as tx:
        assert [r.envelope for r in await tx.lock_unpublished(10)] == [b"env-3", b"env-4"]
    assert await store.unpublished_count() == 2


async def test_alerts_of_cases_read_without_alerts_are_stored_and_queued_alike(
        subject: Subject) -> None:
    """The runner's order (read the cases' alerts, then record): a case found without
    alerts, then given some in the same transaction, keeps its latest status; a case that
    has alerts or was not read takes the same alerts alike (PostgresCaseSession takes a
    plain INSERT for the first, the upsert for the others)."""
    store = subject.store
    a1, a2, a3, a4 = sorted(ids(4))
    async with store.transaction() as tx:
        await tx.record_alerts([alert(a1, "C-1")], [b"env-1"])
    async with store.transaction() as tx:
        assert await tx.alerts_of({"C-2", "C-3"}) == {}
        await tx.record_alerts([alert(a2, "C-2"), alert(a3, "C-3")], [b"env-2", b"env-3"])
        # Given alerts by this session: no longer a case without alerts.
        await tx.record_alerts([alert(a2, "C-2", "resolved")], [b"env-4"])
        assert {i: a.status for i, a in (await tx.alerts_of({"C-2", "C-3"})).items()} == {
            a2: "resolved", a3: "open"}
        assert set(await tx.alerts_of({"C-1", "C-4"})) == {a1}
        # C-1 has an alert and C-5 was not read: the careful way, with C-4's alike.
        await tx.record_alerts([alert(a4, "C-4"), alert(a1, "C-1", "resolved")],
                               [b"env-5", b"env-6"])
        await tx.record_alerts([alert(a4, "C-4", "resolved")], [b"env-7"])
    assert {a.alert_id: (a.case_id, a.status) for a in await store.list_alerts()} == {
        a1: ("C-1", "resolved"), a2: ("C-2", "resolved"), a3: ("C-3", "open"),
        a4: ("C-4", "resolved")}
    async with store.transaction() as tx:
        rows = await tx.lock_unpublished(10)
    assert [(r.alert_id, r.status, r.case_id, r.envelope) for r in rows] == [
        (a1, "open", "C-1", b"env-1"), (a2, "open", "C-2", b"env-2"),
        (a3, "open", "C-3", b"env-3"), (a2, "resolved", "C-2", b"env-4"),
        (a4, "open", "C-4", b"env-5"), (a1, "resolved", "C-1", b"env-6"),
        (a4, "resolved", "C-4", b"env-7")]
    assert [r.seq for r in rows] == sorted(r.seq for r in rows)


async def test_a_new_alert_whose_row_exists_after_all_rolls_the_transaction_back(
        new_pool: PoolFactory) -> None:
    """PostgreSQL (session 11): alerts of cases read without alerts are inserted, not
    upserted. Were an alert id's row one of another case's (never, for the engine's ids:
    uuid5 over rule, case and trigger), the INSERT fails and nothing of the transaction
    stays: the alert keeps its row, the outbox its envelopes."""
    store = PostgresCaseStore(await new_pool())
    (a1,) = ids(1)
    async with store.transaction() as tx:
        await tx.record_alerts([alert(a1, "C-1")], [b"env-1"])
    with pytest.raises(StoreError):
        async with store.transaction() as tx:
            assert await tx.alerts_of({"C-2"}) == {}
            await tx.record_alerts([alert(a1, "C-2", "resolved")], [b"env-2"])
    assert await store.list_alerts() == [alert(a1, "C-1")]
    assert await store.unpublished_count() == 1


async def test_parked_events_wait_for_their_retry_time_and_count_attempts(
        subject: Subject) -> None:
    store = subject.store
    e1, e2 = sorted(ids(2))
    later = NOW + timedelta(minutes=5)
    async with store.transaction() as tx:
        await tx.park([ParkedEvent(e1, "C-1", b"record-1", "KeyError: x", NOW),
                       ParkedEvent(e2, "C-2", b"record-2", "ValueError: y", later)])
        await tx.park([])
    async with store.transaction() as tx:
        due = await tx.lock_parked(NOW, 10)
        assert due == [ParkedEvent(e1, "C-1", b"record-1", "KeyError: x", NOW, 1)]
        assert await tx.lock_parked(later, 1) == due
        await tx.park([ParkedEvent(e1, "C-1", b"record-1", "KeyError: z", later)])
    assert [(p.event_id, p.error, p.retry_at, p.attempts) for p in await store.parked_events()
            ] == [(e1, "KeyError: z", later, 2), (e2, "ValueError: y", later, 1)]
    async with store.transaction() as tx:
        assert await tx.lock_parked(NOW, 10) == []
        await tx.unpark([e1])
        await tx.unpark([])
        assert [p.event_id for p in await tx.lock_parked(later, 10)] == [e2]
    async with store.transaction() as tx:
        assert await tx.processed([e1]) == set()  # parking never marks an event processed
    assert [p.event_id for p in await store.parked_events()] == [e2]


async def test_marking_parked_events_processed_unparks_them_in_the_same_statement(
        new_pool: PoolFactory) -> None:
    """PostgreSQL (session 6): the runner's mark_processed + unpark of the same ids is one
    statement; unpark still deletes ids mark_processed was not given, and the rows stay
    when the transaction rolls back."""
    store = PostgresCaseStore(await new_pool())
    e1, e2, e3 = ids(3)
    async with store.transaction() as tx:
        await tx.park([ParkedEvent(e, "C-1", b"r", "KeyError: x", NOW) for e in (e1, e2, e3)])
    with pytest.raises(Boom):
        async with store.transaction() as tx:
            await tx.mark_processed([e1])
            raise Boom
    assert len(await store.parked_events()) == 3
    async with store.transaction() as tx:
        await tx.mark_processed([e1, e2])
        assert len(await store.parked_events()) == 3  # another connection: not committed yet
        assert sorted(p.event_id for p in await tx.lock_parked(NOW, 10)) == [e3]
        await tx.unpark([e1, e2, e3])
        assert await tx.processed([e1, e2, e3]) == {e1, e2}
    assert await store.parked_events() == []


async def test_ledger_records_of_a_case_come_in_ledger_order(subject: Subject) -> None:
    def entry(n: int, case_id: str) -> NewEntry:
        return NewEntry(str(uuid.uuid4()), "zs-aic", case_id, "case.opened", NOW, NOW, "k",
                        b"record %d" % n)

    await subject.ledger_append([entry(0, "C-1"), entry(1, "C-2"), entry(2, "C-1")])
    async with subject.store.transaction() as tx:
        assert await tx.ledger_records("C-1") == [b"record 0", b"record 2"]
        assert await tx.ledger_records("C-9") == []


async def test_the_ledger_cursor_yields_settled_unprocessed_records_once(subject: Subject) -> None:
    """The catch-up's view of the ledger: from the cursor, records received before the
    cut-off and not processed, and where to move the cursor; fresher ones wait."""
    entries = [NewEntry(str(uuid.uuid4()), "zs-aic", f"C-{i}", "case.opened", NOW,
                        NOW + timedelta(seconds=i), "k", f"record {i}".encode())
               for i in range(4)]
    await subject.ledger_append(entries)
    async with subject.store.transaction() as tx:
        assert await tx.lock_cursor() == 0
        await tx.mark_processed([entries[1].event_id])
        records, after = await tx.unprocessed_since(0, NOW + timedelta(seconds=2.5), 10)
        assert (records, after) == ([b"record 0", b"record 2"], 3)  # 3 is not settled yet
        await tx.set_cursor(after)
    async with subject.store.transaction() as tx:
        assert await tx.lock_cursor() == 3
        assert await tx.unprocessed_since(3, NOW, 10) == ([], 3)
        assert await tx.unprocessed_since(3, NOW + timedelta(minutes=1), 10) == (
            [b"record 3"], 4)
        assert await tx.unprocessed_since(0, NOW + timedelta(minutes=1), 2) == (
            [b"record 0"], 2)


async def test_the_ledger_cursor_stops_at_the_first_fresh_record(subject: Subject) -> None:
    """Two ingress workers stamp `received_at` before taking the append lock, so a fresher
    entry may precede a settled one: the cursor stops before it instead of passing it
    unread, and the settled one behind it waits with it."""
    late = [NewEntry(str(uuid.uuid4()), "zs-aic", f"C-{i}", "case.opened", NOW,
                     NOW + timedelta(seconds=at), "k", f"record {i}".encode())
            for i, at in enumerate([0, 5, 1])]
    await subject.ledger_append(late)
    async with subject.store.transaction() as tx:
        assert await tx.unprocessed_since(0, NOW + timedelta(seconds=2.5), 10) == (
            [b"record 0"], 1)
        assert await tx.unprocessed_since(1, NOW + timedelta(seconds=2.5), 10) == ([], 1)
        assert await tx.unprocessed_since(1, NOW + timedelta(seconds=6), 10) == (
            [b"record 1", b"record 2"], 3)


async def test_a_case_saved_by_another_process_is_read_as_saved(subject: Subject) -> None:
    """Two writers of one case (e.g. the rules process and `rules replay`): each reads the
    other's last committed state, whatever it read or saved itself before (issue 14: a
    process may keep parsed states, never past a change of the row)."""
    mine, theirs = subject.store, subject.twin()
    first = opened("C-1")
    await save(mine, first)
    assert await stored(mine, "C-1") == first
    second = assessed(first, "60000.00")
    await save(theirs, second)
    assert await stored(mine, "C-1") == second
    third = assessed(second, "70000.00")
    await save(mine, third)
    assert await stored(theirs, "C-1") == third
    async with theirs.transaction() as tx:
        assert await tx.load_cases({"C-1"}) == {"C-1": third}


async def test_a_rolled_back_save_is_never_read_back(subject: Subject) -> None:
    """A save whose transaction rolls back leaves no trace, even when another process then
    saves the case once (the row's version moves on as if the first save had happened)."""
    mine, theirs = subject.store, subject.twin()
    first = opened("C-1")
    await save(mine, first)
    with pytest.raises(Boom):
        async with mine.transaction() as tx:
            await tx.lock_cases({"C-1"})
            await tx.save_cases([assessed(first, "60000.00")])
            raise Boom
    assert await stored(theirs, "C-1") == first
    other = assessed(first, "10.00")
    await save(theirs, other)
    assert await stored(mine, "C-1") == other


async def test_steps_saved_in_or_out_of_order_read_back_as_saved(subject: Subject) -> None:
    """A step sorting last (PostgreSQL appends it to the stored list), one sorting first (the
    list is written again), two saves in one transaction: another process reads each state."""
    state = assessed(opened("C-1"), "10.00", NOW)
    await save(subject.store, state)
    for at in (NOW + timedelta(hours=1), NOW - timedelta(hours=1)):
        state = assessed(state, "20.00", at)
        await save(subject.store, state)
        assert await stored(subject.twin(), "C-1") == state
    async with subject.store.transaction() as tx:
        await tx.lock_cases({"C-1"})
        state = assessed(state, "30.00", NOW + timedelta(hours=2))
        await tx.save_cases([state])
        state = assessed(state, "40.00", NOW + timedelta(hours=3))
        await tx.save_cases([state])
    assert [a.amounts["illegal_business_amount"] for a in state.assessments] == [
        Decimal(v) for v in ("20.00", "10.00", "20.00", "30.00", "40.00")]
    assert await stored(subject.twin(), "C-1") == state


async def test_a_saved_case_with_new_parties_moves_in_the_party_index(subject: Subject) -> None:
    """Saving a case read in the same transaction (stored as a patch by PostgreSQL) keeps the
    party index in step: parties gained and lost, and unchanged parties kept."""
    await save(subject.store, CaseState(case_id="C-2"))
    await save(subject.store, opened("C-1"))
    async with subject.store.transaction() as tx:
        await tx.lock_cases({"C-2"})
        await tx.save_cases([opened("C-2")])
        assert await tx.neighbours({"C-1"}) == {"C-1": {"C-2"}}
    await save(subject.store, assessed(await stored(subject.store, "C-2"), "5.00"))
    async with subject.store.transaction() as tx:
        assert await tx.neighbours({"C-1"}) == {"C-1": {"C-2"}}
        await tx.lock_cases({"C-2"})
        await tx.save_cases([CaseState(case_id="C-2")])
        assert await tx.neighbours({"C-1"}) == {}
    assert await stored(subject.twin(), "C-2") == CaseState(case_id="C-2")


async def test_postgres_parses_a_case_only_when_its_row_changed(
        new_pool: PoolFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14: locking a case this process read or saved, unchanged since, costs no parse of
    its state JSON (the rules' cost per event must not grow with the case); a save by another
    process (another store) is parsed once, then reused."""
    parsed: list[str] = []
    original = case_store.stored_state

    def counting(text: str) -> CaseState:
        state = original(text)
        parsed.append(state.case_id)
        return state

    monkeypatch.setattr(case_store, "stored_state", counting)
    pool = await new_pool()
    mine, theirs = PostgresCaseStore(pool), PostgresCaseStore(pool)
    first = opened("C-1")
    await save(mine, first)
    parsed.clear()
    for _ in range(3):
        assert await stored(mine, "C-1") == first
    assert parsed == []
    second = assessed(first, "60000.00")
    await save(theirs, second)
    assert parsed == ["C-1"]  # theirs had never read it
    for _ in range(3):
        assert await stored(mine, "C-1") == second
    async with mine.transaction() as tx:
        assert await tx.load_cases({"C-1"}) == {"C-1": second}
    assert parsed == ["C-1", "C-1"]
