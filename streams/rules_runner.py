"""The rules layer at work: fold accepted events into case states, evaluate, record alert changes.

Three drivers share one path (`RulesRunner._reevaluate`: evaluate the locked cases, diff
against the stored alerts, record the changes and their signed envelopes in the outbox, set
each case's next deadline), each in one transaction of the case store (streams.ports.CaseStore;
PostgreSQL in the hub, in memory in tests):

* `process`: a batch from `linkage.events` (the ledgered DSSE envelopes, bytes unchanged);
* `sweep`: cases whose next deadline has passed, so an alert fires on time with no new event;
* `replay`: case states folded from the ledger (`linkage-hub rules replay`).

A failure is a bug (the records are ledgered, so valid by construction) and never blocks the
other cases; both kinds are tried again after the same delay, by the worker's timer: a case
whose evaluation raised keeps its alerts and is re-evaluated `RETRY_FAILED_EVALUATION` later;
an event whose application raised is parked, not marked processed, and applied again from
`RETRY_FAILED_APPLY` on (`retry_parked`), so the case never silently lacks it.

After the commit, `publish_outbox` sends every unpublished envelope to `linkage.alerts` (key =
case id), waits for the broker's acks and marks them published; a crash in between leaves them
in the outbox for the next call (at-least-once; consumers dedupe by alert id and status).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import ValidationError

from schemas import topics
from schemas.alert import Alert
from schemas.cloudevent import CloudEvent
from schemas.dsse import ALERT_PAYLOAD_TYPE, Envelope
from schemas.envelope_signer import EnvelopeSigner
from schemas.events import EventData
from schemas.model_json import json_bytes
from schemas.signing import SigningKey
from streams import metrics
from streams.ledger_records import read_record
from streams.ports import CaseSession, CaseStore, Clock, ParkedEvent, Publisher, utc_now
from streams.rules import (
    SHANGHAI,
    CaseEvent,
    CaseEventError,
    CaseState,
    ConfigError,
    RuleSet,
    apply,
    assess,
    load_rules,
)
from streams.rules._quick import quick_init
from streams.rules.case_state import EventHead, Sent
from streams.rules.fold import applied_read, fold_read, parse_event_data

log = logging.getLogger(__name__)

RULES_ENV = "LINKAGE_RULES"
OVERRIDE_ENV = "LINKAGE_RULES_OVERRIDE"
CALENDAR_ENV = "LINKAGE_CALENDAR_OVERRIDE"

SWEEP_LIMIT = 500
CATCH_UP_LIMIT = 1000
CATCH_UP_SETTLE = timedelta(seconds=10)
"""The ledger catch-up leaves records younger than this to linkage.events."""
CATCH_UP_EVERY = 5
"""The worker's timer (1 s) catches up from the ledger on every this many ticks.

Design decision (session 8, issue 14): every call reads the ledger from the cursor until the
first entry younger than CATCH_UP_SETTLE (at most CATCH_UP_LIMIT of them), so at 300 events/s
a call every second read about 1,000 entries to move the cursor by 300: 5-6 µs of PostgreSQL
CPU per event (bench/ingress.py --pg-statements). Every five seconds it reads about 1,500
settled entries and up to 500 fresh ones a call. A record linkage.events lost is folded at
most ~15 s after it was received instead of ~11 s: the catch-up is the safety net for a
broker that lost its data, not the live path."""
PUBLISH_LIMIT = 500
RETRY_FAILED_EVALUATION = timedelta(minutes=5)
"""A case whose evaluation raised (a bug) is looked at again this much later."""
RETRY_FAILED_APPLY = RETRY_FAILED_EVALUATION
"""An event whose application raised (a bug) is parked and applied again this much later."""

Status = Literal["open", "resolved"]

_NO_CASES: frozenset[str] = frozenset()


def rules_from_env(
    env: Mapping[str, str] | None = None,
    *,
    rules_path: str | None = None,
    override_path: str | None = None,
) -> RuleSet:
    """The rule set: the shipped file or LINKAGE_RULES, with LINKAGE_RULES_OVERRIDE and
    LINKAGE_CALENDAR_OVERRIDE merged in; explicit paths win. ConfigError if unusable."""
    env = os.environ if env is None else env
    return load_rules(
        rules_path or env.get(RULES_ENV) or None,
        override_path or env.get(OVERRIDE_ENV) or None,
        env.get(CALENDAR_ENV) or None,
    )


def startup_rules(env: Mapping[str, str] | None = None) -> RuleSet:
    """The worker's rule set; a bad file stops the start-up with one line per bad field."""
    try:
        return rules_from_env(env)
    except ConfigError as exc:
        raise SystemExit(
            "规则文件无效，工作进程拒绝启动 / bad rule file, the worker refuses to start\n"
            + exc.diagnostics()
        ) from exc


