"""The agency registry in PostgreSQL: agencies, roles, keys, permissions by role.

PostgresRegistry implements the `hub.registry.Registry` port (its records and errors live
there and are re-exported here for the commands that import them from this module).
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from hub.adapters.postgres import translated_errors
from hub.registry import (
    Agency,
    AgencySeed,
    KeyInfo,
    RegistryError,
    RegistrySeed,
    default_seed,
)
from schemas.events import EVENT_TYPES, Role
from schemas.signing import KeyRecord, keyid_of, load_public_pem, public_pem, require_prime_order
from streams.verification import RegistrySnapshot

__all__ = ["Agency", "AgencySeed", "KeyInfo", "PostgresRegistry", "RegistryError",
           "RegistrySeed", "default_seed"]


class PostgresRegistry:
    """Reads and writes the registry tables through an asyncpg pool or connection."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def seed(self, seed: RegistrySeed | None = None) -> int:
        """Insert the seed agencies that are missing and the contract's permissions."""
        seed = seed or default_seed()
        async with translated_errors(), self._pool.acquire() as conn, conn.transaction():
            inserted = 0
            for agency in seed.agency:
                status = await conn.execute(
                    "INSERT INTO agencies (agency_id, role, name, name_en) VALUES ($1,$2,$3,$4)"
                    " ON CONFLICT DO NOTHING",
                    agency.id, agency.role.value, agency.name, agency.name_en,
                )
                inserted += int(status.rsplit(" ", 1)[-1])
            await conn.executemany(
                "INSERT INTO role_permissions (role, event_type) VALUES ($1, $2)"
                " ON CONFLICT DO NOTHING",
                [(role.value, spec.name) for spec in EVENT_TYPES.values() for role in spec.roles],
            )
            return inserted

    async def add_agency(self, agency_id: str, role: Role, name: str, name_en: str = "") -> None:
        AgencySeed(id=agency_id, role=role, name=name, name_en=name_en)
        async with translated_errors(), self._pool.acquire() as conn:
            status = await conn.execute(
                "INSERT INTO agencies (agency_id, role, name, name_en) VALUES ($1,$2,$3,$4)"
                " ON CONFLICT DO NOTHING",
                agency_id, role.value, name, name_en,
            )
        if status.endswith(" 0"):
            raise RegistryError(f"机关已存在 / agency already exists: {agency_id}")

    async def add_key(self, agency_id: str, pem: str | bytes) -> str:
        public_key = require_prime_order(load_public_pem(pem))
        keyid = keyid_of(public_key)
        async with translated_errors(), self._pool.acquire() as conn, conn.transaction():
            if await conn.fetchval("SELECT 1 FROM agencies WHERE agency_id = $1", agency_id) is None:
                raise RegistryError(f"未知机关 / unknown agency: {agency_id}")
            owner = await conn.fetchval("SELECT agency_id FROM agency_keys WHERE keyid=$1", keyid)
            if owner is not None:
                raise RegistryError(f"密钥已登记于 {owner} / key already registered to {owner}")
            await conn.execute(
                "INSERT INTO agency_keys (keyid, agency_id, public_pem) VALUES ($1, $2, $3)",
                keyid, agency_id, public_pem(public_key),
            )
        return keyid

    async def revoke_key(self, keyid: str, when: datetime | None = None) -> datetime:
        async with translated_errors(), self._pool.acquire() as conn, conn.transaction():
            # Take the ledger's append lock first: a revocation then falls between two ingress
            # batches, and each batch re-reads revocations under that lock before appending.
            await conn.execute("SELECT 1 FROM ledger_head FOR UPDATE")
            revoked = await conn.fetchval(
                "UPDATE agency_keys SET revoked_at = coalesce($2, clock_timestamp())"
                " WHERE keyid = $1 AND revoked_at IS NULL RETURNING revoked_at",
                keyid.lower(), when,
            )
            if revoked is None:
                exists = await conn.fetchval("SELECT 1 FROM agency_keys WHERE keyid=$1", keyid)
                what = "密钥已吊销 / key already revoked" if exists else "未知密钥 / unknown key"
                raise RegistryError(f"{what}: {keyid}")
        assert isinstance(revoked, datetime)
        return revoked

    async def agencies(self) -> list[Agency]:
        async with translated_errors(), self._pool.acquire() as conn:
            rows = await conn.fetch("SELECT * FROM agencies ORDER BY agency_id")
            keys = await conn.fetch(
                "SELECT keyid, agency_id, added_at, revoked_at FROM agency_keys ORDER BY added_at"
            )
        by_agency: dict[str, list[KeyInfo]] = {}
        for k in keys:
            by_agency.setdefault(k["agency_id"], []).append(
                KeyInfo(k["keyid"], k["agency_id"], k["added_at"], k["revoked_at"])
            )
        return [
            Agency(r["agency_id"], Role(r["role"]), r["name"], r["name_en"],
                   tuple(by_agency.get(r["agency_id"], ())))
            for r in rows
        ]

    async def snapshot(self) -> RegistrySnapshot:
        async with translated_errors(), self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT k.keyid, k.agency_id, a.role, k.public_pem, k.added_at, k.revoked_at"
                " FROM agency_keys k JOIN agencies a USING (agency_id)"
            )
            perms = await conn.fetch("SELECT role, event_type FROM role_permissions")
            agencies = await conn.fetch("SELECT agency_id FROM agencies")
        keys = {
            r["keyid"]: KeyRecord(
                r["keyid"], r["agency_id"], Role(r["role"]), load_public_pem(r["public_pem"]),
                r["revoked_at"], r["added_at"],
            )
            for r in rows
        }
        permissions: dict[Role, set[str]] = {}
        for p in perms:
            permissions.setdefault(Role(p["role"]), set()).add(p["event_type"])
        return RegistrySnapshot(keys, {r: frozenset(v) for r, v in permissions.items()},
                                frozenset(r["agency_id"] for r in agencies))
