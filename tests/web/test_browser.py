"""The workbench in Debian's Chromium, driven by Playwright (no browser download): log in,
the board with its lights, a case, an inclusion check, a supervision and its receipt, log
out; wrong password and lock-out; a form without its CSRF token refused; the audit desk.
Each page is saved as a screenshot in the test's tmp_path.

Needs `apt-get install chromium fonts-noto-cjk`; run with `pytest -m browser`.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.web.conftest import LOCKOUT, PERSON_ID, Stack, _send, ago, password

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = os.environ.get("LINKAGE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium fonts-noto-cjk)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        await launched.close()


async def new_page(browser: Browser, stack: Stack) -> Page:
    context = await browser.new_context(base_url=stack.base, locale="zh-CN",
                                        timezone_id="Asia/Shanghai",
                                        viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    return await context.new_page()


async def log_in(page: Page, user: str, secret: str | None = None) -> None:
    await page.goto("/login")
    await page.fill("input[name=username]", user)
    await page.fill("input[name=password]", secret or password(user))
    await page.click("button[type=submit]")


async def shot(page: Page, tmp_path: Path, name: str) -> None:
    await page.screenshot(path=tmp_path / f"{name}.png", full_page=True)


async def test_supervisor_logs_in_supervises_and_logs_out(browser: Browser, stack: Stack,
                                                          tmp_path: Path) -> None:
    page = await new_page(browser, stack)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto("/board")
    await expect(page).to_have_url(re.compile(r"/login$"))
    await shot(page, tmp_path, "01-login")
    await log_in(page, "sup")
    await expect(page).to_have_url(re.compile(r"/board$"))
    p = stack.cases["P"]
    row = page.locator("tr.alert-row", has_text=p)
    await expect(row).to_contain_text("PENALTY_INSTEAD_OF_TRANSFER")
    await expect(row.locator(".light-red")).to_be_visible()
    await expect(row).to_contain_text("市工商局")
    await shot(page, tmp_path, "02-board")

    # The board updates without a reload when an alert is raised.
    fresh = f"WB-LIVE-{uuid.uuid4().hex[:6]}"
    aic = stack.hub.connector("zs-aic", tmp_path / "aic.sqlite")
    await aic.start()
    try:
        org = {"kind": "organization", "id_type": "USCC", "id_number": "91442000MA4W1AB23X",
               "name": "古镇某灯饰厂"}
        await _send(aic, "case.opened", fresh, {
            "offence": "trademark_counterfeiting", "opened_at": ago(hours=5), "summary": "灯具",
            "parties": [org]})
        await _send(aic, "case.assessed", fresh, {"assessed_at": ago(hours=4),
                                                  "illegal_business_amount": "90000.00"})
        await _send(aic, "penalty.decided", fresh, {
            "decision_no": "中工商罚〔2026〕99号", "decided_at": ago(hours=3),
            "fine": "20000.00", "confiscated": "0.00"})
    finally:
        await aic.stop()
    await expect(page.locator("tr.alert-row", has_text=fresh)).to_be_visible(timeout=60_000)
    await shot(page, tmp_path, "03-board-live")

    await page.click(f"a.case-link:text-is('{p}')")
    await expect(page.locator("#case-id")).to_have_text(p)
    await expect(page.locator("#stage")).to_contain_text("已作出行政处罚")
    await expect(page.locator("td.idno", has_text=PERSON_ID)).to_be_visible()
    first = page.locator("table.timeline tbody tr").first
    await first.locator("button.verify").click()
    await expect(first).to_contain_text("已验证 verified")
    await shot(page, tmp_path, "04-case")

    await page.select_option("select[name=kind]", "recommend_transfer")
    await page.select_option("select[name=to_agency]", "zs-aic")
    await page.click("#issue")
    await expect(page).to_have_url(re.compile(r"/supervisions/[0-9a-f-]{36}$"))
    await expect(page.locator("#receipt-status")).to_contain_text("accepted", timeout=60_000)
    await expect(page.locator("#receipt-index")).to_have_text(re.compile(r"^\d+$"))
    await shot(page, tmp_path, "05-receipt")

    assert await page.evaluate("typeof window.htmx") == "object", "htmx served by the hub"
    await page.click("#logout")
    await expect(page).to_have_url(re.compile(r"/login$"))
    await page.goto("/board")
    await expect(page).to_have_url(re.compile(r"/login$"))
    await page.context.close()
    outside = [url for url in requested if not url.startswith(stack.base)]
    assert not outside, f"every asset comes from the hub, no CDN: {outside}"


async def test_wrong_password_then_lock_out(browser: Browser, stack: Stack,
                                            tmp_path: Path) -> None:
    page = await new_page(browser, stack)
    await log_in(page, "lockweb", "not-the-password")
    await expect(page.locator("p.error")).to_contain_text("用户名或密码错误")
    await shot(page, tmp_path, "06-wrong-password")
    for _ in range(LOCKOUT - 1):
        await log_in(page, "lockweb", "not-the-password")
    await expect(page.locator("p.error")).to_contain_text("锁定")
    await log_in(page, "lockweb")  # the right password, while locked
    await expect(page.locator("p.error")).to_contain_text("账户已锁定")
    await shot(page, tmp_path, "07-locked")
    await page.context.close()


async def test_a_form_without_its_csrf_token_is_refused(browser: Browser, stack: Stack,
                                                        tmp_path: Path) -> None:
    page = await new_page(browser, stack)
    await log_in(page, "sup")
    await expect(page).to_have_url(re.compile(r"/board$"))
    case_id = stack.cases["T"]
    for form in ({}, {"csrf": "forged"}):
        answer = await page.request.post(
            f"/cases/{case_id}/supervisions",
            form={**form, "kind": "order_filing", "to_agency": "zs-psb"}, max_redirects=0)
        assert answer.status == 403 and "CSRF" in await answer.text()
    logout = await page.request.post("/logout", form={}, max_redirects=0)
    assert logout.status == 403
    await page.goto("/board")  # still logged in: the forged logout did nothing
    await expect(page).to_have_url(re.compile(r"/board$"))
    # The login form has its own token (a double-submit cookie).
    fresh = await browser.new_context(base_url=stack.base)
    answer = await fresh.request.post("/login", form={"username": "sup",
                                                      "password": password("sup")},
                                      max_redirects=0)
    assert answer.status == 403
    await fresh.close()
    await page.goto(f"/cases/{case_id}")
    await page.evaluate("document.querySelector('form.supervise input[name=csrf]').remove()")
    await page.click("#issue")
    await expect(page.locator("section.problem")).to_contain_text("CSRF")
    await shot(page, tmp_path, "08-csrf-refused")
    await page.context.close()


async def test_the_audit_desk_masks_and_shows_the_ledger(browser: Browser, stack: Stack,
                                                         tmp_path: Path) -> None:
    page = await new_page(browser, stack)
    await log_in(page, "aud")
    await expect(page).to_have_url(re.compile(r"/audit$"))
    await expect(page.locator("table.ledger tbody tr").first).to_contain_text("case.opened")
    await shot(page, tmp_path, "09-ledger")
    await page.locator("table.ledger a", has_text="包含证明").first.click()
    await expect(page.locator("#proof-result")).to_contain_text("验证")
    await shot(page, tmp_path, "10-proof")
    await page.goto("/audit/checkpoints")
    await expect(page.locator("article.checkpoint").first).to_be_visible()
    await shot(page, tmp_path, "11-checkpoints")
    await page.locator("article.checkpoint a").last.click()  # the oldest against the latest
    await expect(page.locator("#proof-result")).to_contain_text("verified against both")
    await shot(page, tmp_path, "11b-consistency")
    await page.goto(f"/cases/{stack.cases['P']}")
    await expect(page.locator("td.idno").first).to_contain_text("*")
    assert PERSON_ID not in await page.content()
    await shot(page, tmp_path, "12-case-auditor")
    await page.goto("/audit/access-log")
    await expect(page.locator("table.log")).to_contain_text("case.read")
    await shot(page, tmp_path, "13-access-log")
    await page.context.close()
    admin = await new_page(browser, stack)
    await log_in(admin, "adm")
    await expect(admin).to_have_url(re.compile(r"/admin/users$"))
    await expect(admin.locator("table")).to_contain_text("lockweb")
    form = admin.locator("#add-user")
    await form.locator("input[name=username]").fill("webuser")
    await form.locator("select[name=agency]").select_option("zs-customs")
    await form.locator("select[name=role]").select_option("officer")
    await form.locator("input[name=password]").fill("a-long-password-3")
    await form.locator("button[type=submit]").click()
    await expect(admin.locator("table")).to_contain_text("webuser")
    await shot(admin, tmp_path, "14-users")
    await admin.goto(f"/cases/{stack.cases['P']}")
    await expect(admin.locator("section.problem")).to_contain_text("403")
    await admin.context.close()