# -- decoding ------------------------------------------------------------------------------


class BadEvent(ValueError):
    """A `linkage.events` value that is not a DSSE envelope over a CloudEvent."""


def decode_event(value: bytes) -> CaseEvent:
    """The case event inside an accepted record (the DSSE envelope exactly as ledgered)."""
    try:
        envelope = Envelope.model_validate_json(value)
        return CaseEvent.from_cloudevent(CloudEvent.model_validate_json(envelope.payload_bytes()))
    except (ValidationError, ValueError) as exc:
        raise BadEvent(f"不是可读的事件 / not a readable event: {exc}") from exc


@quick_init
@dataclass(frozen=True)
class Accepted:
    """One accepted record as the runner folds it: the event, the record's bytes (kept to park
    it), and its data when `read_record` validated it already (else `apply` validates it).
    One is made per record: its `__init__` sets the fields at once (`quick_init`)."""

    event: CaseEvent | EventHead
    record: bytes
    data: EventData | None = None

    def applied_to(self, state: CaseState) -> CaseState:
        """`state` (of the event's case) with the event applied; CaseEventError if it cannot."""
        if self.data is None:
            assert isinstance(self.event, CaseEvent)
            return apply(state, self.event)
        return applied_read(state, self.event, self.data)


def read_accepted(value: bytes) -> Accepted:
    """A `linkage.events` record read once (`streams.ledger_records.read_record`: about a
    third of the careful path's CPU, issue 14) where that can vouch for the result, else by
    `decode_event`; BadEvent if it is no event at all."""
    read = read_record(value)
    if read is None:
        return Accepted(decode_event(value), value)
    return Accepted(read[0], value, read[1])


class CaseFold:
    """Case states folded in memory from accepted records (ledger replay, benchmarks).

    Records are read as they are added (`streams.ledger_records.read_record`, else the
    careful `decode_event` and `parse_event_data`) and kept per case; `states` folds each
    case's new events at once (`streams.rules.fold.fold_read`), equal to applying them in
    turn (issue 14: one state per case instead of one per event)."""

    def __init__(self) -> None:
        self._states: dict[str, CaseState] = {}
        self._pending: dict[str, dict[str, tuple[Sent, EventData]]] = {}
        self.events = 0
        self.bad = 0

    def add(self, value: bytes) -> None:
        """Read one record; an unreadable or inapplicable one is counted and skipped."""
        self.extend((value,))

    def extend(self, values: Iterable[bytes]) -> None:
        """`add` each record in turn (a ledger page of them: `rules replay`)."""
        # One call a page, not a record, its lookups made once (issue 14, session 13: the
        # call of `add` and its attribute reads for each record were 1,300-1,800
        # instructions a case, of ~430,000, in bench/fold.py under callgrind).
        pending_of, states, read_of = self._pending, self._states, read_record
        events = 0
        try:
            for value in values:
                read = read_of(value)
                if read is None:
                    self._add_careful(value)
                    continue
                # What `_add_careful` does with the event and data `read_record` vouched
                # for, the pair kept as it is (issue 14, session 11: no exception handler,
                # no second pair, the state looked up only for an event id not pending).
                head = read[0]
                case_id, event_id = head.case_id, head.event_id
                pending = pending_of.get(case_id)
                if pending is None or event_id not in pending:
                    state = states.get(case_id)
                    if state is None or not state.has_event(event_id):
                        if pending is None:
                            pending_of[case_id] = {event_id: read}
                        else:
                            pending[event_id] = read
                events += 1
        finally:
            self.events += events

    def _add_careful(self, value: bytes) -> None:
        """`add` of a record `read_record` declined: read by the careful path."""
        try:
            event = decode_event(value)
            pending = self._pending.get(event.case_id)
            state = self._states.get(event.case_id)
            # An event id the case has seen is ignored before its data is looked at (`apply`).
            if not ((pending is not None and event.event_id in pending)
                    or (state is not None and state.has_event(event.event_id))):
                data = parse_event_data(event)
                if pending is None:
                    pending = self._pending[event.case_id] = {}
                pending[event.event_id] = (event, data)
        except (BadEvent, CaseEventError) as exc:
            self.bad += 1
            log.warning("跳过无法应用的记录 / skipping a record the rules cannot apply: %s", exc)
        else:
            self.events += 1

    @property
    def states(self) -> dict[str, CaseState]:
        """Each case's state after every record added so far."""
        for case_id, events in self._pending.items():
            self._states[case_id] = fold_read(case_id, events.values(),
                                              self._states.get(case_id))
        self._pending.clear()
        return self._states


