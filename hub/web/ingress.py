"""HTTP ingress (contract section 8): `POST /api/v1/ingress/{agency_id}` and
`GET /api/v1/receipts/{event_id}`, for agency systems that cannot reach Kafka.

Design (docs/workbench.md, "HTTP ingress"): the body is produced, bytes unchanged, to
`linkage.ingress.<agency_id>` with key = the event's `subject`, and the worker judges it like
any other record: one code path, so every reason code, duplicate and quarantine is exactly
Kafka's. The answer is the outcome the ingress processor stored for that record's position
and bytes, polled (all waiting records in one query every 25 ms) for up to
`LINKAGE_INGRESS_WAIT_SECONDS` (10); its receipt is rebuilt with
`streams.ingress.stored_receipt` and signed with the hub's key (Ed25519 is deterministic, so
it is byte for byte the receipt on `linkage.receipts.<agency>`). No token: the signature is
the authentication. A token bucket per agency answers 429 with Retry-After. A body over
1 MiB is still produced and judged (TOO_LARGE receipt, quarantined); only a body over the
broker's message limit (8 MiB) is refused at the door with 413, unread.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from hub.adapters.http_ingress import IngressProducer, PostgresReceipts
from hub.adapters.kafka_publisher import BrokerUnavailable
from hub.web.models import Problem
from schemas.b64 import dsse_b64decode
from schemas.envelope_signer import EnvelopeSigner
from schemas.signing import SigningKey
from schemas.topics import MAX_MESSAGE_BYTES
from streams.errors import StoreUnavailable
from streams.ingress import receipt_envelope, receipt_signer
from streams.ports import RecordKey, StoredOutcome

log = logging.getLogger(__name__)

AgencyId = Annotated[str, Path(pattern=r"^[a-z][a-z0-9-]{1,31}$")]

RECEIPT_SCHEMA = {"type": "object", "required": ["payloadType", "payload", "signatures"],
                  "properties": {"payloadType": {"type": "string"},
                                 "payload": {"type": "string"},
                                 "signatures": {"type": "array", "items": {"type": "object"}}}}


@dataclass
class RateLimiter:
    """A token bucket per agency: `rate` records per second, bursts of `burst`."""

    rate: float
    burst: float
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, agency_id: str, now: float | None = None) -> float:
        """0 if the agency may send now (a token is taken), else seconds until it may."""
        now = time.monotonic() if now is None else now
        tokens, at = self._buckets.get(agency_id, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            self._buckets[agency_id] = (tokens - 1.0, now)
            return 0.0
        self._buckets[agency_id] = (tokens, now)
        return (1.0 - tokens) / self.rate


class OutcomeWaiter:
    """Every waiting POST's record looked up together: one query per tick however many
    requests are in flight (polling per request cost a query each 20 ms each)."""

    def __init__(self, receipts: PostgresReceipts, interval: float = 0.025) -> None:
        self._receipts = receipts
        self._interval = interval
        self._pending: dict[RecordKey, list[asyncio.Future[StoredOutcome]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def wait(self, key: RecordKey, timeout: float) -> StoredOutcome | None:
        if timeout <= 0:
            return None
        future: asyncio.Future[StoredOutcome] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(key, []).append(future)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll(), name="ingress-outcomes")
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None
        finally:
            waiting = self._pending.get(key, [])
            if future in waiting:
                waiting.remove(future)
                if not waiting:
                    self._pending.pop(key, None)

    async def _poll(self) -> None:
        while self._pending:
            try:
                found = await self._receipts.outcomes(list(self._pending))
            except StoreUnavailable as exc:
                log.warning("回执暂不可读 / outcomes not readable yet: %s", exc)
                found = {}
            for key, stored in found.items():
                for future in self._pending.pop(key, []):
                    if not future.done():
                        future.set_result(stored)
            await asyncio.sleep(self._interval)


@dataclass
class HttpIngress:
    """What the two routes need; built by the app's lifespan."""

    producer: IngressProducer | None
    receipts: PostgresReceipts
    hub_key: SigningKey
    limiter: RateLimiter
    wait_seconds: float = 10.0
    waiter: OutcomeWaiter = field(init=False)
    signer: EnvelopeSigner = field(init=False)

    def __post_init__(self) -> None:
        self.waiter = OutcomeWaiter(self.receipts)
        self.signer = receipt_signer(self.hub_key)

    @classmethod
    def from_env(cls, producer: IngressProducer | None, receipts: PostgresReceipts,
                 hub_key: SigningKey, env: dict[str, str] | None = None) -> HttpIngress:
        env = dict(os.environ if env is None else env)
        return cls(producer, receipts, hub_key,
                   RateLimiter(float(env.get("LINKAGE_INGRESS_RATE", "200")),
                               float(env.get("LINKAGE_INGRESS_BURST", "400"))),
                   float(env.get("LINKAGE_INGRESS_WAIT_SECONDS", "10")))

    def envelope(self, stored: StoredOutcome) -> bytes:
        return receipt_envelope(self.signer, stored)


