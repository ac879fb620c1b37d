"""Tampering behind the hub's back is caught: `ledger verify` names the first bad index, the
witness refuses a forked checkpoint with both tree heads.

A superuser session with ``session_replication_role = replica`` gets past the append-only
triggers (as an attacker with database access would). Every test restores what it
changed, on this module's own hub, so nothing leaks into other modules.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from audit.checkpoint import Checkpoint, sign_checkpoint
from audit.note_keys import Ed25519Signer
from hub.settings import Settings
from schemas.signing import SigningKey
from tests.integration.conftest import Hub, dedicated_hub
from tests.records import sample_data

pytestmark = pytest.mark.integration

ENTRIES = 8


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, pg_root: Path) -> Iterator[Hub]:
    """This module's own hub (overrides conftest's), so tampering cannot leak elsewhere."""
    with dedicated_hub("tcp", tmp_path_factory.mktemp("tamper"), pg_root) as running:
        yield running


@pytest.fixture(scope="module")
async def ledger(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> int:
    """Fill the ledger with ENTRIES accepted events and wait for a checkpoint covering them."""
    connector = hub.connector("zs-aic", tmp_path_factory.mktemp("aic") / "outbox.sqlite")
    await connector.start()
    try:
        ids = [await connector.publish("clue.notified", f"AIC-TAMPER-{i}",
                                       sample_data("clue.notified")) for i in range(ENTRIES)]
        for event_id in ids:
            assert (await connector.wait_for_receipt(event_id, timeout=60)).status == "accepted"
    finally:
        await connector.stop()
    hub.process.cli("ledger", "checkpoint")
    return ENTRIES


@pytest.fixture
async def superuser(hub: Hub) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(hub.process.database_url)
    await conn.execute("SET session_replication_role = replica")
    try:
        yield conn
    finally:
        await conn.close()


def verify_fails_at(hub: Hub, index: int, reason: str) -> str:
    result = hub.process.cli("ledger", "verify", check=False)
    assert result.returncode != 0, result.stdout
    assert f"first bad index {index}:" in result.stderr, result.stderr
    assert f"第一个错误序号 {index}" in result.stderr and f"[{reason}]" in result.stderr
    return result.stderr


def verify_passes(hub: Hub) -> None:
    result = hub.process.cli("ledger", "verify", check=False)
    assert result.returncode == 0, result.stderr


async def row(conn: asyncpg.Connection, index: int) -> dict[str, Any]:
    record = await conn.fetchrow("SELECT * FROM ledger WHERE ledger_index = $1", index)
    assert record is not None
    return dict(record)


async def test_edited_record_byte(hub: Hub, ledger: int, superuser: asyncpg.Connection) -> None:
    original = (await row(superuser, 3))["record"]
    edited = original[:40] + bytes([original[40] ^ 0x01]) + original[41:]
    await superuser.execute("UPDATE ledger SET record = $1 WHERE ledger_index = 3", edited)
    try:
        verify_fails_at(hub, 3, "leaf_hash_mismatch")
    finally:
        await superuser.execute("UPDATE ledger SET record = $1 WHERE ledger_index = 3", original)
    verify_passes(hub)


async def test_deleted_row(hub: Hub, ledger: int, superuser: asyncpg.Connection) -> None:
    original = await row(superuser, 2)
    await superuser.execute("DELETE FROM ledger WHERE ledger_index = 2")
    try:
        verify_fails_at(hub, 2, "index_not_contiguous")
    finally:
        columns = list(original)
        await superuser.execute(
            f"INSERT INTO ledger ({', '.join(columns)}) VALUES"
            f" ({', '.join(f'${i + 1}' for i in range(len(columns)))})",
            *original.values())
    verify_passes(hub)


def _swap_statements(columns: list[str]) -> list[str]:
    if columns:  # swap some columns' values between rows 1 and 5
        sets = ", ".join(f"{c} = other.{c}" for c in columns)
        return [f"UPDATE ledger SET {sets} FROM ledger other WHERE"
                " (ledger.ledger_index, other.ledger_index) IN ((1, 5), (5, 1))"]
    # swap whole rows: exchange their indexes (unique, so through a spare index)
    return ["UPDATE ledger SET ledger_index = 1000000 WHERE ledger_index = 1",
            "UPDATE ledger SET ledger_index = 1 WHERE ledger_index = 5",
            "UPDATE ledger SET ledger_index = 5 WHERE ledger_index = 1000000"]


@pytest.mark.parametrize(("columns", "reason"), [
    (["record"], "leaf_hash_mismatch"),
    (["record", "leaf_hash"], "metadata_mismatch"),  # the signed event names another id
    ([], "node_mismatch"),  # whole rows: only the stored Merkle leaf node tells
], ids=["record", "record+leaf_hash", "whole-rows"])
async def test_swapped_rows(hub: Hub, ledger: int, superuser: asyncpg.Connection,
                            columns: list[str], reason: str) -> None:
    for statement in _swap_statements(columns):
        await superuser.execute(statement)
    try:
        verify_fails_at(hub, 1, reason)
    finally:
        for statement in _swap_statements(columns):
            await superuser.execute(statement)
    verify_passes(hub)


@pytest.mark.parametrize("field", ["case_id", "record"])
async def test_tampered_export_is_pinned_offline(hub: Hub, ledger: int, tmp_path: Path,
                                                 field: str) -> None:
    out = tmp_path / "export"
    hub.process.cli("ledger", "export", "--out", str(out))
    lines = (out / "entries.jsonl").read_text().splitlines()
    doc = json.loads(lines[4])
    if field == "case_id":
        doc["case_id"], reason = "AIC-FORGED-1", "metadata_mismatch"
    else:
        record = base64.b64decode(doc["record"])
        doc["record"] = base64.b64encode(record.replace(b"}", b" }", 1)).decode()
        reason = "leaf_hash_mismatch"
    lines[4] = json.dumps(doc)
    (out / "entries.jsonl").write_text("\n".join(lines) + "\n")
    result = hub.process.cli("ledger", "verify", "--export", str(out), check=False)
    assert result.returncode != 0
    assert "first bad index 4:" in result.stderr and f"[{reason}]" in result.stderr


def export_fails_at(hub: Hub, out: Path, index: int, reason: str) -> None:
    result = hub.process.cli("ledger", "verify", "--export", str(out), check=False)
    assert result.returncode != 0, result.stdout
    assert f"first bad index {index}:" in result.stderr and f"[{reason}]" in result.stderr


@pytest.mark.parametrize("moved", ["received_at", "added_at"])
async def test_entry_received_before_its_key_was_added(
        hub: Hub, ledger: int, superuser: asyncpg.Connection, tmp_path: Path,
        moved: str) -> None:
    """An entry signed by a key registered only after the entry's received_at (beyond the
    tolerance) is named, by `ledger verify` and offline in an export: either the entry is
    back-dated (its received_at is not in the Merkle leaf) or the key row is (re)inserted
    later, as an insider registering a key and back-filling entries would leave it."""
    entry = await row(superuser, 4)
    keyid = entry["keyid"]
    added_at = await superuser.fetchval("SELECT added_at FROM agency_keys WHERE keyid = $1",
                                        keyid)
    if moved == "received_at":
        bad, undo = 4, ("UPDATE ledger SET received_at = $1 WHERE ledger_index = 4",
                        entry["received_at"])
        await superuser.execute("UPDATE ledger SET received_at = $1 WHERE ledger_index = 4",
                                added_at - timedelta(minutes=2))
    else:
        bad, undo = 0, ("UPDATE agency_keys SET added_at = $1 WHERE keyid = $2", added_at, keyid)
        latest = await superuser.fetchval("SELECT max(received_at) FROM ledger")
        await superuser.execute("UPDATE agency_keys SET added_at = $1 WHERE keyid = $2",
                                latest + timedelta(minutes=2), keyid)
    try:
        message = verify_fails_at(hub, bad, "key_not_yet_added")
        assert "才登记" in message and "only registered at" in message and keyid in message
        hub.process.cli("ledger", "export", "--out", str(tmp_path / "export"))
        export_fails_at(hub, tmp_path / "export", bad, "key_not_yet_added")
        # The tolerance is the auditor's to widen; a wide one accepts the entry.
        wide = hub.process.cli("ledger", "verify", "--key-time-tolerance", "86400", check=False)
        assert wide.returncode == 0, wide.stderr
    finally:
        await superuser.execute(*undo)
    verify_passes(hub)


async def test_export_carries_key_history_and_an_older_export_still_verifies(
        hub: Hub, ledger: int, tmp_path: Path) -> None:
    out = tmp_path / "export"
    hub.process.cli("ledger", "export", "--out", str(out))
    keys = json.loads((out / "agency_keys.json").read_text())
    assert keys and all(datetime.fromisoformat(k["added_at"]) for k in keys)
    result = hub.process.cli("ledger", "verify", "--export", str(out))
    assert "export OK" in result.stdout and "added_at" not in result.stdout
    for k in keys:  # as written before agency_keys.json carried added_at
        del k["added_at"]
    (out / "agency_keys.json").write_text(json.dumps(keys))
    result = hub.process.cli("ledger", "verify", "--export", str(out))
    assert "export OK" in result.stdout
    assert f"note: {ledger} entries' keys have no added_at" in result.stdout
    assert f"注意：{ledger} 个条目的密钥在导出中没有登记时间" in result.stdout


async def test_witness_refuses_a_fork(hub: Hub, ledger: int, superuser: asyncpg.Connection,
                                      tmp_path: Path) -> None:
    SigningKey.generate().write_pair(tmp_path, "w")
    args = ("witness", "run", "--name", "witness.example/tamper", "--key",
            str(tmp_path / "w.key.pem"), "--state", str(tmp_path / "w.state"), "--once")
    hub.process.cli(*args)
    seen = Checkpoint.parse(json.loads((tmp_path / "w.state").read_text())["logs"][
        Settings.from_env(hub.process.env()).origin])
    original = dict(await superuser.fetchrow(
        "SELECT * FROM checkpoints WHERE tree_size = $1", seen.size))
    forged = Checkpoint(seen.origin, seen.size, bytes(32))
    signer = Ed25519Signer(seen.origin, hub.process.hub_key().private_key)
    await superuser.execute("DELETE FROM checkpoints WHERE tree_size = $1", seen.size)
    await superuser.execute(
        "INSERT INTO checkpoints (tree_size, root_hash, note) VALUES ($1, $2, $3)",
        seen.size, forged.root_hash, sign_checkpoint(forged, signer))
    try:
        result = hub.process.cli(*args, check=False)
        assert result.returncode == 3, result.stderr
        for head in (seen, forged):
            assert f"({seen.origin}, {seen.size}, {head.root_b64})" in result.stderr
        assert "fork" in result.stderr and "分叉" in result.stderr
        # The hub itself refuses to hand out the forked head as its checkpoint.
        refused = hub.process.cli("ledger", "checkpoint", check=False)
        assert refused.returncode != 0 and "(fork)" in refused.stderr
    finally:
        await superuser.execute("DELETE FROM checkpoints WHERE tree_size = $1", seen.size)
        await superuser.execute(
            "INSERT INTO checkpoints (tree_size, root_hash, note, created_at)"
            " VALUES ($1, $2, $3, $4)",
            seen.size, original["root_hash"], original["note"], original["created_at"])
    verify_passes(hub)


async def test_checkpoints_are_append_only(hub: Hub, ledger: int) -> None:
    """Without the trigger bypass even the owner cannot rewrite checkpoints; the hub role
    has no UPDATE or DELETE at all."""
    conn = await asyncpg.connect(hub.process.database_url)
    try:
        for statement in ("UPDATE checkpoints SET note = 'x'", "DELETE FROM checkpoints",
                          "TRUNCATE checkpoints CASCADE"):
            with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
                await conn.execute(statement)
        await conn.execute("SET ROLE linkage_hub")
        for statement in ("UPDATE checkpoints SET note = 'x'", "DELETE FROM cosignatures"):
            with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
                await conn.execute(statement)
    finally:
        await conn.close()
