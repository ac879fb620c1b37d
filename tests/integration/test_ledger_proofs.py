"""The verifiable ledger end to end: signed checkpoints, proofs, full verify, export, witness."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiokafka.structs import ConsumerRecord

from audit.checkpoint import Checkpoint, open_checkpoint
from audit.export import verify_export_dir
from audit.note import open_note
from audit.note import signature_line as note_signature_line
from audit.note_keys import CosignatureSigner, CosignatureVerifier, Ed25519Verifier
from audit.proofs import ConsistencyProof, verify_inclusion_json
from connectors.connector import Connector
from connectors.proofs import ProofUnavailable, fetch_and_verify_inclusion
from hub.settings import Settings
from schemas.signing import SigningKey, raw_public_bytes
from schemas.topics import CHECKPOINTS
from tests.integration.conftest import Hub
from tests.kafka_io import read_topic, wait_for
from tests.records import sample_data

pytestmark = pytest.mark.integration


def origin(hub: Hub) -> str:
    return Settings.from_env(hub.process.env()).origin


def hub_verifier(hub: Hub) -> Ed25519Verifier:
    return Ed25519Verifier(origin(hub), raw_public_bytes(hub.process.hub_key().public_key))


async def publish(aic: Connector, n: int) -> list[tuple[str, bytes]]:
    """Publish n accepted events; (event id, exact record bytes) of each."""
    ids = [await aic.publish("clue.notified", f"AIC-LEDGER-{time.time_ns() % 10**9}-{i}",
                             sample_data("clue.notified")) for i in range(n)]
    out = []
    for event_id in ids:
        entry = await aic.wait_for_receipt(event_id, timeout=60)
        assert entry.status == "accepted", entry
        out.append((event_id, entry.value))
    return out


def checkpoint(hub: Hub) -> tuple[str, Checkpoint]:
    note = hub.process.cli("ledger", "checkpoint").stdout
    return note, open_checkpoint(note, hub_verifier(hub), origin=origin(hub))


async def test_checkpoint_inclusion_and_consistency(hub: Hub, aic: Connector) -> None:
    events = await publish(aic, 3)
    _, first = checkpoint(hub)
    assert first.size >= 3
    for event_id, leaf in events:
        document = hub.process.cli("ledger", "prove", event_id, "--json").stdout
        covered = verify_inclusion_json(document, leaf, hub_verifier(hub), origin=origin(hub))
        assert covered.size >= first.size
    await publish(aic, 2)
    _, second = checkpoint(hub)
    assert second.size >= first.size + 2
    out = hub.process.cli("ledger", "consistency", str(first.size), str(second.size)).stdout
    proof = ConsistencyProof.from_json(out)
    assert (proof.first, proof.second) == (first.size, second.size)
    proof.verify(first.root_hash, second.root_hash)
    bad = hub.process.cli("ledger", "consistency", str(second.size), str(second.size + 10**6),
                          check=False)
    assert bad.returncode != 0 and "need 0 <= first <= second" in bad.stderr


async def test_worker_stores_then_publishes_checkpoints(hub: Hub, aic: Connector) -> None:
    await publish(aic, 1)
    size = len(json.loads(hub.process.cli("ledger", "list", "--json").stdout))

    def signed(message: ConsumerRecord[Any, Any]) -> bool:
        assert message.key == origin(hub).encode()
        return open_checkpoint(message.value, hub_verifier(hub), origin=origin(hub)).size >= size

    await wait_for(hub.process.bootstrap, CHECKPOINTS, signed, timeout=30)
    published = [open_checkpoint(r.value, hub_verifier(hub), origin=origin(hub))
                 for r in await read_topic(hub.process.bootstrap, CHECKPOINTS)]
    sizes = [c.size for c in published]
    assert sizes == sorted(set(sizes)), "one publication per size, in order"
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{hub.process.http_port}/v1/ledger/checkpoint"
        async with http.get(url) as response:
            assert response.status == 200
            latest = open_checkpoint(await response.text(), hub_verifier(hub))
    assert latest.size >= published[-1].size


async def test_connector_verifies_its_event_over_http(hub: Hub, aic: Connector) -> None:
    [(event_id, leaf)] = await publish(aic, 1)
    base = f"http://127.0.0.1:{hub.process.http_port}"
    cp = await fetch_and_verify_inclusion(base, event_id, leaf, hub_verifier(hub))
    assert cp.origin == origin(hub)
    with pytest.raises(ProofUnavailable, match="404"):
        await fetch_and_verify_inclusion(base, "00000000-0000-4000-8000-000000000000", leaf,
                                         hub_verifier(hub))
    async with aiohttp.ClientSession() as http:
        params = {"first": "1", "second": str(cp.size)}
        async with http.get(f"{base}/v1/ledger/proof/consistency", params=params) as response:
            assert response.status == 200
            assert ConsistencyProof.model_validate(await response.json()).second == cp.size
        async with http.get(f"{base}/v1/ledger/proof/consistency",
                            params={"first": "x"}) as response:
            assert response.status == 400


async def test_full_verify_export_and_offline_verify(hub: Hub, aic: Connector,
                                                     tmp_path: Path) -> None:
    await publish(aic, 2)
    result = hub.process.cli("ledger", "verify")
    assert "ledger OK" in result.stdout and "账本校验通过" in result.stdout
    out = tmp_path / "export"
    hub.process.cli("ledger", "export", "--out", str(out))
    vkey = (out / "hub.vkey").read_text().strip()
    assert vkey.startswith(origin(hub) + "+")
    result = hub.process.cli("ledger", "verify", "--export", str(out), "--hub-vkey", vkey)
    assert "export OK" in result.stdout
    report = verify_export_dir(out, hub_verifier=hub_verifier(hub))
    assert report.checkpoint.size == sum(1 for _ in (out / "entries.jsonl").open())


async def test_witness_cosigns_consistent_checkpoints(hub: Hub, aic: Connector,
                                                     tmp_path: Path) -> None:
    SigningKey.generate().write_pair(tmp_path, "w1")
    name = "witness.example/w1"
    args = ("witness", "run", "--name", name, "--key", str(tmp_path / "w1.key.pem"),
            "--state", str(tmp_path / "w1.state"), "--once")
    await publish(aic, 1)
    _, first = checkpoint(hub)
    assert "cosigned" in hub.process.cli(*args).stdout
    await publish(aic, 2)
    _, second = checkpoint(hub)
    assert f"size {second.size}" in hub.process.cli(*args).stdout
    witness = CosignatureVerifier(name, raw_public_bytes(
        SigningKey.from_file(tmp_path / "w1.key.pem").public_key))
    base = f"http://127.0.0.1:{hub.process.http_port}/v1/ledger/cosignatures"
    async with aiohttp.ClientSession() as http:
        async with http.get(base, params={"tree_size": str(second.size)}) as response:
            doc = await response.json()
        assert [c["witness"] for c in doc["cosignatures"]] == [name]
        open_note(doc["checkpoint"], [witness])  # the cosigned note verifies for the witness
        open_note(doc["checkpoint"], [hub_verifier(hub)])
        # A remote witness submits over HTTP: kept only once the operator configured it.
        other = CosignatureSigner.generate("witness.example/w2")
        line = note_signature_line(second.to_text(), other)
        body = {"tree_size": second.size, "vkey": other.vkey(), "line": line}
        async with http.post(base, json=body) as response:
            assert response.status == 403, await response.text()
            assert (await response.json())["error"] == "unknown_witness"
        (hub.process.home / "witnesses.txt").write_text(f"# w2\n{other.vkey()}\n")
        async with http.post(base, json=body) as response:
            assert response.status == 201, await response.text()
        forged = note_signature_line(first.to_text(), other)
        async with http.post(base, json={**body, "line": forged}) as response:
            assert response.status == 422
        async with http.get(base, params={"tree_size": str(second.size)}) as response:
            doc = await response.json()
    assert sorted(c["witness"] for c in doc["cosignatures"]) == [name, "witness.example/w2"]


async def test_malformed_http_requests_are_400_with_a_json_reason(hub: Hub) -> None:
    base = f"http://127.0.0.1:{hub.process.http_port}/v1/ledger"
    async with aiohttp.ClientSession() as http:
        for path, params in [("/proof/inclusion", {"index": str(2**64)}),
                             ("/proof/inclusion", {"index": "-1"}),
                             ("/proof/inclusion", {"event_id": "x\u0000"}),
                             ("/proof/consistency", {"first": "0", "second": "9" * 40}),
                             ("/cosignatures", {"tree_size": str(2**63)})]:
            async with http.get(base + path, params=params) as response:
                assert response.status == 400, (path, params, await response.text())
                assert (await response.json())["error"] == "bad_request"
        vkey = CosignatureSigner.generate("witness.example/w9").vkey()
        for body in [b"[" * 100_000 + b"]" * 100_000, b'{"tree_size": NaN}', b"not json",
                     b'{"tree_size": 1e999, "vkey": "v", "line": "l"}',
                     b'{"tree_size": 18446744073709551616, "vkey": "v", "line": "l"}',
                     b'{"tree_size": true, "vkey": "v", "line": "l"}', b"[]",
                     json.dumps({"tree_size": 1, "vkey": vkey + "\u0000", "line": "x"}).encode()]:
            async with http.post(base + "/cosignatures", data=body,
                                 headers={"Content-Type": "application/json"}) as response:
                assert response.status == 400, (body[:60], await response.text())
                document = await response.json()
                assert document["error"] == "bad_request" and "database" not in str(document)
