"""The agency connector SDK: sign, store in the outbox, send, and track the hub's receipts.

    connector = Connector("zs-aic", SigningKey.from_file(path), bootstrap="127.0.0.1:9092",
                          outbox_path="zs-aic.outbox.sqlite", hub_public_key=hub_pub)
    await connector.start()
    event_id = await connector.publish("case.opened", "AIC-2026-001", {...})
    receipt = await connector.wait_for_receipt(event_id)
    await connector.stop()

Against a cluster with SASL and ACLs, pass `security=KafkaSecurity.from_properties(path)` (the
file the hub operator issued). A refusal by the broker's ACLs is not retried: the connector
stops that loop and `wait_for_receipt` / `wait_for_all` raise `AccessDenied`, which names
the topic and the missing permission.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError
from pydantic_core import SchemaValidator
from pydantic_core.core_schema import ModelSchema

from connectors.events import build_event, new_event_ids
from connectors.kafka_security import PLAINTEXT, KafkaSecurity
from connectors.outbox import FINAL, Outbox, OutboxEntry, Pending, ReceiptRow
from connectors.record_batches import send_batches
from schemas.dsse import (
    EVENT_PAYLOAD_TYPE,
    RECEIPT_PAYLOAD_TYPE,
    Envelope,
    canonical_envelope,
    envelope_head,
    pae,
)
from schemas.envelope_signer import EnvelopeSigner
from schemas.receipt import Receipt
from schemas.signing import (
    SigningKey,
    raw_public_bytes,
    verify_envelope_signature,
    verify_signature,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

_RECEIPT_HEAD = envelope_head(RECEIPT_PAYLOAD_TYPE)

RECEIPT_FETCH_WAIT_MS = 50
"""How long the broker may hold the receipts fetch. Apache Kafka's long poll answers as
soon as a receipt arrives, whatever this is; Tansu (the embedded broker) holds the fetch for
about half of it even when data is there, so aiokafka's default 500 ms added ~250 ms to
every receipt. 50 ms costs ~20 empty fetches/s while idle."""

RECEIPT_BATCH = 500
"""Receipts applied per outbox commit: one fsync for up to this many (they arrive in bursts)."""

PRODUCE_BATCH_BYTES = 512 * 1024
"""aiokafka's record batch limit per partition. Its default (16 KiB, about 13 signed events)
made a send of 500 outbox entries some 40 record batches, each with its own bookkeeping:
~28 µs of CPU per event against ~12 µs with batches this large (issue 14). A larger record
still goes in a batch of its own."""


class ReceiptTimeout(TimeoutError):
    """No receipt arrived in time; the event stays in the outbox and will be re-sent."""


_OPERATIONS_ZH = {"WRITE": "写入", "READ": "读取"}
TOPIC_AUTHORIZATION_FAILED = 29
STALLED_POLLS = 5
"""Idle one-second polls with a position that does not fit a receipts partition's end before
it is read again from its start."""


class AccessDenied(PermissionError):
    """The broker's ACLs refuse this agency's principal an operation on a topic (not retried)."""

    def __init__(self, agency_id: str, topic: str, operation: str) -> None:
        self.agency_id = agency_id
        self.topic = topic
        self.operation = operation
        super().__init__(
            f"无权{_OPERATIONS_ZH.get(operation, operation)}主题 {topic}(机关 {agency_id} 缺少 "
            f"{operation} 权限),已停止重试:请联系枢纽运维核对本机关的 Kafka 凭据与 ACL / "
            f"not authorised to {operation.lower()} topic {topic}: agency {agency_id}'s principal "
            f"lacks the {operation} permission; not retrying: ask the hub operator to check "
            f"this agency's Kafka credentials and ACLs")


class Connector:
    """One agency's connection to the hub (at-least-once, durable, receipt-tracked)."""

    def __init__(
        self,
        agency_id: str,
        key: SigningKey,
        *,
        bootstrap: str,
        outbox_path: Path | str,
        hub_public_key: Ed25519PublicKey | None = None,
        max_backoff: float = 10.0,
        security: KafkaSecurity = PLAINTEXT,
        resend_after: float = 60.0,
        receipt_fetch_wait_ms: int = RECEIPT_FETCH_WAIT_MS,
    ) -> None:
        self.agency_id = agency_id
        self._key = key
        self._sign = EnvelopeSigner(key, EVENT_PAYLOAD_TYPE)
        self._bootstrap = bootstrap
        self._security = security
        self._resend_after = resend_after
        self.failure: AccessDenied | None = None
        self.outbox = Outbox(outbox_path)
        # its raw bytes once: verify_signature would derive them from the key object for
        # every receipt (~4,000 instructions, issue 14)
        self._hub_raw = None if hub_public_key is None else raw_public_bytes(hub_public_key)
        self._max_backoff = max_backoff
        self._receipt_fetch_wait_ms = receipt_fetch_wait_ms
        self._wake = asyncio.Event()
        self._receipt_seen = asyncio.Condition()
        self._tasks: list[asyncio.Task[None]] = []
        self._producer: AIOKafkaProducer | None = None

    @property
    def ingress_topic(self) -> str:
        return f"linkage.ingress.{self.agency_id}"

    @property
    def receipts_topic(self) -> str:
        return f"linkage.receipts.{self.agency_id}"

    async def start(self) -> None:
        """Re-queue what was sent but never receipted, then start sending and reading."""
        self.outbox.requeue_unreceipted()
        self._tasks = [asyncio.create_task(self._send_loop(), name="connector-send"),
                       asyncio.create_task(self._receipt_loop(), name="connector-receipts"),
                       asyncio.create_task(self._resend_loop(), name="connector-resend")]
        self._wake.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        self.outbox.close()

    # -- publishing -----------------------------------------------------------------------

    def sign(self, event_bytes: bytes) -> bytes:
        """The DSSE envelope of an event as JSON bytes (`SigningKey.sign_envelope`'s, faster)."""
        return self._sign(event_bytes)

    def enqueue(
        self,
        type_name: str,
        case_id: str,
        data: dict[str, Any],
        *,
        event_id: str | None = None,
        time: datetime | None = None,
    ) -> str:
        """Build, sign and store one event in the outbox (durable before this returns)."""
        return self.enqueue_many([(type_name, case_id, data, event_id, time)])[0]

    def enqueue_many(
        self, events: Sequence[tuple[str, str, dict[str, Any], str | None, datetime | None]]
    ) -> list[str]:
        """Build and sign (type, case, data, event_id, time) events; store them in one commit."""
        rows: list[tuple[str, str, str, bytes]] = []
        drawn = new_event_ids(sum(1 for event in events if not event[3]))
        fresh = set(drawn)  # not looked up before they are stored (Outbox.add_many)
        for type_name, case_id, data, given_id, time in events:
            event_id, event_bytes = build_event(self.agency_id, type_name, case_id, data,
                                                event_id=given_id or drawn.pop(), time=time)
            rows.append((event_id, case_id, type_name, self._sign(event_bytes)))
        self.outbox.add_many(rows, fresh)
        self._wake.set()
        return [row[0] for row in rows]

    async def publish(
        self,
        type_name: str,
        case_id: str,
        data: dict[str, Any],
        *,
        event_id: str | None = None,
        time: datetime | None = None,
    ) -> str:
        """enqueue(); the send happens in the background, with retries while the broker is down."""
        return self.enqueue(type_name, case_id, data, event_id=event_id, time=time)

    def enqueue_raw(self, event_id: str, case_id: str, type_name: str, value: bytes) -> None:
        """Store an already signed record (tests, replays of exported records)."""
        self.outbox.add(event_id, case_id, type_name, value)
        self._wake.set()

    async def _ensure_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, acks="all",
                                        enable_idempotence=False, linger_ms=5,
                                        max_batch_size=PRODUCE_BATCH_BYTES,
                                        max_request_size=2 * 1024 * 1024,
                                        **self._security.aiokafka())
            try:
                await producer.start()
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def _send_batch(self, entries: Sequence[Pending]) -> None:
        """Send entries as one record batch per partition (keyed by case id, as
        `producer.send` would place them: connectors/record_batches.py); mark them sent once
        the broker acknowledged all."""
        producer = await self._ensure_producer()
        topic = self.ingress_topic
        futures = await send_batches(
            producer, [(topic, e.case_id.encode("utf-8"), e.value, ()) for e in entries],
            repeat_keys=(topic,))
        await asyncio.gather(*futures)
        self.outbox.mark_sent(entries)

    async def _send_loop(self) -> None:
        backoff = 0.1
        while True:
            await self._wake.wait()
            self._wake.clear()
            while batch := self.outbox.pending():
                try:
                    await self._send_batch(batch)
                    backoff = 0.1
                except TopicAuthorizationFailedError:
                    await self._fail(AccessDenied(self.agency_id, self.ingress_topic, "WRITE"))
                    return
                except (TimeoutError, KafkaError, OSError) as exc:
                    log.warning("发送失败,%.1f 秒后重试 / send failed, retrying in %.1fs: %s",
                                backoff, backoff, exc)
                    if self._producer is not None:
                        await self._producer.stop()
                        self._producer = None
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff)

    # -- receipts -------------------------------------------------------------------------

    def open_receipt(self, value: bytes) -> Receipt | None:
        """Parse a receipt envelope; None (and a warning) if its hub signature is bad.

        The hub's own form is read without pydantic (schemas.dsse.canonical_envelope); any
        other bytes take the general reader, `_open_envelope`, with the same outcome.
        """
        canonical, payload = self._hub_form(value)
        if not canonical:
            return self._open_envelope(value)
        return None if payload is None else _signed(Receipt.model_validate_json, payload)

    def _hub_form(self, value: bytes) -> tuple[bool, bytes | None]:
        """(whether value is an envelope in the hub's own form, its payload if the hub's
        signature verifies); a bad signature is warned about here."""
        canonical = canonical_envelope(value, _RECEIPT_HEAD)
        if canonical is None:
            return False, None
        payload, _, signature = canonical
        if self._hub_raw is not None and not verify_signature(
                self._hub_raw, signature, pae(RECEIPT_PAYLOAD_TYPE, payload)):
            log.warning("回执签名无效,已忽略 / receipt with a bad hub signature ignored")
            return True, None
        return True, payload

    def _receipt_row(self, message: ConsumerRecord[bytes, bytes]) -> ReceiptRow:
        """What the outbox records of one receipt message: `open_receipt`'s receipt as a row
        (tests/unit/test_connector_wire.py holds them equal).

        The hub's own form is validated by the Receipt model's own field validator into a
        dict, without building the model that the row would only be copied out of: ~0.7 of
        ~1.8 µs a receipt (issue 14)."""
        value = message.value or b""
        canonical, payload = self._hub_form(value)
        if not canonical:
            receipt = self._open_envelope(value)
            return _row(message, None if receipt is None else receipt.__dict__)
        return _row(message, None if payload is None else _signed(_receipt_fields, payload))

    def _open_envelope(self, value: bytes) -> Receipt | None:
        """open_receipt for any bytes: the envelope parsed and checked by its pydantic model."""
        try:
            envelope = Envelope.model_validate_json(value)
        except ValidationError:
            log.warning("收到无法解析的回执 / unreadable receipt")
            return None
        if envelope.payload_type != RECEIPT_PAYLOAD_TYPE:
            return None
        if self._hub_raw is not None and not any(
            verify_envelope_signature(envelope, s.signature_bytes(), self._hub_raw)
            for s in envelope.signatures
        ):
            log.warning("回执签名无效,已忽略 / receipt with a bad hub signature ignored")
            return None
        return _signed(Receipt.model_validate_json, envelope.payload_bytes())

    async def _fail(self, denied: AccessDenied) -> None:
        """Record a refusal by the broker's ACLs and wake every waiter: retrying can't help."""
        log.error("%s", denied)
        self.failure = denied
        async with self._receipt_seen:
            self._receipt_seen.notify_all()

    async def _receipt_partitions(self) -> list[int]:
        """The receipts topic's partitions, from the broker (empty while it does not exist).

        Raises AccessDenied when the broker says this principal may not see the topic.
        Asked with an admin request, as a consumer's cached metadata may not list the topic.
        """
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap,
                                    **self._security.aiokafka())
        await admin.start()
        try:
            (found,) = await admin.describe_topics([self.receipts_topic])
        finally:
            await admin.close()
        if int(found["error_code"]) == TOPIC_AUTHORIZATION_FAILED:
            raise AccessDenied(self.agency_id, self.receipts_topic, "READ")
        if int(found["error_code"]):
            return []
        return sorted(int(p["partition"]) for p in found["partitions"])

    async def _receipt_loop(self) -> None:
        backoff = 0.2
        while True:
            consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, group_id=None,
                                        enable_auto_commit=False, auto_offset_reset="earliest",
                                        fetch_max_wait_ms=self._receipt_fetch_wait_ms,
                                        **self._security.aiokafka())
            try:
                await consumer.start()
                while not (partitions := await self._receipt_partitions()):
                    await asyncio.sleep(0.5)  # the hub creates the topic; poll until it exists
                tps = [TopicPartition(self.receipts_topic, p) for p in partitions]
                consumer.assign(tps)
                positions = self.outbox.receipt_positions()
                for tp in tps:
                    if tp.partition in positions:
                        consumer.seek(tp, positions[tp.partition])
                    else:
                        await consumer.seek_to_beginning(tp)
                backoff = 0.2
                stalls: dict[TopicPartition, int] = {}
                while True:
                    fetched = await consumer.getmany(*tps, timeout_ms=1000,
                                                     max_records=RECEIPT_BATCH)
                    if not fetched:
                        await self._rewind_if_lost(consumer, tps, stalls)
                    else:
                        stalls.clear()
                    messages = [m for tp in sorted(fetched) for m in fetched[tp]]
                    if messages:
                        self._apply_receipts(messages)
                        async with self._receipt_seen:
                            self._receipt_seen.notify_all()
            except TopicAuthorizationFailedError:
                await self._fail(AccessDenied(self.agency_id, self.receipts_topic, "READ"))
                return
            except AccessDenied as denied:
                await self._fail(denied)
                return
            except (KafkaError, OSError) as exc:
                log.warning("回执读取失败,重试 / receipt reader failed, retrying: %s", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
            finally:
                await consumer.stop()

    def _apply_receipts(self, messages: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        """Open each receipt and apply the batch in one outbox commit (one fsync)."""
        rows = [self._receipt_row(message) for message in messages]
        for row, applied in zip(rows, self.outbox.record_receipts(rows), strict=True):
            if not applied and row.event_id is not None:
                log.info("回执针对其他字节,已忽略 / receipt for other bytes with "
                         "event id %s ignored", row.event_id)

    async def _rewind_if_lost(self, consumer: AIOKafkaConsumer, tps: Sequence[TopicPartition],
                              stalls: dict[TopicPartition, int]) -> None:
        """After an idle poll: read a partition again from its start when its position has not
        matched the topic's end for STALLED_POLLS idle polls in a row: past the end (the broker
        lost the topic: a Tansu memory restart, a topic deleted and re-created) or below it.
        One poll is not enough: under load Tansu reports an end offset that lags what it
        has already served (seen in bench/ingress.py: position 3239, end 3233).

        Needed because such a broker answers a fetch past the end with nothing at all, not
        with OFFSET_OUT_OF_RANGE (which aiokafka would turn into auto_offset_reset); and a
        re-created topic can leave a stored position in the middle of a record batch, where
        Tansu answers nothing either. Re-reading receipts is harmless: the outbox keeps the
        first final status of each event.

        Only while an entry awaits its receipt: with nothing awaiting, no receipt can be
        missing, and on Tansu's S3 engine (the durable embedded broker) the receipts topics'
        end offsets read 1 whatever they hold, so every idle connector re-read its receipts
        from the start every few seconds, warning each time (seen in `make demo`).
        """
        if not self.outbox.awaiting():
            stalls.clear()
            return
        ends = await consumer.end_offsets(list(tps))
        for tp in tps:
            position = await consumer.position(tp)
            stalls[tp] = stalls.get(tp, 0) + 1 if position != ends[tp] else 0
            if stalls[tp] >= STALLED_POLLS:
                log.warning("回执位置 %d 与主题末尾 %d 不符,代理可能丢失了数据,从头读取 / receipt "
                            "position %d does not fit the end %d of %s (the broker lost its "
                            "data?): reading from the start", position, ends[tp], position,
                            ends[tp], tp)
                stalls[tp] = 0
                await consumer.seek_to_beginning(tp)

    async def _resend_loop(self) -> None:
        """Send again what the broker acknowledged but the hub never receipted, every
        `resend_after` seconds (a broker that lost its data lost those records too)."""
        while True:
            await asyncio.sleep(self._resend_after)
            cutoff = datetime.now(UTC) - timedelta(seconds=self._resend_after)
            if self.outbox.requeue_unreceipted(sent_before=cutoff):
                self._wake.set()

    async def wait_for_receipt(self, event_id: str, timeout: float = 30.0) -> OutboxEntry:
        """Wait until the hub's receipt for event_id arrived; the outbox entry then."""

        def final() -> bool:
            entry = self.outbox.get(event_id)
            return self.failure is not None or (entry is not None and entry.status in FINAL)

        async with self._receipt_seen:
            try:
                await asyncio.wait_for(self._receipt_seen.wait_for(final), timeout)
            except TimeoutError as exc:
                raise ReceiptTimeout(f"无回执 / no receipt for {event_id} in {timeout}s") from exc
        if self.failure is not None:
            raise self.failure
        entry = self.outbox.get(event_id)
        assert entry is not None
        return entry

    async def wait_for_all(self, timeout: float = 60.0) -> None:
        """Wait until no outbox entry awaits a receipt."""
        async with self._receipt_seen:
            try:
                await asyncio.wait_for(
                    self._receipt_seen.wait_for(
                        lambda: self.failure is not None or not self.outbox.awaiting()),
                    timeout)
            except TimeoutError as exc:
                raise ReceiptTimeout(f"仍有未回执事件 / events still awaiting receipts after "
                                     f"{timeout}s: {self.outbox.counts()}") from exc
        if self.failure is not None:
            raise self.failure


_RECEIPT_SCHEMA = cast(ModelSchema, Receipt.__pydantic_core_schema__)
_RECEIPT_FIELDS = SchemaValidator(_RECEIPT_SCHEMA["schema"], _RECEIPT_SCHEMA.get("config"))
"""The Receipt model's own field validator: JSON to (fields, extra, fields set), the model's
validation without the model."""


def _receipt_fields(payload: bytes) -> dict[str, Any]:
    return cast(dict[str, Any], _RECEIPT_FIELDS.validate_json(payload)[0])


def _signed(read: Callable[[bytes], T], payload: bytes) -> T | None:
    """A hub-signed receipt's payload read; None (and an error logged) when it does not read
    as a receipt. Only the hub signs one, so that is a hub of another version or a hub bug:
    the receipt is skipped like an unreadable one (its event stays awaiting and is re-sent)
    and the receipts loop reads on, where the exception used to stop it."""
    try:
        return read(payload)
    except ValidationError as exc:
        log.error("回执有中心签名但内容无法解析,已跳过 / a hub-signed receipt does not read as "
                  "a receipt, skipped: %s", exc)
        return None


def _row(message: ConsumerRecord[bytes, bytes], fields: dict[str, Any] | None) -> ReceiptRow:
    """The outbox row of a receipt message and its receipt's fields (None: unreadable or
    not the hub's, which still advances the position past it)."""
    if fields is None:
        return ReceiptRow(message.partition, message.offset + 1, None, "", None, None, None,
                          None)
    return ReceiptRow(message.partition, message.offset + 1, fields["event_id"],
                      fields["status"].value, fields["reason"], fields["detail"],
                      fields["ledger_index"], fields["leaf_hash"], fields["record_sha256"])


def receipt_summary(entry: OutboxEntry) -> dict[str, Any]:
    return {"event_id": entry.event_id, "status": entry.status, "reason": entry.reason,
            "detail": entry.detail, "ledger_index": entry.ledger_index,
            "leaf_hash": entry.leaf_hash}


__all__ = ["AccessDenied", "Connector", "ReceiptTimeout", "receipt_summary"]
