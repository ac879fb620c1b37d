"""Acting as the procuratorate: its agency key, held by the hub encrypted at rest, and the
connector SDK's outbox-and-receipt path for `supervision.issued` (contract section 2).

The key of each procuratorate agency the workbench signs for is a PKCS#8 PEM encrypted with
the master secret (`BestAvailableEncryption`), at LINKAGE_HOME/keys/workbench/<agency>.key.enc.pem;
the master secret comes from LINKAGE_MASTER_SECRET, or from LINKAGE_HOME/keys/master.secret
(created 0600 on first use) when the environment has none. Neither is ever stored in the
database: the registry holds only the public key, registered as one more active key of the
agency (contract section 1 allows several). The event then goes through `Connector` exactly
as any agency's would: signed, stored in a SQLite outbox, sent, and receipted by the hub.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization

from connectors.connector import Connector, ReceiptTimeout
from connectors.outbox import OutboxEntry
from hub.settings import Settings
from schemas.signing import SigningKey, load_private_pem, public_pem

SupervisionKind = Literal["explain_non_filing", "order_filing", "recommend_transfer",
                          "correction"]

KIND_LABEL: dict[str, tuple[str, str]] = {
    "explain_non_filing": ("要求说明不立案理由", "explain the non-filing"),
    "order_filing": ("通知立案", "order filing"),
    "recommend_transfer": ("建议移送", "recommend transfer"),
    "correction": ("纠正违法", "correction"),
}


def master_secret(settings: Settings) -> bytes:
    """LINKAGE_MASTER_SECRET, else the secret file under LINKAGE_HOME/keys (created once)."""
    from_env = os.environ.get("LINKAGE_MASTER_SECRET")
    if from_env:
        return from_env.encode("utf-8")
    path = settings.keys_dir / "master.secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32))
    return path.read_text().strip().encode("utf-8")


class KeyVault:
    """Agency signing keys encrypted at rest with the master secret."""

    def __init__(self, directory: Path, secret: bytes) -> None:
        self._directory = directory
        self._secret = secret

    def path(self, agency_id: str) -> Path:
        return self._directory / f"{agency_id}.key.enc.pem"

    def key(self, agency_id: str) -> tuple[SigningKey, bool]:
        """(the agency's key, True if it was created now)."""
        path = self.path(agency_id)
        if path.exists():
            private = serialization.load_pem_private_key(path.read_bytes(), self._secret)
            return SigningKey(load_private_pem(private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))), False
        key = SigningKey.generate()
        encrypted = key.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(self._secret))
        self._directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(encrypted)
        return key, True


RegisterKey = Callable[[str, str], Awaitable[None]]


class SupervisionDesk:
    """One connector per procuratorate agency the workbench signs for, started on first use."""

    def __init__(self, settings: Settings, vault: KeyVault, register: RegisterKey,
                 bootstrap: str | None) -> None:
        self._settings = settings
        self._vault = vault
        self._register = register
        self._bootstrap = bootstrap
        self._connectors: dict[str, Connector] = {}
        self._lock = asyncio.Lock()

    @property
    def available(self) -> bool:
        return self._bootstrap is not None

    async def connector(self, agency_id: str) -> Connector:
        async with self._lock:
            if agency_id not in self._connectors:
                if self._bootstrap is None:
                    raise RuntimeError("未配置 Kafka / no Kafka configured")
                key, _ = self._vault.key(agency_id)
                await self._register(agency_id, public_pem(key.public_key))
                outbox = self._settings.home / "workbench" / f"{agency_id}.outbox.sqlite"
                outbox.parent.mkdir(parents=True, exist_ok=True)
                connector = Connector(agency_id, key, bootstrap=self._bootstrap,
                                      outbox_path=outbox,
                                      hub_public_key=self._settings.hub_key().public_key)
                await connector.start()
                self._connectors[agency_id] = connector
            return self._connectors[agency_id]

    async def issue(self, agency_id: str, case_id: str, kind: SupervisionKind,
                    to_agency: str, issued_at: datetime) -> str:
        """Sign and store `supervision.issued` in the outbox; returns its event id."""
        connector = await self.connector(agency_id)
        return connector.enqueue("supervision.issued", case_id, {
            "issued_at": issued_at.isoformat(), "kind": kind, "to_agency": to_agency})

    async def wait(self, agency_id: str, event_id: str, timeout: float) -> OutboxEntry | None:
        """The outbox entry once its receipt arrived (None if unknown); waits up to timeout."""
        connector = await self.connector(agency_id)
        try:
            return await connector.wait_for_receipt(event_id, timeout=timeout)
        except ReceiptTimeout:
            return connector.outbox.get(event_id)

    async def entry(self, agency_id: str, event_id: str) -> OutboxEntry | None:
        connector = await self.connector(agency_id)
        return connector.outbox.get(event_id)

    async def stop(self) -> None:
        for connector in self._connectors.values():
            await connector.stop()
        self._connectors.clear()
