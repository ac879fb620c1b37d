"""网上移送、网上受理 in Debian's Chromium (issue 11): an officer opens a case, assesses it
over the threshold (a bad amount first: the error shows next to the field), approves and
transfers it with its documents; a police officer finds it in the inbox, downloads a
document (checked against the hash in the transfer), accepts and files it; the supervisor
sees no alert, or, with one document missing, the DOCUMENTS_MISSING alert.

Same Chromium and launch flags as tests/web/test_browser.py; run with `pytest -m browser`.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from streams.rules.calendar import SHANGHAI
from tests.web.conftest import Stack, eventually
from tests.web.test_browser import browser, log_in, new_page, shot

pytestmark = [pytest.mark.integration, pytest.mark.browser]
__all__ = ["browser"]  # the module's Chromium fixture, shared

DOCUMENTS = {"transfer_letter": "移送书.pdf", "investigation_report": "调查报告.pdf",
             "seized_items_list": "物品清单.png", "inspection_report": "检验报告.jpg"}
MAGIC = {".pdf": b"%PDF-1.4\n", ".png": b"\x89PNG\r\n\x1a\n", ".jpg": b"\xff\xd8\xff\xe0"}


def at(minutes_ago: int) -> str:
    """A datetime-local value in Beijing time."""
    moment = datetime.now(UTC).astimezone(SHANGHAI) - timedelta(minutes=minutes_ago)
    return moment.strftime("%Y-%m-%dT%H:%M")


async def submit(page: Page, fields: dict[str, str], tmp_path: Path, name: str,
                 files: dict[str, Path] | None = None) -> None:
    for field, value in fields.items():
        element = page.locator(f"#f-{field}")
        if await element.evaluate("e => e.tagName") == "SELECT":
            await element.select_option(value)
        else:
            await element.fill(value)
    for field, path in (files or {}).items():
        await page.set_input_files(f"#f-{field}", path)
    await page.click("#submit")
    await shot(page, tmp_path, name)


async def accepted(page: Page) -> None:
    await expect(page.locator("#receipt-status")).to_contain_text("已接收入账", timeout=60_000)


async def alerts(stack: Stack, case_id: str) -> list[dict[str, Any]]:
    answer = await stack.get("sup", "/api/v1/alerts", params={"case": case_id,
                                                              "status": "open"})
    result: list[dict[str, Any]] = answer.json()
    return result


@pytest.mark.parametrize("missing", [None, "inspection_report"])
async def test_transfer_online_and_accept_online(browser: Browser, stack: Stack, tmp_path: Path,
                                                 missing: str | None) -> None:
    case_id = f"NET-{uuid.uuid4().hex[:6]}"
    files: dict[str, Path] = {}
    for kind, name in DOCUMENTS.items():
        if kind == missing:
            continue
        path = tmp_path / name
        path.write_bytes(MAGIC[path.suffix] + f"{case_id} {kind}".encode())
        files[f"doc_{kind}"] = path

    officer = await new_page(browser, stack)
    await log_in(officer, "aic")
    await officer.click("text=办案")
    await officer.click("#open-case")
    await submit(officer, {"case_id": case_id, "offence": "trademark_counterfeiting",
                           "opened_at": at(60), "summary": "灯博会查获假冒注册商标灯具",
                           "party_kind": "organization", "party_id_type": "USCC",
                           "party_id_number": "91442000MA4W1AB23X",
                           "party_name": "中山市古镇某灯饰有限公司"}, tmp_path, "opened")
    await accepted(officer)
    work = f"/work/cases/{case_id}"
    await officer.goto(work)
    await officer.click("#act-case-assessed")
    await submit(officer, {"assessed_at": at(50), "illegal_business_amount": "86000.005"},
                 tmp_path, "bad-amount")
    error = officer.locator("#error-illegal_business_amount")
    await expect(error).to_contain_text("最多两位小数")
    await expect(officer.locator("#f-illegal_business_amount")).to_have_value("86000.005")
    await submit(officer, {"illegal_business_amount": "86000.00"}, tmp_path, "assessed")
    await accepted(officer)
    await officer.goto(work)
    await officer.click("#act-transfer-decided")
    await submit(officer, {"report_at": at(45), "decided_at": at(40), "approved": "true"},
                 tmp_path, "decided")
    await accepted(officer)
    await officer.goto(work)
    await officer.click("#act-case-transferred")
    await submit(officer, {"to_agency": "zs-psb", "transferred_at": at(30)}, tmp_path,
                 "transferred", files)
    await accepted(officer)

    police = await new_page(browser, stack)
    await log_in(police, "psb")
    await police.goto("/work")
    row = police.locator(f'#inbox tr[data-case="{case_id}"][data-type="case.transferred"]')
    await expect(row).to_have_class("unread")
    await expect(row).to_contain_text("剩余")  # the acceptance deadline, with the time left
    await shot(police, tmp_path, "inbox")
    await row.locator("button").click()
    letter = files["doc_transfer_letter"]
    async with police.expect_download() as waiting:
        await police.locator("#documents a.download").first.click()
    download = await waiting.value
    saved = tmp_path / "downloaded"
    await download.save_as(saved)
    assert saved.read_bytes() == letter.read_bytes()
    assert hashlib.sha256(saved.read_bytes()).hexdigest() in await police.content()
    await police.click("#act-transfer-accepted")
    await submit(police, {"accepted_at": at(20), "receipt_no": f"公受〔2026〕{case_id}"},
                 tmp_path, "accepted")
    await accepted(police)
    await police.goto(work)
    await police.click("#act-filing-decided")
    await submit(police, {"decided_at": at(10), "filed": "true", "complex": "false"},
                 tmp_path, "filed")
    await accepted(police)

    async def filed_and_judged() -> bool:
        """The rules runner folded the filing (alerts are raised in the same step)."""
        case = await stack.get("sup", f"/api/v1/cases/{case_id}")
        return case.status_code == 200 and case.json()["stage"]["code"] == "filed"

    await eventually(filed_and_judged, what="the filing, judged by the rules")
    supervisor = await new_page(browser, stack)
    await log_in(supervisor, "sup")
    await supervisor.goto(f"/cases/{case_id}")
    await shot(supervisor, tmp_path, "supervisor")
    rules = [a["rule_id"] for a in await alerts(stack, case_id)]
    if missing is None:
        assert rules == []
        await expect(supervisor.locator("table.alerts")).not_to_contain_text("DOCUMENTS_MISSING")
    else:
        assert rules == ["DOCUMENTS_MISSING"]
        await expect(supervisor.locator("table.alerts")).to_contain_text("DOCUMENTS_MISSING")
