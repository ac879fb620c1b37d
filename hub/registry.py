"""The agency registry: its records, its port (`Registry`) and the in-memory implementation.

The ingress processor reads one thing from it, a `RegistrySnapshot` (keys by id, event types
by role; see streams/verification.py); the CLI lists, adds and revokes. `PostgresRegistry`
(hub/adapters/registry_store.py) is the hub's implementation; `InMemoryRegistry` is the
reference the contract suite (tests/contracts/test_registry_contract.py) holds it to.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import resources
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from schemas.cloudevent import AGENCY_ID_PATTERN
from schemas.events import EVENT_TYPES, Role
from schemas.signing import KeyRecord, keyid_of, load_public_pem, require_prime_order
from streams.ports import Clock
from streams.verification import RegistrySnapshot

__all__ = ["Agency", "AgencySeed", "InMemoryRegistry", "KeyInfo", "Registry", "RegistryError",
           "RegistrySeed", "default_seed"]


class RegistryError(Exception):
    """A registry operation the data forbids (unknown agency, duplicate key, ...)."""


class AgencySeed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=AGENCY_ID_PATTERN)
    role: Role
    name: str
    name_en: str = ""


class RegistrySeed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    agency: list[AgencySeed]


def default_seed() -> RegistrySeed:
    text = resources.files("hub.data").joinpath("agencies.toml").read_text("utf-8")
    return RegistrySeed.model_validate(tomllib.loads(text))


@dataclass(frozen=True)
class Agency:
    agency_id: str
    role: Role
    name: str
    name_en: str
    keys: tuple[KeyInfo, ...] = ()


@dataclass(frozen=True)
class KeyInfo:
    keyid: str
    agency_id: str
    added_at: datetime
    revoked_at: datetime | None

    @property
    def status(self) -> str:
        return "revoked" if self.revoked_at else "active"


class Registry(Protocol):
    """Agencies, their roles and keys, and the event types each role may send."""

    async def seed(self, seed: RegistrySeed | None = None) -> int:
        """Add the seed's missing agencies and the contract's permissions; how many added."""
        ...

    async def add_agency(self, agency_id: str, role: Role, name: str, name_en: str = "") -> None:
        """Add an agency (pydantic ValidationError for a bad id; RegistryError if it exists)."""
        ...

    async def add_key(self, agency_id: str, pem: str | bytes) -> str:
        """Register an Ed25519 public key (PEM) for an agency; returns its keyid."""
        ...

    async def revoke_key(self, keyid: str, when: datetime | None = None) -> datetime:
        """Revoke a key from `when` (default now); RegistryError if unknown or revoked."""
        ...

    async def agencies(self) -> list[Agency]:
        """Every agency by id, each with its keys in the order they were added."""
        ...

    async def snapshot(self) -> RegistrySnapshot:
        """What verification reads: every key (revoked ones too) and permissions by role."""
        ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Key:
    info: KeyInfo
    public_key: Ed25519PublicKey


class InMemoryRegistry:
    """The registry in dicts; `clock` stamps added and revoked keys."""

    def __init__(self, clock: Clock = _utc_now) -> None:
        self._clock = clock
        self._agencies: dict[str, Agency] = {}
        self._keys: dict[str, _Key] = {}
        self._permissions: set[tuple[Role, str]] = set()

    async def seed(self, seed: RegistrySeed | None = None) -> int:
        seed = seed or default_seed()
        missing = [a for a in seed.agency if a.id not in self._agencies]
        for agency in missing:
            self._agencies[agency.id] = Agency(agency.id, agency.role, agency.name, agency.name_en)
        self._permissions |= {(role, spec.name) for spec in EVENT_TYPES.values()
                              for role in spec.roles}
        return len(missing)

    async def add_agency(self, agency_id: str, role: Role, name: str, name_en: str = "") -> None:
        AgencySeed(id=agency_id, role=role, name=name, name_en=name_en)
        if agency_id in self._agencies:
            raise RegistryError(f"机关已存在 / agency already exists: {agency_id}")
        self._agencies[agency_id] = Agency(agency_id, role, name, name_en)

    async def add_key(self, agency_id: str, pem: str | bytes) -> str:
        public_key = require_prime_order(load_public_pem(pem))
        keyid = keyid_of(public_key)
        if agency_id not in self._agencies:
            raise RegistryError(f"未知机关 / unknown agency: {agency_id}")
        if keyid in self._keys:
            owner = self._keys[keyid].info.agency_id
            raise RegistryError(f"密钥已登记于 {owner} / key already registered to {owner}")
        self._keys[keyid] = _Key(KeyInfo(keyid, agency_id, self._clock(), None), public_key)
        return keyid

    async def revoke_key(self, keyid: str, when: datetime | None = None) -> datetime:
        key = self._keys.get(keyid.lower())
        if key is None or key.info.revoked_at is not None:
            what = "密钥已吊销 / key already revoked" if key else "未知密钥 / unknown key"
            raise RegistryError(f"{what}: {keyid}")
        revoked = when or self._clock()
        self._keys[key.info.keyid] = replace(key, info=replace(key.info, revoked_at=revoked))
        return revoked

    async def agencies(self) -> list[Agency]:
        keys = sorted((k.info for k in self._keys.values()), key=lambda k: k.added_at)
        return [replace(a, keys=tuple(k for k in keys if k.agency_id == a.agency_id))
                for _, a in sorted(self._agencies.items())]

    async def snapshot(self) -> RegistrySnapshot:
        keys = {
            keyid: KeyRecord(keyid, k.info.agency_id, self._agencies[k.info.agency_id].role,
                             k.public_key, k.info.revoked_at, k.info.added_at)
            for keyid, k in self._keys.items()
        }
        permissions: dict[Role, set[str]] = {}
        for role, type_name in self._permissions:
            permissions.setdefault(role, set()).add(type_name)
        return RegistrySnapshot(keys, {r: frozenset(v) for r, v in permissions.items()})
