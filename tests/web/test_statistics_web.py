"""The statistics over HTTP on the real stack (tests/web/conftest.py: P and T opened by
zs-aic, C by zs-customs): the API per role and scope, drill-down, downloads logged with their
SHA-256; and in Debian's Chromium (marker `browser`): the page draws its charts, a bar leads
to its cases, an officer sees its own agency's figures only."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, expect

from tests.web.conftest import Stack, eventually
from tests.web.test_browser import browser, log_in, new_page, shot  # noqa: F401

pytestmark = pytest.mark.integration


def year() -> str:
    """The year of the seeded cases' opening (five hours ago), in Shanghai time."""
    return (datetime.now(UTC) - timedelta(hours=5)).astimezone(
        ZoneInfo("Asia/Shanghai")).strftime("%Y")


async def opened_by_aic(stack: Stack, user: str) -> set[str]:
    answer = await stack.get(user, "/api/v1/statistics/cases",
                             params={"period": year(), "step": "opened", "agency": "zs-aic"})
    assert answer.status_code == 200, answer.text
    return {c["case_id"] for c in answer.json()["cases"]}


async def test_statistics_api_by_role_and_scope(stack: Stack) -> None:
    p, t, c = stack.cases["P"], stack.cases["T"], stack.cases["C"]

    async def folded() -> bool:
        return {p, t} <= await opened_by_aic(stack, "sup")

    await eventually(folded, what="the cases in the statistics")
    answer = await stack.get("sup", "/api/v1/statistics", params={"period": year()})
    assert answer.status_code == 200
    body = answer.json()
    assert body["by_agency"]["zs-aic"]["opened"] >= 2
    assert body["by_agency"]["zs-customs"]["opened"] >= 1
    assert [f["step"] for f in body["funnel"]][:2] == ["opened", "over_threshold"]
    assert {p, t} <= await opened_by_aic(stack, "aud")
    # an officer: its own agency's figures only, and no drill-down into another's cases
    customs = (await stack.get("cus", "/api/v1/statistics", params={"period": year()})).json()
    assert set(customs["by_agency"]) == {"zs-customs"}
    assert await opened_by_aic(stack, "cus") == set()
    drill = await stack.get("cus", "/api/v1/statistics/cases",
                            params={"period": year(), "step": "opened"})
    assert c in {x["case_id"] for x in drill.json()["cases"]}
    assert not {p, t} & {x["case_id"] for x in drill.json()["cases"]}
    assert (await stack.get("adm", "/api/v1/statistics", params={"period": year()})
            ).status_code == 403
    assert (await stack.get(None, "/api/v1/statistics", params={"period": year()})
            ).status_code == 401
    bad = await stack.get("sup", "/api/v1/statistics", params={"period": "2026-13"})
    assert bad.status_code == 422


async def test_downloads_are_logged_with_their_sha256(stack: Stack) -> None:
    month = (datetime.now(UTC) - timedelta(hours=3)).astimezone(
        ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    for path, kind in ((f"/api/v1/statistics/bulletin/{month}.pdf", "application/pdf"),
                       (f"/api/v1/statistics/bulletin/{month}.xlsx", "spreadsheetml"),
                       (f"/api/v1/disclosure/{month}.csv", "text/csv"),
                       (f"/api/v1/credit-list/{month}.json", "application/json")):
        answer = await stack.get("aud", path)
        assert answer.status_code == 200, (path, answer.text[:300])
        assert kind in answer.headers["content-type"]
        digest = hashlib.sha256(answer.content).hexdigest()
        assert answer.headers["x-content-sha256"] == digest
        log = await stack.get("aud", "/api/v1/access-log", params={"limit": 50})
        assert any(e.get("detail", {}).get("sha256") == digest for e in log.json()), path
    assert "442000199001011234" not in (
        await stack.get("aud", f"/api/v1/disclosure/{month}.csv")).text


@pytest.mark.browser
async def test_page_draws_charts_and_drills_down(browser: Browser, stack: Stack,  # noqa: F811
                                                tmp_path: Path) -> None:
    page = await new_page(browser, stack)
    await log_in(page, "sup")
    await page.goto(f"/statistics?period={year()}")
    await expect(page.locator("svg#chart-funnel rect.bar")).to_have_count(7)
    await expect(page.locator("svg#chart-trend polyline.series")).to_have_count(3)
    assert await page.locator("svg#chart-agencies rect.bar").count() >= 2
    box = await page.locator("svg#chart-funnel").bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    await shot(page, tmp_path, "stats-supervisor")
    bar = page.locator("svg#chart-agencies a[href*='agency=zs-aic'] rect.bar")
    await bar.click()
    await expect(page).to_have_url(re.compile(r"/statistics/cases\?.*agency=zs-aic"))
    await expect(page.locator("table#drill")).to_contain_text(stack.cases["P"])
    await expect(page.locator("table#drill")).to_contain_text(stack.cases["T"])
    assert stack.cases["C"] not in await page.locator("table#drill").inner_text()
    await shot(page, tmp_path, "stats-drill")
    await page.context.close()

    officer = await new_page(browser, stack)
    await log_in(officer, "cus")
    await officer.goto(f"/statistics?period={year()}")
    rows = officer.locator("table#by-agency tr[data-agency]")
    await expect(rows).to_have_count(1)
    assert await rows.first.get_attribute("data-agency") == "zs-customs"
    assert "市工商局" not in await officer.locator("table#by-agency").inner_text()
    await officer.goto(f"/statistics/cases?period={year()}&step=opened&agency=zs-aic")
    await expect(officer.locator("table#drill")).to_contain_text("无")
    await shot(officer, tmp_path, "stats-officer")
    await officer.context.close()