# -- the diff (pure) -----------------------------------------------------------------------


@quick_init
@dataclass(frozen=True)
class Transition:
    """An alert whose status changes: `alert` is the payload to store and publish."""

    alert: Alert
    previous: Status | None


def retracted(alert: Alert, now: datetime) -> Alert:
    """An open alert the facts no longer support (e.g. figures revised down), as resolved."""
    return alert.model_copy(update={
        "status": "resolved",
        "facts": {**alert.facts, "resolution": "no_longer_supported",
                  "resolved_at": now.astimezone(SHANGHAI).isoformat()},
        "message_zh": alert.message_zh.removesuffix("。") + "；现有事实已不再支持该预警，予以解除。",
        "message_en": alert.message_en.removesuffix(".")
        + "; the facts no longer support it: resolved.",
    })


def diff_alerts(
    previous: Mapping[str, Alert],
    decisions: Iterable[Alert],
    evaluated: Collection[str],
    now: datetime,
    *,
    retract_unsupported: bool = True,
) -> list[Transition]:
    """What to record and publish, from the stored alerts and the engine's decisions.

    `previous`: the stored alert of each alert id (its last published status); `decisions`:
    the engine's output for the cases in `evaluated`. A decision whose id is new, or whose
    status differs from the stored one, is a transition (new open; open -> resolved; a
    resolved-only decision records a late act; resolved -> open reopens). An open alert of an
    evaluated case that the engine no longer returns is resolved as unsupported, unless
    `retract_unsupported` is false. Unchanged alerts yield nothing, so a re-run is silent.
    """
    decided: dict[str, Alert] = {}
    for decision in decisions:
        decided[decision.alert_id] = decision
    changes: list[Transition] = []
    for alert_id, decision in decided.items():
        before = previous.get(alert_id)
        if before is None or before.status != decision.status:
            changes.append(Transition(decision, before.status if before else None))
    if retract_unsupported:
        for alert_id in sorted(previous):
            before = previous[alert_id]
            if (alert_id not in decided and before.status == "open"
                    and before.case_id in evaluated):
                changes.append(Transition(retracted(before, now), "open"))
    return changes


def alert_envelope(hub_key: SigningKey | EnvelopeSigner, alert: Alert,
                   payload: bytes | None = None) -> bytes:
    """The hub-signed DSSE envelope of an alert (contract section 4); `payload`, when given,
    must be `json_bytes(alert)` (the caller keeps it for the alert's row). The runner
    passes its `EnvelopeSigner` of alerts: the envelope written directly, not through
    pydantic's model (issue 14: that cost a third of signing an alert in a replay)."""
    if payload is None:
        payload = json_bytes(alert)
    if isinstance(hub_key, SigningKey):
        hub_key = EnvelopeSigner(hub_key, ALERT_PAYLOAD_TYPE)
    return hub_key(payload)


