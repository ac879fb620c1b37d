"""The registry port's contract (hub.registry.Registry), run against the in-memory registry
and PostgresRegistry: seeding, agencies, keys and revocation, and the snapshot ingress reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from hub.adapters.registry_store import PostgresRegistry
from hub.registry import InMemoryRegistry, RegistryError, RegistrySeed, default_seed
from schemas.events import EVENT_TYPES, Role
from schemas.signing import KeyFormatError, SigningKey, public_pem
from tests.contracts.conftest import BACKENDS, PoolFactory

KEYS = [SigningKey.generate() for _ in range(3)]


@pytest.fixture(params=BACKENDS)
async def registry(request: pytest.FixtureRequest, new_pool: PoolFactory) -> Any:
    """create_registry(): an empty registry of each implementation."""
    if request.param == "memory":
        return InMemoryRegistry()
    return PostgresRegistry(await new_pool(restricted=False))


def pem(n: int) -> str:
    return public_pem(KEYS[n].public_key)


async def test_seeding_adds_the_missing_agencies_and_the_contract_permissions(
        registry: Any) -> None:
    seed = default_seed()
    assert await registry.seed() == len(seed.agency)
    assert await registry.seed() == 0
    extra = RegistrySeed(version=1, agency=[*seed.agency[:1], {"id": "zs-new", "role":
                                                                "police", "name": "新机关"}])
    assert await registry.seed(extra) == 1
    agencies = {a.agency_id: a for a in await registry.agencies()}
    assert set(agencies) == {a.id for a in seed.agency} | {"zs-new"}
    assert agencies["zs-new"].role is Role.POLICE and agencies["zs-new"].keys == ()
    snapshot = await registry.snapshot()
    for spec in EVENT_TYPES.values():
        for role in Role:
            assert snapshot.permits(role, spec.name) == (role in spec.roles)


async def test_agencies_are_listed_by_id_with_their_keys_in_the_order_added(
        registry: Any) -> None:
    await registry.add_agency("zs-b", Role.ADMINISTRATIVE, "乙局", "Bureau B")
    await registry.add_agency("zs-a", Role.POLICE, "甲局")
    first = await registry.add_key("zs-b", pem(0))
    second = await registry.add_key("zs-b", pem(1).encode())
    agencies = await registry.agencies()
    assert [(a.agency_id, a.role, a.name, a.name_en) for a in agencies] == [
        ("zs-a", Role.POLICE, "甲局", ""), ("zs-b", Role.ADMINISTRATIVE, "乙局", "Bureau B")]
    keys = agencies[1].keys
    assert [(k.keyid, k.agency_id, k.status) for k in keys] == [
        (first, "zs-b", "active"), (second, "zs-b", "active")]
    assert keys[0].added_at <= keys[1].added_at and keys[0].added_at.utcoffset() is not None


async def test_bad_and_duplicate_additions_are_refused(registry: Any) -> None:
    await registry.add_agency("zs-a", Role.POLICE, "甲局")
    with pytest.raises(RegistryError, match="already exists"):
        await registry.add_agency("zs-a", Role.POLICE, "甲局")
    with pytest.raises(ValidationError):
        await registry.add_agency("Bad ID!", Role.POLICE, "坏")
    with pytest.raises(RegistryError, match="unknown agency"):
        await registry.add_key("zs-nobody", pem(0))
    await registry.add_key("zs-a", pem(0))
    await registry.add_agency("zs-b", Role.POLICE, "乙局")
    with pytest.raises(RegistryError, match="already registered to zs-a"):
        await registry.add_key("zs-b", pem(0))
    with pytest.raises(ValueError):
        await registry.add_key("zs-a", "not a pem")
    small_order = public_pem(Ed25519PublicKey.from_public_bytes(b"\x01" + bytes(31)))
    with pytest.raises(KeyFormatError, match="prime-order"):  # see docs/contract-notes.md
        await registry.add_key("zs-a", small_order)
    assert [a.agency_id for a in await registry.agencies()] == ["zs-a", "zs-b"]


async def test_the_snapshot_holds_every_key_with_its_role_and_revocation(
        registry: Any) -> None:
    await registry.seed()
    await registry.add_agency("zs-a", Role.PROCURATORATE, "甲院")
    active = await registry.add_key("zs-a", pem(0))
    revoked = await registry.add_key("zs-a", pem(1))
    when = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    assert await registry.revoke_key(revoked.upper(), when) == when  # any hex spelling
    snapshot = await registry.snapshot()
    assert set(snapshot.keys) == {active, revoked}
    record = snapshot.keys[active]
    assert (record.agency_id, record.role, record.revoked_at) == (
        "zs-a", Role.PROCURATORATE, None)
    assert record.public_key.public_bytes_raw() == KEYS[0].public_key.public_bytes_raw()
    assert snapshot.keys[revoked].revoked_by(when)
    assert not snapshot.keys[revoked].revoked_by(when - timedelta(seconds=1))
    [agency] = [a for a in await registry.agencies() if a.agency_id == "zs-a"]
    assert [k.status for k in agency.keys] == ["active", "revoked"]
    # The snapshot carries each key's registration time, for the ledger re-check's window.
    assert {k.keyid: k.added_at for k in agency.keys} == {
        k: snapshot.keys[k].added_at for k in (active, revoked)}
    assert all(k.added_at is not None for k in agency.keys)


async def test_revoking_twice_or_an_unknown_key_is_refused(registry: Any) -> None:
    await registry.add_agency("zs-a", Role.POLICE, "甲局")
    keyid = await registry.add_key("zs-a", pem(2))
    revoked_at = await registry.revoke_key(keyid)
    assert abs(revoked_at - datetime.now(UTC)) < timedelta(minutes=1)
    with pytest.raises(RegistryError, match="already revoked"):
        await registry.revoke_key(keyid)
    with pytest.raises(RegistryError, match="unknown key"):
        await registry.revoke_key("0" * 64)
