"""An in-process ingress processor for tests: any IngressStore, an in-memory publisher, and a
registry of the test agencies; plus an independent reader of the hub's receipts."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from schemas.events import EVENT_TYPES, Role
from schemas.signing import KeyRecord, SigningKey, raw_public_bytes
from streams.ingress import IngressProcessor
from streams.ports import IngressRecord, IngressStore, OutRecord
from streams.verification import RegistrySnapshot
from tests.records import Record

AGENCY_ROLES = {"zs-aic": Role.ADMINISTRATIVE, "zs-psb": Role.POLICE,
                "zs-procuratorate": Role.PROCURATORATE}


@dataclass
class MemoryPublisher:
    """Publisher port in memory: every record, in order, acknowledged at once."""

    sent: list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]] = field(
        default_factory=list)

    async def enqueue(self, topic: str, key: bytes | None, value: bytes,
                      headers: list[tuple[str, bytes]]) -> Awaitable[object]:
        self.sent.append((topic, key, value, headers))
        done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def publish_all(self, records: Sequence[OutRecord]) -> None:
        for topic, key, value, headers in records:
            await self.enqueue(topic, key, value, list(headers))

    def on(self, topic: str) -> list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]:
        return [(k, v, h) for t, k, v, h in self.sent if t == topic]


def snapshot(keys: dict[str, SigningKey], *, revoked: dict[str, datetime] | None = None,
             agencies: frozenset[str] | None = None) -> RegistrySnapshot:
    """The registry of `keys` (agency -> key) with the catalogue's role permissions."""
    revoked = revoked or {}
    records = {k.keyid: KeyRecord(k.keyid, a, AGENCY_ROLES[a], k.public_key, revoked.get(a))
               for a, k in keys.items()}
    permissions = {role: frozenset(n for n, s in EVENT_TYPES.items() if role in s.roles)
                   for role in Role}
    return RegistrySnapshot(records, permissions,
                            agencies if agencies is not None else frozenset(AGENCY_ROLES))


def processor(store: IngressStore, keys: dict[str, SigningKey], hub_key: SigningKey,
              **registry: Any) -> IngressProcessor:
    reg = snapshot(keys, **registry)

    async def load() -> RegistrySnapshot:
        return reg

    return IngressProcessor(store, hub_key, load)


class Offsets:
    """Hands out increasing offsets per topic, as a broker would."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def record(self, r: Record) -> IngressRecord:
        offset = self._next.get(r.topic, 0)
        self._next[r.topic] = offset + 1
        return IngressRecord(r.topic, 0, offset, r.key, r.value,
                             int((datetime.now(UTC) - timedelta(seconds=0)).timestamp() * 1000))


def independent_receipt(value: bytes, hub_public_raw: bytes) -> dict[str, Any]:
    """A receipt read without the hub's code: JSON, base64, DSSE PAE and Ed25519 (PyNaCl)."""
    envelope = json.loads(value)
    payload = base64.b64decode(envelope["payload"])
    payload_type = envelope["payloadType"].encode()
    pae = b"DSSEv1 %d %b %d %b" % (len(payload_type), payload_type, len(payload), payload)
    keyid = hashlib.sha256(hub_public_raw).hexdigest()
    [signature] = [s for s in envelope["signatures"] if s["keyid"] == keyid]
    try:
        VerifyKey(hub_public_raw).verify(pae, base64.b64decode(signature["sig"]))
    except BadSignatureError as exc:
        raise AssertionError("receipt not signed by the hub") from exc
    receipt: dict[str, Any] = json.loads(payload)
    return receipt


def hub_raw(hub_key: SigningKey) -> bytes:
    return raw_public_bytes(hub_key.public_key)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def raw_public_from_pem(pem: str) -> bytes:
    """The 32 raw bytes of an Ed25519 SubjectPublicKeyInfo PEM, read without the hub's code."""
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    der = base64.b64decode(body)
    assert len(der) == 44 and der[:12] == bytes.fromhex("302a300506032b6570032100"), "not Ed25519"
    return der[12:]
