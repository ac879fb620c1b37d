"""Ingress processing: verify a batch of records, settle each one's single outcome in one
store transaction, then publish events, quarantine and signed receipts.

Effects are keyed so that redelivery is harmless: a record seen before (same topic,
partition, offset and bytes) gets its stored outcome again; an event id already in the
ledger is a duplicate. The caller acknowledges the Kafka offsets only after `process`
returns, i.e. after the commit and the publishes were acknowledged.

Failures and what they mean (streams/errors.py):

- StoreUnavailable leaves `process`: the caller backs off and retries the same batch.
- Anything else while settling a batch (the database refused it, or the hub's own code
  failed) is not retried as is: the batch is split in halves until the record at fault is
  alone, and that record is *parked* (IngressStore.park: kept with the evidence, a metric, a
  log line; no receipt, because it is not the agency's fault). Every other record of the
  batch gets its outcome, so one record cannot hold its partition. `linkage-hub parked
  retry` re-runs parked records through `process` once the cause is fixed.
- A crash inside verification parks that record the same way (it used to be receipted as
  MALFORMED_EVENT, blaming the agency for a hub bug).
"""

from __future__ import annotations

import base64
import logging
import math
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from prometheus_client import Histogram
from pybase64 import b64encode
from pydantic_core import to_json

from audit.ledger import LedgerEntry, NewEntry
from schemas import topics
from schemas.cloudevent import CANONICAL_UUID
from schemas.dsse import RECEIPT_PAYLOAD_TYPE
from schemas.envelope_signer import EnvelopeSigner
from schemas.reasons import Reason
from schemas.receipt import Receipt, ReceiptStatus
from schemas.signing import SigningKey
from schemas.topics import topic_agency
from streams import metrics
from streams.errors import PARK_HUB_BUG, StoreUnavailable, evidence_of, park_reason
from streams.ports import (
    BatchPublisher,
    Clock,
    IngressRecord,
    IngressStore,
    IngressUnit,
    ParkedRecord,
    StoredOutcome,
    utc_now,
)
from streams.verification import (
    RegistrySnapshot,
    Rejected,
    VerifiedEvent,
    key_revoked,
    verify_record,
)

__all__ = ["IngressProcessor", "IngressRecord", "Outcome", "Parked", "quarantine_headers",
           "receipt_envelope", "receipt_signer", "stored_receipt"]

log = logging.getLogger(__name__)

REGISTRY_TTL = 1.0
"""Seconds a registry snapshot is trusted: a revoked key stops verifying within this time."""


class Effect(NamedTuple):
    """One record to publish: topic, key, value, headers (a streams.ports.OutRecord, so a
    batch's effects go to BatchPublisher.publish_all as they are)."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class Outcome:
    """The single outcome of one record, with the effects to publish for it.

    Not frozen: `_decide` sets `effects` on the outcome it built (a copy with
    `dataclasses.replace` cost ~3 µs an event); nothing changes an outcome after that."""

    record: IngressRecord
    status: ReceiptStatus
    event_id: str | None
    received_at: datetime
    reason: str | None = None
    detail: str | None = None
    ledger_index: int | None = None
    leaf_hash: bytes | None = None
    case_id: str | None = None
    replayed: bool = False
    receipted: bool = True
    """False when the topic's agency is not registered: it has no receipts topic."""
    effects: tuple[Effect, ...] = ()
    """What to publish, built (and signed) inside the unit that committed the outcome."""

    @property
    def agency_id(self) -> str:
        return topic_agency(self.record.topic) or "unknown"

    def stored(self) -> StoredOutcome:
        return StoredOutcome(
            self.record.record_key, self.status, self.event_id, self.received_at, self.reason,
            self.detail, self.ledger_index, self.leaf_hash,
            self.record.value if self.status is ReceiptStatus.REJECTED else None)


@dataclass(frozen=True)
class Parked:
    """A record the hub could not settle; kept in the store for operators (no receipt)."""

    record: IngressRecord
    parked: ParkedRecord


@dataclass(frozen=True)
class Crashed:
    """The verdict when verification itself failed: a hub bug, never the agency's fault."""

    evidence: str


Verdict = VerifiedEvent | Rejected | Crashed
Settled = Outcome | Parked


