"""The JSON API end to end over HTTP: the authorization matrix (every role x every endpoint),
scope (404 outside it, exactly like unknown), masking, tokens, supervision, the public
ledger endpoints (same JSON as the worker's), metrics."""

from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from audit.note import signature_line as note_signature_line
from audit.note_keys import CosignatureSigner
from schemas.signing import SigningKey
from tests.web.conftest import (
    LOCKOUT,
    PERSON_ID,
    WITNESS,
    Stack,
    _send,
    ago,
    eventually,
    password,
)

pytestmark = pytest.mark.integration

ROLES = ["sup", "aic", "aud", "adm"]  # supervisor, officer, auditor, admin


def endpoints(s: Stack) -> list[tuple[str, str, dict[str, Any] | None, dict[str, int]]]:
    """(method, path, JSON body, expected status by user) for every /api/v1/ endpoint."""
    p = s.cases["P"]
    return [
        ("GET", "/api/v1/me", None, {"sup": 200, "aic": 200, "aud": 200, "adm": 200}),
        ("GET", "/api/v1/agencies", None, {"sup": 200, "aic": 200, "aud": 200, "adm": 200}),
        ("GET", "/api/v1/alerts?status=open", None,
         {"sup": 200, "aic": 200, "aud": 200, "adm": 403}),
        ("GET", "/api/v1/alerts/stats?status=open", None,
         {"sup": 200, "aic": 200, "aud": 200, "adm": 403}),
        ("GET", "/api/v1/alerts/export?status=open", None,
         {"sup": 200, "aic": 200, "aud": 200, "adm": 403}),
        ("GET", f"/api/v1/cases/{p}", None, {"sup": 200, "aic": 200, "aud": 200, "adm": 403}),
        ("GET", f"/api/v1/cases/{p}/events/0/inclusion", None,  # P's opening is entry 0
         {"sup": 200, "aic": 200, "aud": 200, "adm": 403}),
        ("GET", f"/api/v1/cases/{s.cases['C']}/events/0/inclusion", None,  # not C's entry
         {"sup": 404, "aic": 404, "aud": 404, "adm": 403}),
        ("POST", f"/api/v1/cases/{p}/supervisions",
         {"kind": "recommend_transfer", "to_agency": "zs-aic", "wait_seconds": 0},
         {"sup": 201, "aic": 403, "aud": 403, "adm": 403}),
        ("GET", "/api/v1/supervisions/00000000-0000-4000-8000-000000000000", None,
         {"sup": 404, "aic": 403, "aud": 403, "adm": 403}),
        ("GET", "/api/v1/ledger/entries", None, {"sup": 200, "aic": 403, "aud": 200, "adm": 403}),
        ("GET", "/api/v1/ledger/checkpoints", None,
         {"sup": 200, "aic": 403, "aud": 200, "adm": 403}),
        ("GET", "/api/v1/access-log", None, {"sup": 403, "aic": 403, "aud": 200, "adm": 200}),
        ("GET", "/api/v1/users", None, {"sup": 403, "aic": 403, "aud": 403, "adm": 200}),
        ("POST", "/api/v1/users", {"username": "newbie", "agency": "zs-psb", "role": "officer",
                                   "password": "a-long-password-1"},
         {"sup": 403, "aic": 403, "aud": 403, "adm": 201}),
        ("POST", "/api/v1/users/gone/disable", None,
         {"sup": 403, "aic": 403, "aud": 403, "adm": 204}),
        ("DELETE", "/api/v1/tokens/current", None,
         {"sup": 204, "aic": 204, "aud": 204, "adm": 204}),
    ]