# -- the runner ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    """How many due cases one sweep re-evaluated, and the alert changes it recorded."""

    cases: int
    transitions: list[Transition]


class RulesRunner:
    """Event processing, the deadline sweep, ledger replay and the outbox publisher."""

    def __init__(
        self, store: CaseStore, hub_key: SigningKey, rules: RuleSet, clock: Clock = utc_now
    ) -> None:
        self._store = store
        self._sign_alert = EnvelopeSigner(hub_key, ALERT_PAYLOAD_TYPE)
        self._rules = rules
        self._clock = clock
        self._publishing = asyncio.Lock()
        self._related = rules.needs_related()  # split cases and the party-history signals

    @property
    def store(self) -> CaseStore:
        return self._store

    # -- the shared path ----------------------------------------------------------------------

    async def _reevaluate(
        self,
        tx: CaseSession,
        states: Mapping[str, CaseState],
        now: datetime,
        *,
        retract: bool = True,
        neighbours: Mapping[str, AbstractSet[str]] | None = None,
    ) -> list[Transition]:
        """Evaluate these (row-locked) cases, record their alert changes and next deadlines.
        `neighbours`: the cases sharing a party with some of them, already known (every case
        it has a key for); the others' are read."""
        if self._related:
            known_neighbours = dict(neighbours or {})
            unknown = [c for c in states if c not in known_neighbours]
            neighbours = {**known_neighbours, **await tx.neighbours(unknown)}
        else:
            neighbours = {}
        wanted = set().union(*neighbours.values()) - states.keys()
        known = {**await tx.load_cases(wanted), **states}
        previous = await tx.alerts_of(states)
        decisions: list[Alert] = []
        evaluated: set[str] = set()
        due: dict[str, datetime | None] = {}
        for case_id in sorted(states):
            state = states[case_id]
            related = [known[o] for o in sorted(neighbours.get(case_id, ())) if o in known]
            try:
                assessment = assess(state, self._rules, now, related)
                found = assessment.decisions
                due[case_id] = assessment.next_due
            except Exception:  # a bug must not stop every other case: keep its alerts as they are
                log.exception("评估案件失败 / evaluating case %s failed", case_id)
                due[case_id] = now + RETRY_FAILED_EVALUATION
                continue
            decisions += found
            evaluated.add(case_id)
        transitions = diff_alerts(previous, decisions, evaluated, now, retract_unsupported=retract)
        alerts = [t.alert for t in transitions]
        # Dumped once, as bytes: signed as they are, decoded once for the row (issue 14:
        # `model_dump_json` then `.encode` cost ~1.2 µs more an alert, schemas/model_json.py).
        # Signed through `alert_envelope`, the one definition of an alert's envelope (session
        # 12 called the signer directly instead: one Python call an alert less, ~0.3 µs a
        # case, not worth a second way of signing alerts).
        payloads = [json_bytes(a) for a in alerts]
        await tx.record_alerts(
            alerts, [alert_envelope(self._sign_alert, a, p) for a, p in zip(alerts, payloads,
                                                                         strict=True)],
            [p.decode("utf-8") for p in payloads])
        await tx.set_next_due(due)
        return transitions

    # -- linkage.events ---------------------------------------------------------------------

    async def decide(self, values: Sequence[bytes]) -> list[Transition]:
        """Fold a batch of accepted records into their cases and record alert changes, in one
        transaction; events already processed are skipped, events that fail to apply parked."""
        events: dict[str, Accepted] = {}
        for value in values:
            try:
                accepted = read_accepted(value)
            except BadEvent as exc:
                log.error("跳过无法解析的事件 / skipping an unreadable event: %s", exc)
                continue
            events.setdefault(accepted.event.event_id, accepted)
        if not events:
            return []
        now = self._clock()
        async with self._store.transaction() as tx:
            return await self._decide_in(tx, list(events.values()), now)

    async def _decide_in(
        self, tx: CaseSession, events: Sequence[Accepted], now: datetime
    ) -> list[Transition]:
        done = await tx.processed([a.event.event_id for a in events])
        fresh = [a for a in events if a.event.event_id not in done]
        if not fresh:
            return []
        states = await tx.lock_cases({a.event.case_id for a in fresh})
        before = await tx.neighbours(states) if self._related else {}
        parties = {case_id: state.parties for case_id, state in states.items()}
        changed: dict[str, CaseState] = {}
        applied: list[str] = []
        failed: list[ParkedEvent] = []
        for accepted in fresh:
            event = accepted.event
            current = states[event.case_id]
            try:
                updated = accepted.applied_to(current)
            except Exception as exc:  # a bug must not block the batch: park the event, retry
                retry_at = now + RETRY_FAILED_APPLY
                log.exception("事件无法应用，已搁置，%s 重试 / event %s cannot be applied, parked "
                              "until %s", retry_at.isoformat(), event.event_id, retry_at.isoformat())
                failed.append(ParkedEvent(event.event_id, event.case_id, accepted.record,
                                          f"{type(exc).__name__}: {exc}", retry_at))
                continue
            applied.append(event.event_id)
            if updated is not current:
                states[event.case_id] = changed[event.case_id] = updated
        await tx.mark_processed(applied)
        await tx.unpark(applied)
        await tx.park(failed)
        metrics.RULES_EVENTS_PARKED.inc(len(failed))
        if not changed:
            return []
        await tx.save_cases(list(changed.values()))
        locked = dict(changed)
        if not self._related:
            return await self._reevaluate(tx, locked, now)
        # Cases sharing a party, before or after this batch, may gain or lose a split-case
        # alert: re-evaluate them too, under their own row locks. A batch that changes no
        # case's parties (the usual one) leaves the party index as `before` read it.
        if any(changed[c].parties != parties[c] for c in changed):
            after = await tx.neighbours(changed)
        else:
            after = before
        # Only the cases that share a party are looked up (issue 14, session 9: the bench's
        # cases share none, and two empty sets and their union a case were made to say so).
        others = set().union(*(before[c] for c in changed if c in before),
                             *(after[c] for c in changed if c in after))
        locked.update(await tx.lock_cases(others - changed.keys()))
        return await self._reevaluate(
            tx, locked, now, neighbours={c: after.get(c, _NO_CASES) for c in changed})

    async def retry_parked(self, limit: int = SWEEP_LIMIT) -> SweepResult:
        """Apply again up to `limit` parked events whose retry time has come (those that fail
        again stay parked, one more attempt counted); `cases` counts the events tried."""
        now = self._clock()
        async with self._store.transaction() as tx:
            parked = await tx.lock_parked(now, limit)
            if not parked:
                return SweepResult(0, [])
            events = [read_accepted(p.record) for p in parked]
            return SweepResult(len(parked), await self._decide_in(tx, events, now))

    async def process(self, values: Sequence[bytes], publisher: Publisher) -> list[Transition]:
        """decide + publish the outbox; raises StoreUnavailable for the caller to retry."""
        transitions = await self.decide(values)
        await self.publish_outbox(publisher)
        return transitions

    # -- catching up from the ledger ---------------------------------------------------------

    async def catch_up(self, limit: int = CATCH_UP_LIMIT,
                       settle: timedelta = CATCH_UP_SETTLE) -> int:
        """Fold ledgered records that linkage.events never delivered; returns how many ledger
        records it looked at (`limit` means: there may be more).

        The ledger is the source of truth: from the stored cursor on, every record received
        more than `settle` ago and not in `processed_events` is folded exactly as if it had
        come from the topic (in ledger order), and the cursor moves past what was looked at.
        Fresh records are left to the topic, so the two paths rarely meet; when they do,
        `processed_events` and `apply` (idempotent per event id) make it harmless.
        """
        now = self._clock()
        async with self._store.transaction() as tx:
            start = await tx.lock_cursor()
            if start is None:
                return 0
            records, next_index = await tx.unprocessed_since(start, now - settle, limit)
            events = []
            for value in records:
                try:
                    events.append(read_accepted(value))
                except BadEvent as exc:
                    log.error("跳过无法解析的账本记录 / skipping an unreadable ledger record: %s",
                              exc)
            if events:
                log.warning("从账本补处理 %d 个事件 / catching up %d events from the ledger",
                            len(events), len(events))
                await self._decide_in(tx, events, now)
            if next_index != start:
                await tx.set_cursor(next_index)
            return next_index - start

    # -- deadlines --------------------------------------------------------------------------

    async def sweep(self, limit: int = SWEEP_LIMIT) -> SweepResult:
        """Re-evaluate up to `limit` cases whose next deadline has passed (skipping locked ones)."""
        now = self._clock()
        async with self._store.transaction() as tx:
            due = await tx.lock_due(now, limit)
            if not due:
                return SweepResult(0, [])
            return SweepResult(len(due), await self._reevaluate(tx, due, now))

    async def tick(self, publisher: Publisher, *, max_rounds: int = 20,
                   catch_up: bool = True) -> list[Transition]:
        """The worker's timer: catch up from the ledger (unless `catch_up` is false: the
        worker does it every CATCH_UP_EVERY ticks), retry parked events and sweep every due
        case (bounded), publish the outbox, gauges."""
        transitions: list[Transition] = []
        while catch_up and await self.catch_up() == CATCH_UP_LIMIT:
            pass
        for _ in range(max_rounds):
            retried = await self.retry_parked()
            transitions += retried.transitions
            if retried.cases < SWEEP_LIMIT:
                break
        for _ in range(max_rounds):
            result = await self.sweep()
            transitions += result.transitions
            if result.cases < SWEEP_LIMIT:
                break
        await self.publish_outbox(publisher)
        metrics.ALERTS_OPEN.set(await self._store.open_count())
        return transitions

    # -- replay -----------------------------------------------------------------------------

    async def replay(
        self, states: Mapping[str, CaseState], *, retract: bool = True
    ) -> list[Transition]:
        """Store these ledger-folded states (merged with what the store has) and re-evaluate
        them, in one transaction. A stored state holding events the fold lacks (ledgered
        since the fold read the ledger) is re-folded from that case's ledger records."""
        now = self._clock()
        async with self._store.transaction() as tx:
            # A case new to the store is created holding its folded state (written once).
            stored = await tx.lock_cases(states, initial=states)
            merged: dict[str, CaseState] = {}
            for case_id, current in stored.items():
                folded = states[case_id]
                # A case this replay created holds the folded state itself: nothing to compare
                # (two sets of its event ids a case, issue 14, session 7).
                if current is not folded and not set(current.event_ids) <= set(folded.event_ids):
                    refold = CaseFold()
                    for record in await tx.ledger_records(case_id):
                        refold.add(record)
                    folded = refold.states.get(case_id, current)
                merged[case_id] = folded
            # A case whose stored state already is the folded one (the usual case: the worker
            # saw every event) is not written again: no JSON, no row version, no party index.
            await tx.save_cases([s for c, s in merged.items()
                                 if s is not stored[c] and s != stored[c]])
            return await self._reevaluate(tx, merged, now, retract=retract)

    # -- publishing -------------------------------------------------------------------------

    async def publish_outbox(self, publisher: Publisher, limit: int = PUBLISH_LIMIT) -> int:
        """Publish every unpublished alert envelope in order, await the acks, mark them.

        The rows stay locked while the broker acknowledges (at most the producer's timeout
        when the broker is down): that is deliberate. A second publisher (the CLI's replay
        next to the worker's timer) skips locked rows instead of sending them again out of
        order, and marking happens in the transaction that locked them, so an envelope is
        never marked without its ack nor sent twice by two live publishers.
        """
        published = 0
        async with self._publishing:
            while True:
                async with self._store.transaction() as tx:
                    rows = await tx.lock_unpublished(limit)
                    if not rows:
                        return published
                    acks = [await publisher.enqueue(topics.ALERTS, row.case_id.encode("utf-8"),
                                                    row.envelope, []) for row in rows]
                    await asyncio.gather(*acks)
                    await tx.mark_published([row.seq for row in rows])
                for row in rows:
                    metrics.ALERTS_PUBLISHED.labels(row.rule_id, row.status).inc()
                published += len(rows)
                if len(rows) < limit:
                    return published