def _receipt_fields(stored: StoredOutcome) -> dict[str, Any]:
    """The receipt's members of a stored outcome, in the Receipt model's order: the one
    definition, so that a receipt rebuilt from the store (HTTP ingress, GET
    /api/v1/receipts) signs to the very bytes sent on Kafka."""
    return {
        "event_id": stored.event_id,
        "status": stored.status.value,
        "reason": stored.reason,
        "detail": stored.detail,
        "ledger_index": stored.ledger_index,
        "leaf_hash": base64.b64encode(stored.leaf_hash).decode() if stored.leaf_hash else None,
        "received_at": stored.received_at,
        "record_sha256": stored.key[3].hex(),
    }


def stored_receipt(stored: StoredOutcome) -> Receipt:
    """The receipt of a stored outcome, as the model."""
    return Receipt(**_receipt_fields(stored))


def receipt_signer(hub_key: SigningKey) -> EnvelopeSigner:
    """What signs receipts with the hub's key (built once per key: see EnvelopeSigner)."""
    return EnvelopeSigner(hub_key, RECEIPT_PAYLOAD_TYPE)


def receipt_envelope(signer: EnvelopeSigner, stored: StoredOutcome) -> bytes:
    """The hub-signed DSSE envelope of a stored outcome's receipt (contract section 3).

    Its payload is byte for byte the Receipt model's JSON (`stored_receipt(stored)
    .model_dump_json()`, tests/unit/test_receipt_bytes.py), written by pydantic's own
    serializer from the members without validating them into a model first: they come from
    the hub's own outcome (the model and its dump cost ~8 µs a receipt, more than a third
    of the signature); `receipt_payload` writes the common receipts' JSON itself."""
    return signer(receipt_payload(stored))


def receipt_payload(stored: StoredOutcome) -> bytes:
    """The receipt's JSON, `to_json(_receipt_fields(stored))` byte for byte.

    Design decision (issue 14, session 9): a receipt without reason and detail (every
    accepted record's) is written by one %-format: its event id canonical (hex digits and
    hyphens), its status an enum's ASCII value, its hashes base64 and hex, its index an int,
    so none needs escaping; its time is the batch's, serialized by pydantic once per batch
    (`_time_json`). The members' dict and pydantic's serializer cost ~5 µs a receipt against
    ~1.5 (timeit); any other receipt takes them (tests/unit/test_ingress_fast_codecs.py
    compares the two on hostile outcomes)."""
    event_id, index, leaf = stored.event_id, stored.ledger_index, stored.leaf_hash
    if (stored.reason is None and stored.detail is None and event_id is not None
            and type(index) is int and leaf and CANONICAL_UUID.match(event_id)):
        # A StrEnum member is the str of its value: encoded without the enum's Python-level
        # `value` property.
        return _ACCEPTED_JSON % (event_id.encode(), str.encode(stored.status), index,
                                 b64encode(leaf), _time_json(stored.received_at),
                                 stored.key[3].hex().encode())
    return to_json(_receipt_fields(stored))


_ACCEPTED_JSON = (b'{"event_id":"%b","status":"%b","reason":null,"detail":null,'
                  b'"ledger_index":%d,"leaf_hash":"%b","received_at":%b,"record_sha256":"%b"}')
_LAST_TIME: list[tuple[datetime | None, bytes]] = [(None, b"")]


def _time_json(at: datetime) -> bytes:
    """pydantic's JSON of a time, remembered for the last time object seen (a batch's outcomes
    share one: by identity, since equal times in other zones are written otherwise). The pair
    is read and replaced whole, so a caller on another thread never mixes two of them."""
    last, text = _LAST_TIME[0]
    if last is at:
        return text
    text = to_json(at)
    _LAST_TIME[0] = (at, text)
    return text


