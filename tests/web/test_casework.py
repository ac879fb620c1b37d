"""Officers' case work over plain HTTP (the browser tests drive the same pages in Chromium):
forms validated by the event models with errors in place, a double submit sending one event,
documents checked by content and size with nothing half-stored, the hash bound into the
transfer, a tampered stored file refused at download, downloads access-logged, the inbox."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.bulk_import import plan_import
from hub.web.forms import parse
from tests.web.conftest import Stack, eventually, password

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.4\n% linkage test document\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


def event_id_of(html: str) -> str:
    found = re.search(r'name="event_id" value="([^"]+)"', html)
    assert found
    return found.group(1)


@asynccontextmanager
async def session(stack: Stack, user: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.base, timeout=60) as http:
        page = await http.get("/login")
        answer = await http.post("/login", data={"username": user, "password": password(user),
                                                 "csrf": csrf_of(page.text)})
        assert answer.status_code == 303, answer.text
        yield http


async def form(http: httpx.AsyncClient, path: str) -> tuple[str, str]:
    page = await http.get(path)
    assert page.status_code == 200, page.text
    return csrf_of(page.text), event_id_of(page.text)


def now_local() -> str:
    return "2026-11-27T09:30"


async def open_case(http: httpx.AsyncClient, case_id: str) -> httpx.Response:
    csrf, event_id = await form(http, "/work/open")
    return await http.post("/work/open", data={
        "csrf": csrf, "event_id": event_id, "case_id": case_id,
        "offence": "trademark_counterfeiting", "opened_at": now_local(), "summary": "灯具",
        "party_kind": "organization", "party_id_type": "USCC",
        "party_id_number": "91442000MA4W1AB23X", "party_name": "古镇某灯饰厂"},
        follow_redirects=True)


def test_form_parsing_is_the_models_validation() -> None:
    data, errors = parse("case.assessed", {"assessed_at": "2026-11-27T10:30",
                                           "illegal_business_amount": "86000.001"})
    assert set(errors) == {"illegal_business_amount"} and "两位小数" in errors[
        "illegal_business_amount"][0]
    data, errors = parse("case.assessed", {"assessed_at": "2026-11-27T10:30"})
    assert set(errors) == {"__all__"}
    data, errors = parse("filing.decided", {"decided_at": "2026-11-27T10:30", "filed": "false"})
    assert set(errors) == {"reasons"}
    data, errors = parse("transfer.accepted", {"accepted_at": "2026-11-27 10:30",
                                               "receipt_no": "R-9"})
    assert not errors and data["accepted_at"] == "2026-11-27T10:30:00+08:00"


async def test_bad_amount_is_explained_next_to_the_field(stack: Stack) -> None:
    case_id = f"CW-BAD-{uuid.uuid4().hex[:6]}"
    async with session(stack, "aic") as http:
        assert "已接收入账" in (await open_case(http, case_id)).text
        path = f"/work/cases/{case_id}/events/case.assessed"
        csrf, event_id = await form(http, path)
        answer = await http.post(path, data={"csrf": csrf, "event_id": event_id,
                                             "assessed_at": now_local(),
                                             "illegal_business_amount": "八万"})
        assert answer.status_code == 422
        assert re.search(r'id="error-illegal_business_amount">金额须为人民币元', answer.text)
        assert 'value="八万"' in answer.text  # what was typed stays in place


async def test_double_submit_sends_one_event(stack: Stack) -> None:
    case_id = f"CW-TWICE-{uuid.uuid4().hex[:6]}"
    async with session(stack, "aic") as http:
        csrf, event_id = await form(http, "/work/open")
        fields = {"csrf": csrf, "event_id": event_id, "case_id": case_id,
                  "offence": "counterfeit_goods_sale", "opened_at": now_local(), "summary": "x",
                  "party_kind": "person", "party_id_type": "RIC",
                  "party_id_number": "442000199001011234", "party_name": "李四"}
        first, second = [await http.post("/work/open", data=fields, follow_redirects=True)
                         for _ in range(2)]
        assert "已接收入账" in first.text and event_id in second.text

    async def timeline() -> list[Any] | None:
        case = await stack.get("sup", f"/api/v1/cases/{case_id}")
        return case.json()["timeline"] if case.status_code == 200 else None

    events = await eventually(timeline)
    assert [e["event_id"] for e in events] == [event_id]


async def test_documents_refused_leave_nothing_then_tampering_is_detected(stack: Stack) -> None:
    case_id = f"CW-DOC-{uuid.uuid4().hex[:6]}"
    store = stack.hub.process.home / "documents"
    before = sorted(p.name for p in store.rglob("*") if p.is_file()) if store.exists() else []
    async with session(stack, "aic") as http:
        await open_case(http, case_id)
        path = f"/work/cases/{case_id}/events/case.transferred"
        csrf, event_id = await form(http, path)
        base = {"csrf": csrf, "event_id": event_id, "to_agency": "zs-psb",
                "transferred_at": now_local()}
        wrong = await http.post(path, data=base, files={
            "doc_transfer_letter": ("letter.pdf", b"MZ\x90\x00 not a pdf", "application/pdf"),
            "doc_investigation_report": ("report.pdf", PDF, "application/pdf")})
        assert wrong.status_code == 422
        assert re.search(r'id="error-doc_transfer_letter">只接受 PDF 或图片', wrong.text)
        big = await http.post(path, data=base, files={
            "doc_inspection_report": ("big.pdf", PDF + b"0" * (2 * 1024 * 1024),
                                      "application/pdf")})
        assert big.status_code == 422 and "上限" in big.text
        after = sorted(p.name for p in store.rglob("*") if p.is_file()) if store.exists() else []
        assert after == before  # nothing stored, not even the good report of the first try
        sent = await http.post(path, data=base, follow_redirects=True, files={
            "doc_transfer_letter": ("letter.pdf", PDF, "application/pdf"),
            "doc_seized_items_list": ("list.png", PNG, "image/png")})
        assert "已接收入账" in sent.text, sent.text
    digest = hashlib.sha256(PDF).hexdigest()
    async with session(stack, "psb") as http:
        async def listed() -> str | None:
            page = await http.get(f"/work/cases/{case_id}")
            return page.text if page.status_code == 200 and digest in page.text else None

        await eventually(listed, what="the transfer's documents for the police")
        got = await http.get(f"/work/cases/{case_id}/documents/{digest}")
        assert got.status_code == 200 and got.content == PDF
        assert got.headers["content-type"] == "application/pdf"
        (store / digest[:2] / digest).write_bytes(PDF.replace(b"test", b"TEST"))
        tampered = await http.get(f"/work/cases/{case_id}/documents/{digest}")
        assert tampered.status_code == 409 and "篡改" in tampered.text
        unknown = await http.get(f"/work/cases/{case_id}/documents/{'0' * 64}")
        assert unknown.status_code == 404
    async with session(stack, "cus") as http:  # out of scope: as unknown
        other = await http.get(f"/work/cases/{case_id}/documents/{digest}")
        assert other.status_code == 404
    log = (await stack.get("aud", "/api/v1/access-log",
                           params={"action": "document.download"})).json()
    outcomes = sorted(r["outcome"] for r in log if r["target"] == f"{case_id}/{digest}")
    assert outcomes == ["not_found", "ok", "tampered"]


async def test_inbox_lists_what_is_addressed_unread_first(stack: Stack) -> None:
    case_id = f"CW-INBOX-{uuid.uuid4().hex[:6]}"
    async with session(stack, "aic") as http:
        await open_case(http, case_id)
        path = f"/work/cases/{case_id}/events/clue.notified"
        csrf, event_id = await form(http, path)
        sent = await http.post(path, data={"csrf": csrf, "event_id": event_id,
                                           "to_agency": "zs-psb", "summary": "疑似售假"},
                               follow_redirects=True)
        assert "已接收入账" in sent.text
    async with session(stack, "psb") as http:
        async def in_inbox() -> str | None:
            page = await http.get("/work")
            return page.text if case_id in page.text else None

        desk = await eventually(in_inbox, what="the clue in the police inbox")
        row = re.search(rf'<tr class="(\w+)" data-case="{case_id}"', desk)
        assert row and row.group(1) == "unread"
        opened = await http.post(f"/work/inbox/{event_id}",
                                 data={"csrf": csrf_of(desk), "case_id": case_id})
        assert opened.status_code == 303
        again = (await http.get("/work")).text
        row = re.search(rf'<tr class="(\w+)" data-case="{case_id}"', again)
        assert row and row.group(1) == "read"


async def test_bulk_import_from_the_browser_with_progress_and_error_report(stack: Stack) -> None:
    """The CLI's importer on the fixture with bad rows: good rows sent and receipted, the
    per-row error report downloadable; another agency cannot see the job."""
    data = (Path(__file__).resolve().parents[1] / "fixtures" / "penalty"
            / "bad_rows.csv").read_bytes()
    expected = plan_import(data, "zs-aic")
    assert expected.events and expected.report.errors
    async with session(stack, "aic") as http:
        page = await http.get("/work/import")
        refused = await http.post("/work/import", data={"csrf": csrf_of(page.text)},
                                  files={"file": ("x.csv", b"\x00\x01\x02", "text/csv")})
        assert refused.status_code == 422 and 'id="import-error"' in refused.text
        started = await http.post("/work/import", data={"csrf": csrf_of(page.text)},
                                  files={"file": ("bad_rows.csv", data, "text/csv")})
        assert started.status_code == 303, started.text
        job = started.headers["location"]

        async def finished() -> str | None:
            text = (await http.get(job)).text
            return text if "完成 done" in text else None

        text = await eventually(finished, timeout=120, what="the import")
        assert f"accepted={len(expected.events)}" in text
        report = await http.get(f"{job}/errors.csv")
        assert report.status_code == 200 and report.content == expected.report.to_error_csv()
    async with session(stack, "psb") as http:
        assert (await http.get(job)).status_code == 404