async def call(s: Stack, method: str, path: str, body: dict[str, Any] | None,
               token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with s.client() as http:
        return await http.request(method, path, json=body, headers=headers)


def no_identity_number(answer: httpx.Response) -> None:
    assert PERSON_ID not in answer.text and "91442000MA4W1AB23X" not in answer.text, answer.text


async def test_every_role_on_every_endpoint(stack: Stack) -> None:
    for method, path, body, expected in endpoints(stack):
        anonymous = await call(stack, method, path, body, None)
        assert anonymous.status_code == 401, (path, anonymous.text)
        assert anonymous.headers["www-authenticate"] == "Bearer"
        assert set(anonymous.json()) == {"error", "message_zh", "message_en"}
        bogus = await call(stack, method, path, body, "not-a-token")
        assert bogus.status_code == 401, path
        for user in ROLES:
            # A fresh token per call: the last row revokes the token it is called with.
            async with stack.client() as http:
                token = (await http.post("/api/v1/tokens", json={
                    "username": user, "password": password(user)})).json()["token"]
            answer = await call(stack, method, path, body, token)
            assert answer.status_code == expected[user], (user, method, path, answer.text)
            if user in ("aud", "adm"):
                no_identity_number(answer)
            if answer.status_code >= 400:
                assert answer.json()["message_zh"] and answer.json()["message_en"]
    # the revoked tokens no longer work
    assert (await call(stack, "GET", "/api/v1/me", None, token)).status_code == 401


async def test_officers_see_their_agencys_cases_only(stack: Stack) -> None:
    p, t, c = stack.cases["P"], stack.cases["T"], stack.cases["C"]
    visible = {"aic": {p, t}, "psb": {t}, "cus": {c}, "sup": {p, t, c}}
    for user, cases in visible.items():
        for case_id in (p, t, c):
            answer = await stack.get(user, f"/api/v1/cases/{case_id}")
            assert answer.status_code == (200 if case_id in cases else 404), (user, case_id)
        unknown = await stack.get(user, "/api/v1/cases/NO-SUCH-CASE")
        hidden = await stack.get("psb", f"/api/v1/cases/{p}")
        assert unknown.status_code == hidden.status_code == 404
        assert unknown.json() == hidden.json(), "out of scope must look exactly like unknown"
    alerts = await stack.get("psb", "/api/v1/alerts", params={"case": p})
    assert alerts.status_code == 200 and alerts.json() == []
    assert alerts.headers["x-total-count"] == "0"
    mine = await stack.get("aic", "/api/v1/alerts", params={"case": p})
    assert [a["case_id"] for a in mine.json()] == [p] and mine.headers["x-total-count"] == "1"
    stats = (await stack.get("aic", "/api/v1/alerts/stats", params={"case": p})).json()
    assert stats == {"total": 1, "per_rule": {"PENALTY_INSTEAD_OF_TRANSFER": 1}}
    hidden = (await stack.get("psb", "/api/v1/alerts/stats", params={"case": p})).json()
    assert hidden == {"total": 0, "per_rule": {}}


async def test_the_case_document(stack: Stack) -> None:
    case = (await stack.get("sup", f"/api/v1/cases/{stack.cases['P']}")).json()
    assert case["offence"] == "trademark_counterfeiting" and case["agency"] == "zs-aic"
    assert case["agency_name"] == "市工商局"
    assert {p["id_number"] for p in case["parties"]} == {PERSON_ID, "91442000MA4W1AB23X"}
    assert {"name": "illegal_business_amount", "value": "86000.00"} in case["amounts"]
    assert any(t["met"] for t in case["thresholds"])
    assert case["stage"]["code"] == "penalised"
    assert [a["rule_id"] for a in case["open_alerts"]] == ["PENALTY_INSTEAD_OF_TRANSFER"]
    assert case["open_alerts"][0]["light"] == "red"
    timeline = case["timeline"]
    assert [e["type"] for e in timeline][:3] == ["case.opened", "case.assessed",
                                                 "penalty.decided"]
    assert all({"event_id", "type", "agency", "time", "ledger_index"} <= set(e) for e in timeline)
    assert all(e["time"].endswith("+08:00") for e in timeline), "times in Asia/Shanghai"
    index = timeline[0]["ledger_index"]
    check = (await stack.get("sup",
                             f"/api/v1/cases/{stack.cases['P']}/events/{index}/inclusion")).json()
    assert check["verified"] is True and check["tree_size"] > index
    outside = await stack.get("psb", f"/api/v1/cases/{stack.cases['P']}/events/{index}/inclusion")
    assert outside.status_code == 404


async def test_auditors_see_masked_identity_numbers(stack: Stack) -> None:
    answer = await stack.get("aud", f"/api/v1/cases/{stack.cases['P']}")
    no_identity_number(answer)
    numbers = {p["id_number"] for p in answer.json()["parties"]}
    assert numbers == {"4420**********1234", "9144**********23X"[:4] + "*" * 10 + "B23X"}
    assert "4420**********1234" in answer.text
    alerts = await stack.get("aud", "/api/v1/alerts")
    no_identity_number(alerts)


async def test_supervision_is_signed_sent_and_receipted(stack: Stack) -> None:
    case_id = stack.cases["T"]
    async with stack.client() as http:
        answer = await http.post(
            f"/api/v1/cases/{case_id}/supervisions",
            json={"kind": "explain_non_filing", "to_agency": "zs-psb", "wait_seconds": 30},
            headers={"Authorization": f"Bearer {await stack.token('sup')}"})
    assert answer.status_code == 201, answer.text
    receipt = answer.json()
    assert receipt["status"] == "accepted" and receipt["ledger_index"] is not None

    async def on_timeline() -> bool:
        case = (await stack.get("sup", f"/api/v1/cases/{case_id}")).json()
        return any(e["event_id"] == receipt["event_id"] and e["agency"] == "zs-procuratorate"
                   for e in case["timeline"])

    await eventually(on_timeline, what="the supervision on the timeline")
    again = await stack.get("sup", f"/api/v1/supervisions/{receipt['event_id']}")
    assert again.json()["status"] == "accepted"
    key_dir = stack.hub.process.home / "keys" / "workbench"
    [key_file] = key_dir.iterdir()
    assert b"ENCRYPTED PRIVATE KEY" in key_file.read_bytes()
    log = (await stack.get("aud", "/api/v1/access-log",
                           params={"action": "supervision.issue"})).json()
    assert any(r["target"] == case_id and r["username"] == "sup" for r in log)
    keys = (await stack.get("aud", "/api/v1/access-log",
                            params={"username": "workbench"})).json()
    assert [(r["action"], r["target"]) for r in keys] == [("agency.add_key", "zs-procuratorate")]


async def test_wrong_passwords_lock_the_account(stack: Stack) -> None:
    async with stack.client() as http:
        for _ in range(LOCKOUT):
            wrong = await http.post("/api/v1/tokens", json={"username": "lockme",
                                                            "password": "wrong-password"})
            assert wrong.status_code in (401, 423)
        assert wrong.status_code == 423 and "锁定" in wrong.json()["message_zh"]
        right = await http.post("/api/v1/tokens", json={"username": "lockme",
                                                        "password": password("lockme")})
        assert right.status_code == 423, "locked even with the right password"
        unknown = await http.post("/api/v1/tokens", json={"username": "nobody",
                                                          "password": "wrong-password"})
        assert unknown.status_code == 401
    log = (await stack.get("adm", "/api/v1/access-log", params={"username": "lockme"})).json()
    # newest first: the right password while locked, then the failures (the last one locked)
    assert [r["outcome"] for r in log][:LOCKOUT + 1] == ["locked"] + ["failed"] * LOCKOUT


async def test_reads_are_in_the_access_log(stack: Stack) -> None:
    await stack.get("cus", f"/api/v1/cases/{stack.cases['C']}")
    await stack.get("cus", f"/api/v1/cases/{stack.cases['P']}")
    log = (await stack.get("aud", "/api/v1/access-log", params={"username": "cus"})).json()
    reads = [(r["action"], r["target"], r["outcome"]) for r in log if r["action"] == "case.read"]
    assert reads[:2] == [("case.read", stack.cases["P"], "not_found"),
                         ("case.read", stack.cases["C"], "ok")]
    assert all(r["role"] == "officer" and r["agency"] == "zs-customs" for r in log
               if r["action"] == "case.read")


async def test_public_ledger_endpoints_answer_as_the_workers_did(stack: Stack) -> None:
    worker = f"http://127.0.0.1:{stack.hub.process.http_port}"
    async with httpx.AsyncClient(timeout=30) as http:
        note = (await http.get(f"{stack.base}/v1/ledger/checkpoint")).text
        assert note == (await http.get(f"{worker}/v1/ledger/checkpoint")).text
        size = int(note.splitlines()[1])
        for path in (f"/v1/ledger/proof/inclusion?index=0&tree_size={size}",
                     f"/v1/ledger/proof/consistency?first=1&second={size}",
                     f"/v1/ledger/cosignatures?tree_size={size}",
                     "/v1/ledger/proof/inclusion?index=999999",
                     "/v1/ledger/proof/inclusion?index=-1",
                     "/v1/ledger/proof/inclusion?index=99999999999999999999",
                     "/v1/ledger/cosignatures?tree_size=abc",
                     "/v1/ledger/proof/consistency?first=1",
                     "/v1/ledger/proof/inclusion?event_id=nope"):
            ours, theirs = await http.get(stack.base + path), await http.get(worker + path)
            assert ours.status_code == theirs.status_code, (path, ours.text, theirs.text)
            assert ours.json() == theirs.json(), path
        metrics = (await http.get(f"{stack.base}/metrics")).text
        assert "linkage_web_requests_total" in metrics
        assert "linkage_ingress_records_total" in metrics, "the worker's metrics are included"
        health = await http.get(f"{stack.base}/healthz")
        assert health.json() == {"status": "ok", "pool": True}


async def test_openapi_describes_the_api(stack: Stack) -> None:
    async with stack.client() as http:
        schema = (await http.get("/openapi.json")).json()
    assert schema["openapi"].startswith("3.")
    for path in ("/api/v1/tokens", "/api/v1/alerts", "/api/v1/cases/{case_id}",
                 "/v1/ledger/proof/inclusion"):
        assert path in schema["paths"], path
    assert "HTTPBearer" in json.dumps(schema["components"]["securitySchemes"])


async def test_exports_are_scoped_masked_and_logged(stack: Stack) -> None:
    answer = await stack.get("aud", "/api/v1/alerts/export", params={"status": "open"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(answer.text.removeprefix("\ufeff"))))
    assert rows[0][:4] == ["alert_id", "rule_id", "status", "case_id"]
    assert any(stack.cases["P"] in row for row in rows)
    no_identity_number(answer)
    scoped = await stack.get("psb", "/api/v1/alerts/export")
    assert stack.cases["P"] not in scoped.text
    log = (await stack.get("adm", "/api/v1/access-log", params={"action": "export"})).json()
    assert {r["username"] for r in log} >= {"aud", "psb"}


async def test_user_and_agency_changes_are_logged(stack: Stack, tmp_path: Path) -> None:
    SigningKey.generate().write_pair(tmp_path, "extra")
    done = stack.cli("agency", "add-key", "zs-psb", str(tmp_path / "extra.pub.pem"))
    assert done.returncode == 0, done.stderr
    log = (await stack.get("aud", "/api/v1/access-log")).json()
    actions = {(r["action"], r["target"]) for r in log}
    assert ("agency.add_key", "zs-psb") in actions
    users = (await stack.get("aud", "/api/v1/access-log", params={"action": "user.add"})).json()
    by_cli = [r for r in users if r["target"] in {"sup", "aic", "aud", "adm"}]
    assert len(by_cli) == 4
    assert all(r["client"] == "cli" and r["username"].startswith("cli") for r in by_cli)


async def test_admins_add_users_with_the_same_checks_as_the_cli(stack: Stack) -> None:
    token = await stack.token("adm")

    async def add(body: dict[str, Any]) -> httpx.Response:
        return await call(stack, "POST", "/api/v1/users", body, token)

    base = {"username": "adder", "agency": "zs-aic", "role": "officer",
            "password": "a-long-password-2"}
    assert (await add({**base, "password": "short"})).json()["error"] == "weak_password"
    assert (await add({**base, "role": "supervisor"})).json()["error"] == "not_procuratorate"
    assert (await add({**base, "agency": "zs-nowhere"})).json()["error"] == "unknown_agency"
    assert (await add(base)).status_code == 201
    assert (await add(base)).json()["error"] == "user_exists"
    async with stack.client() as http:
        login = await http.post("/api/v1/tokens", json={"username": "adder",
                                                        "password": "a-long-password-2"})
    assert login.status_code == 200
    log = (await stack.get("aud", "/api/v1/access-log", params={"action": "user.add"})).json()
    assert any(r["target"] == "adder" and r["username"] == "adm" for r in log)


async def test_a_witness_cosignature_shows_on_the_audit_desk(stack: Stack) -> None:
    async with stack.client() as http:
        note = (await http.get("/v1/ledger/checkpoint")).text
        size = int(note.splitlines()[1])
        text = note.split("\n\n", 1)[0] + "\n"
        body = {"tree_size": size, "vkey": WITNESS.vkey(),
                "line": note_signature_line(text, WITNESS)}
        stored = await http.post("/v1/ledger/cosignatures", json=body)
        assert stored.status_code == 201, stored.text
        forged = await http.post("/v1/ledger/cosignatures",
                                 json={**body, "line": note_signature_line("other\n", WITNESS)})
        assert forged.status_code == 422
        stranger = CosignatureSigner.generate("witness.example/stranger")
        refused = await http.post("/v1/ledger/cosignatures", json={
            "tree_size": size, "vkey": stranger.vkey(),
            "line": note_signature_line(text, stranger)})
        assert refused.status_code == 403 and refused.json()["error"] == "unknown_witness"
    listed = (await stack.get("aud", "/api/v1/ledger/checkpoints")).json()
    [mine] = [c for c in listed if c["tree_size"] == size]
    assert [w["witness"] for w in mine["cosignatures"]] == ["witness.example/audit"]


async def test_scope_follows_the_senders_not_the_arrival_order(stack: Stack,
                                                               tmp_path: Path) -> None:
    case_id = f"WB-ORDER-{uuid.uuid4().hex[:6]}"
    aic = stack.hub.connector("zs-aic", tmp_path / "aic.sqlite")
    psb = stack.hub.connector("zs-psb", tmp_path / "psb.sqlite")
    await aic.start()
    await psb.start()
    try:
        # The transfer to customs is ledgered before the opening it belongs to ...
        await _send(aic, "case.transferred", case_id, {
            "to_agency": "zs-customs", "transferred_at": ago(hours=1), "documents": [
                {"kind": "transfer_letter", "title": "移送书", "sha256": "ab" * 32}]})
        # ... and the police name themselves recipient of a case that is not theirs.
        await _send(psb, "clue.notified", stack.cases["C"], {"to_agency": "zs-psb",
                                                             "summary": "想看看"})
        await _send(aic, "case.opened", case_id, {
            "offence": "counterfeit_goods_sale", "opened_at": ago(hours=5), "summary": "门店",
            "parties": [{"kind": "organization", "id_type": "USCC",
                         "id_number": "91442000MA4W1AB23X", "name": "古镇某灯饰厂"}]})
    finally:
        await aic.stop()
        await psb.stop()
    assert (await stack.get("cus", f"/api/v1/cases/{case_id}")).status_code == 200
    assert (await stack.get("psb", f"/api/v1/cases/{case_id}")).status_code == 404
    assert (await stack.get("psb", f"/api/v1/cases/{stack.cases['C']}")).status_code == 404