class IngressProcessor:
    """Turns batches of ingress records into committed outcomes and published effects."""

    def __init__(
        self,
        store: IngressStore,
        hub_key: SigningKey,
        registry: Callable[[], Awaitable[RegistrySnapshot]],
        clock: Clock = utc_now,
    ) -> None:
        self.store = store
        self._sign_receipt = receipt_signer(hub_key)
        self._load_registry = registry
        self._registry: RegistrySnapshot | None = None
        self._registry_read = 0.0
        self._clock = clock

    async def registry(self, refresh: bool = False) -> RegistrySnapshot:
        """The registry, re-read when older than REGISTRY_TTL so revocations take effect."""
        stale = time.monotonic() - self._registry_read > REGISTRY_TTL
        if self._registry is None or refresh or stale:
            self._registry = await self._load_registry()
            self._registry_read = time.monotonic()
        return self._registry

    async def _verify_all(
        self, records: Sequence[IngressRecord], now: datetime
    ) -> list[Verdict]:
        registry = await self.registry()
        results = [self._verify_one(r, registry, now) for r in records]
        retry = [i for i, r in enumerate(results)
                 if isinstance(r, Rejected) and r.reason is Reason.UNKNOWN_KEY]
        if retry:
            # A key may have been registered since the snapshot: re-read once and retry those.
            registry = await self.registry(refresh=True)
            again = [self._verify_one(records[i], registry, now) for i in retry]
            for i, result in zip(retry, again, strict=True):
                results[i] = result
        return results

    @staticmethod
    def _verify_one(record: IngressRecord, registry: RegistrySnapshot, now: datetime) -> Verdict:
        try:
            return verify_record(record.topic, record.key, record.value, registry, now)
        except Rejected as rejection:
            return rejection
        except Exception as exc:  # a hub bug: park the record, never blame the agency
            log.exception("verification crashed on %s:%s:%s", record.topic, record.partition,
                          record.offset)
            return Crashed(evidence_of(exc))

    # -- settling -------------------------------------------------------------------------

    async def settle(self, records: Sequence[IngressRecord]) -> list[Settled]:
        """Verify and commit the outcome of every record, or park it; nothing is published."""
        now = self._clock()
        verdicts = await self._verify_all(records, now)
        registry = await self.registry()
        results: list[Settled | None] = [None] * len(records)
        todo: list[int] = []
        for i, (record, verdict) in enumerate(zip(records, verdicts, strict=True)):
            if isinstance(verdict, Crashed):
                results[i] = await self._park(record, PARK_HUB_BUG, verdict.evidence, now)
            else:
                todo.append(i)
        await self._settle_or_split(records, verdicts, todo, results, registry, now)
        return [r for r in results if r is not None]

    async def _settle_or_split(
        self, records: Sequence[IngressRecord], verdicts: Sequence[Verdict], todo: list[int],
        results: list[Settled | None], registry: RegistrySnapshot, now: datetime,
    ) -> None:
        """One unit for `todo`; if it fails for any reason but unavailability, bisect."""
        if not todo:
            return
        try:
            async with self.store.unit() as unit:
                decided = await self._decide(unit, [records[i] for i in todo],
                                             [verdicts[i] for i in todo], registry, now)
        except StoreUnavailable:
            raise
        except Exception as exc:
            if len(todo) == 1:
                results[todo[0]] = await self._park(records[todo[0]], park_reason(exc),
                                                    evidence_of(exc), now)
                return
            log.warning("批次无法提交,二分查找出错记录 / batch of %d not settled, splitting it "
                        "to find the record at fault: %s", len(todo), evidence_of(exc))
            middle = len(todo) // 2
            await self._settle_or_split(records, verdicts, todo[:middle], results, registry, now)
            await self._settle_or_split(records, verdicts, todo[middle:], results, registry, now)
            return
        for i, outcome in zip(todo, decided, strict=True):
            results[i] = outcome

    async def _park(self, record: IngressRecord, reason: str, evidence: str,
                    now: datetime) -> Parked:
        parked = await self.store.park(record, reason, evidence, now)
        agency = topic_agency(record.topic) or "unknown"
        metrics.INGRESS_PARKED.labels(agency, reason).inc()
        log.error("记录已搁置,待运维处理 / record parked for operators: #%d %s:%d:%d (%s) %s",
                  parked.parked_id, record.topic, record.partition, record.offset, reason,
                  evidence)
        return Parked(record, parked)

    async def _decide(
        self,
        unit: IngressUnit,
        records: Sequence[IngressRecord],
        verdicts: Sequence[Verdict],
        registry: RegistrySnapshot,
        now: datetime,
    ) -> list[Outcome]:
        """Classify the batch inside one unit: replay, reject, append or duplicate."""
        seen = await unit.stored_outcomes([r.record_key for r in records])
        verdicts = await _recheck_revocations(unit, verdicts, now)
        candidates = [v.event_id for v in verdicts if isinstance(v, VerifiedEvent)]
        in_ledger = await unit.ledger_entries(candidates)
        outcomes: list[Outcome | None] = []
        to_append: list[tuple[int, VerifiedEvent]] = []
        batch_ids: set[str] = set()
        receipted_by_topic: dict[str, bool] = {}  # a batch has a few topics, many records
        for i, (record, verdict) in enumerate(zip(records, verdicts, strict=True)):
            receipted = receipted_by_topic.get(record.topic)
            if receipted is None:
                receipted = receipted_by_topic[record.topic] = registry.registered(
                    topic_agency(record.topic))
            stored = seen.get(record.record_key)
            if stored is not None:
                outcomes.append(_replayed(record, stored, receipted))
            elif isinstance(verdict, Rejected):
                outcomes.append(Outcome(record, ReceiptStatus.REJECTED, verdict.event_id, now,
                                        verdict.reason.value, verdict.detail,
                                        receipted=receipted))
            elif isinstance(verdict, Crashed):
                raise AssertionError("crashed verdicts are parked before settling")
            elif verdict.event_id in in_ledger or verdict.event_id in batch_ids:
                outcomes.append(None)  # duplicate: resolved after the appends below
            else:
                batch_ids.add(verdict.event_id)
                to_append.append((i, verdict))
                outcomes.append(None)
        appended = await unit.append(
            [NewEntry(v.event_id, v.agency_id, v.case_id, v.spec.name, v.event_time, now,
                      v.keyid, v.value) for _, v in to_append])
        for (i, verdict), entry in zip(to_append, appended, strict=True):
            outcomes[i] = Outcome(records[i], ReceiptStatus.ACCEPTED, verdict.event_id, now,
                                  ledger_index=entry.ledger_index, leaf_hash=entry.leaf_hash,
                                  case_id=verdict.case_id)
            in_ledger[verdict.event_id] = entry
        final = [o if o is not None else _duplicate(records[i], verdicts[i], in_ledger, now)
                 for i, o in enumerate(outcomes)]
        rows = [o.stored() for o in final]
        await unit.store_outcomes([r for o, r in zip(final, rows, strict=True) if not o.replayed])
        # Every effect is built inside the unit: a failure here rolls the unit back too.
        for o, r in zip(final, rows, strict=True):
            o.effects = tuple(self.effects(o, r))
        return final

    # -- publishing -----------------------------------------------------------------------

    def effects(self, o: Outcome, stored: StoredOutcome | None = None) -> list[Effect]:
        """What to publish for an outcome, in order: the event or quarantine, then the receipt
        (`stored`: the outcome's `stored()`, when the caller has it already)."""
        out: list[Effect] = []
        if o.status is ReceiptStatus.ACCEPTED:
            assert o.record.value is not None and o.case_id is not None
            out.append(Effect(topics.EVENTS, o.case_id.encode("utf-8"), o.record.value))
        elif o.status is ReceiptStatus.REJECTED:
            out.append(Effect(topics.QUARANTINE, o.record.key, o.record.value or b"",
                              tuple(quarantine_headers(o))))
        if o.receipted:
            receipt_key = o.event_id.encode("ascii") if o.event_id else None
            out.append(Effect(_receipts_topic(o.record.topic), receipt_key,
                              receipt_envelope(self._sign_receipt, stored or o.stored())))
        return out

    async def publish(self, outcomes: Sequence[Outcome], publisher: BatchPublisher) -> None:
        """Publish every effect of the committed outcomes (in order) and wait for all acks."""
        await publisher.publish_all([e for o in outcomes for e in o.effects or self.effects(o)])

    async def process(self, records: Sequence[IngressRecord], publisher: BatchPublisher
                      ) -> list[Settled]:
        """settle + publish + metrics; raises StoreUnavailable (or a broker error) to retry."""
        started = time.monotonic()
        settled = await self.settle(records)
        outcomes = [s for s in settled if isinstance(s, Outcome)]
        committed = time.time()
        await self.publish(outcomes, publisher)
        # Counted per label set, not per record (a labelled child's lookup costs ~2 µs), and
        # by topic, whose agency is then read once per label set, not once per record.
        counts: dict[tuple[str, str, str], int] = {}
        latencies: list[float] = []
        for o in outcomes:
            if not o.replayed:
                labels = (o.record.topic, o.status.value, o.reason or "")
                counts[labels] = counts.get(labels, 0) + 1
                if o.record.timestamp_ms:
                    latencies.append(max(0.0, committed - o.record.timestamp_ms / 1000))
        for (topic, status, reason), count in counts.items():
            metrics.INGRESS_RECORDS.labels(topic_agency(topic) or "unknown", status,
                                           reason).inc(count)
        observe_all(metrics.INGRESS_LATENCY, latencies)
        last = max((o.ledger_index for o in outcomes
                    if o.status is ReceiptStatus.ACCEPTED and o.ledger_index is not None),
                   default=None)
        if last is not None:
            metrics.LEDGER_SIZE.set(last + 1)
        metrics.INGRESS_BATCH_SECONDS.observe(time.monotonic() - started)
        return settled