def _problem(status: int, error: str, zh: str, en: str,
             headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "message_zh": zh, "message_en": en},
                        status_code=status, headers=headers)


def peek(body: bytes) -> tuple[str | None, str | None]:
    """(subject, id) of the event inside an envelope, when readable; judging is the worker's."""
    try:
        envelope = json.loads(body)
        event = json.loads(dsse_b64decode(envelope["payload"]))
        subject, event_id = event.get("subject"), event.get("id")
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None, None
    return (subject if isinstance(subject, str) else None,
            event_id if isinstance(event_id, str) else None)


async def read_capped(request: Request, cap: int) -> bytes | None:
    """The body, or None as soon as it exceeds `cap` bytes (the rest is never buffered)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def ingress_of(request: Request) -> HttpIngress:
    gate: HttpIngress = request.app.state.ingress
    return gate


router = APIRouter(prefix="/api/v1", tags=["ingress"])


@router.post(
    "/ingress/{agency_id}",
    summary="HTTP 报送 / HTTP ingress (contract section 8)",
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "object"}}}}},
    responses={
        200: {"description": "收据 / the hub-signed receipt (DSSE envelope)",
              "content": {"application/json": {"schema": RECEIPT_SCHEMA}}},
        202: {"description": "收据未就绪 / receipt not ready: GET /api/v1/receipts/{event_id}",
              "content": {"application/json": {"schema": {
                  "type": "object", "properties": {"event_id": {"type": ["string", "null"]}}}}}},
        404: {"description": "未知机关 / unknown agency", "model": Problem},
        413: {"description": "超过消息上限 / over the broker's message limit", "model": Problem},
        429: {"description": "超过速率 / rate limited (Retry-After)", "model": Problem},
        503: {"description": "Kafka 不可用 / Kafka unavailable", "model": Problem},
    })
async def post_ingress(agency_id: AgencyId, request: Request,
                       wait: Annotated[float | None, Query(ge=0, le=10)] = None) -> Response:
    """The body is the DSSE envelope of contract section 2, judged as the Kafka record
    `linkage.ingress.<agency_id>` keyed by the event's subject. `wait` (seconds, at most the
    default 10) shortens the wait for the receipt."""
    gate = ingress_of(request)
    if not await gate.receipts.agency_registered(agency_id):
        return _problem(404, "unknown_agency", "未登记的机关", "no such agency is registered")
    retry = gate.limiter.take(agency_id)
    if retry > 0:
        return _problem(429, "rate_limited", "报送过于频繁，请稍后重试",
                        "too many records from this agency; retry later",
                        {"Retry-After": str(max(1, math.ceil(retry)))})
    body = await read_capped(request, MAX_MESSAGE_BYTES)
    if body is None:
        return _problem(413, "too_large", f"请求体超过 {MAX_MESSAGE_BYTES} 字节，未接收",
                        f"the body exceeds {MAX_MESSAGE_BYTES} bytes and was not taken")
    if gate.producer is None:
        return _problem(503, "no_kafka", "未配置 Kafka", "no Kafka configured")
    subject, event_id = peek(body)
    topic = f"linkage.ingress.{agency_id}"
    try:
        partition, offset = await gate.producer.send(
            topic, subject.encode("utf-8", "surrogatepass") if subject is not None else None,
            body)
    except BrokerUnavailable:
        return _problem(503, "kafka_unavailable", "Kafka 暂不可用，请重试",
                        "Kafka is unavailable; retry")
    key = (topic, partition, offset, hashlib.sha256(body).digest())
    stored = await gate.waiter.wait(key, gate.wait_seconds if wait is None
                                    else min(wait, gate.wait_seconds))
    if stored is not None:
        return Response(gate.envelope(stored), media_type="application/json")
    headers = {"Location": f"/api/v1/receipts/{event_id}"} if event_id else None
    return JSONResponse({"event_id": event_id}, status_code=202, headers=headers)


@router.get(
    "/receipts/{event_id}",
    summary="收据 / the receipt of an event (no token: it is signed)",
    responses={200: {"description": "收据 / the hub-signed receipt (DSSE envelope)",
                     "content": {"application/json": {"schema": RECEIPT_SCHEMA}}},
               404: {"description": "尚无收据 / no receipt yet", "model": Problem}})
async def get_receipt(event_id: uuid.UUID, request: Request) -> Response:
    """The acceptance of the event if it was accepted, else its latest outcome; the receipt's
    `record_sha256` tells which bytes it judged."""
    gate = ingress_of(request)
    stored = await gate.receipts.for_event(str(event_id))
    if stored is None:
        return _problem(404, "no_receipt", "尚无此事件的收据", "no receipt for this event yet")
    return Response(gate.envelope(stored), media_type="application/json")