@lru_cache(maxsize=1024)
def _receipts_topic(topic: str) -> str:
    """The receipts topic of an ingress topic's agency (`Outcome.agency_id`'s), remembered: a
    batch's records come from a few topics (three Python calls a record otherwise)."""
    return topics.receipts_topic(topic_agency(topic) or "unknown")


def observe_all(histogram: Histogram, amounts: Sequence[float]) -> None:
    """`histogram.observe(a)` for each of the amounts, as one increment per bucket reached.

    Design decision (issue 14, session 9): the ingress worker observed each record's latency
    by itself, two locked increments and a walk of the buckets a record (~1 µs). This does
    what `Histogram.observe` does (prometheus_client: the sum, then the first bucket whose
    upper bound is at least the amount; no exemplars here) through the same private members,
    once per batch (tests/unit/test_ingress_fast_codecs.py compares the two); the sum is
    added once, so it may differ from a sum added amount by amount in its last bits."""
    if not amounts:
        return
    histogram._raise_if_not_observable()  # type: ignore[no-untyped-call]  # as observe does
    bounds: list[float] = histogram._upper_bounds
    counts = Counter(bisect_left(bounds, amount) for amount in amounts)
    histogram._sum.inc(math.fsum(amounts))
    for i, count in counts.items():
        histogram._buckets[i].inc(count)


def _replayed(record: IngressRecord, stored: StoredOutcome, receipted: bool) -> Outcome:
    return Outcome(record, stored.status, stored.event_id, stored.received_at, stored.reason,
                   stored.detail, stored.ledger_index, stored.leaf_hash,
                   case_id=(record.key or b"").decode("utf-8", "replace") or None,
                   replayed=True, receipted=receipted)


def _duplicate(record: IngressRecord, verdict: Verdict, in_ledger: dict[str, LedgerEntry],
               now: datetime) -> Outcome:
    assert isinstance(verdict, VerifiedEvent)
    original = in_ledger[verdict.event_id]
    same = original.record == verdict.value
    detail = (f"已于账本序号 {original.ledger_index} 接收 / already accepted at ledger index"
              f" {original.ledger_index}" + ("" if same else " (内容不同 / with different content)"))
    return Outcome(record, ReceiptStatus.DUPLICATE, verdict.event_id, now, None, detail,
                   original.ledger_index, original.leaf_hash, case_id=verdict.case_id)


async def _recheck_revocations(unit: IngressUnit, verdicts: Sequence[Verdict],
                               now: datetime) -> list[Verdict]:
    """Verified records whose key was revoked by `now`, as committed under the append lock,
    become KEY_REVOKED: a stale registry snapshot never lets one into the ledger."""
    revoked = await unit.revocations([v.keyid for v in verdicts if isinstance(v, VerifiedEvent)])
    return [key_revoked(v.keyid, revoked[v.keyid], v.event_id)
            if isinstance(v, VerifiedEvent) and v.keyid in revoked and revoked[v.keyid] <= now
            else v for v in verdicts]


def quarantine_headers(outcome: Outcome) -> list[tuple[str, bytes]]:
    """Kafka headers that carry the reason beside the original, unchanged bytes."""
    headers = [
        ("linkage-reason", (outcome.reason or "").encode()),
        ("linkage-detail", (outcome.detail or "").encode()),
        ("linkage-source-topic", outcome.record.topic.encode()),
        ("linkage-source-partition", str(outcome.record.partition).encode()),
        ("linkage-source-offset", str(outcome.record.offset).encode()),
        ("linkage-received-at", outcome.received_at.isoformat().encode()),
    ]
    if outcome.event_id:
        headers.append(("linkage-event-id", outcome.event_id.encode()))
    return headers
