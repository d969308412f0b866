"""The dashboard in real headless Chromium (Debian's, driven by Playwright) against the views API
serving the known event set: figures equal the API's, the date range changes them, the CSV export
downloads the expected rows, a rule created in the UI is in the API, the live ticker moves when
events arrive. Screenshots of every page go to var/test-artifacts/screenshots/."""

from __future__ import annotations

import csv
import io
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from tenancy.kafka_log import KeyedLogWriter, ensure_keyed_log
from tests.conftest import free_port
from tests.factories import llm_call
from tests.live import serve
from tests.rates import expected_cost
from tests.viewsdata import NOW, Views, load, views

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SHOTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "screenshots"
PAGES = ["overview", "costs", "sessions", "products", "funnel", "alerts", "settings", "admin"]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str) -> AsyncIterator[tuple[Views, str]]:
    rules_topic = f"ui-{uuid.uuid4().hex[:8]}.alert-rules"
    await ensure_keyed_log(kafka_bootstrap, rules_topic, {"cleanup.policy": "compact"})
    async with views(tmp_path_factory.mktemp("ui"), rules_writer=KeyedLogWriter(kafka_bootstrap, rules_topic)) as v:
        with serve(v.app, free_port()) as url:
            yield v, url


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Browser]:
    assert Path(CHROMIUM).exists(), "the browser tests need Debian's chromium: make browser"
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        await launched.close()


async def signed_in(browser: Browser, url: str, key: str, width: int = 1280) -> Page:
    page = await browser.new_page(viewport={"width": width, "height": 900}, accept_downloads=True)
    await page.goto(f"{url}/static/dashboard.html?tenant_id=acme#key={key}")
    await expect(page.get_by_test_id("kpi-cost")).to_be_visible()
    assert "key=" not in page.url  # the fragment is dropped once read
    return page


async def api(url: str, key: str, path: str, **params: Any) -> Any:
    async with httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {key}"}) as client:
        response = await client.get(f"/api/dashboard/acme{path}", params=params)
        assert response.status_code == 200, response.text
        return response.json()


async def kpis(page: Page, *ids: str) -> dict[str, str]:
    return {i: await page.get_by_test_id(f"kpi-{i}").get_attribute("data-value") or "" for i in ids}


async def test_overview_and_costs_show_the_api_figures_and_follow_the_range(
    stack: tuple[Views, str], browser: Browser
) -> None:
    v, url = stack
    page = await signed_in(browser, url, v.keys["acme"])
    for period in ("7d", "30d"):
        if period != "7d":
            await page.select_option("#range", period)
            await expect(page.locator("#page h1")).to_contain_text(f"· {period}")
        costs = await api(url, v.keys["acme"], "/costs", period=period)
        sessions = await api(url, v.keys["acme"], "/sessions", period=period)
        messages = await api(url, v.keys["acme"], "/messages", period=period)
        assert await kpis(page, "cost", "requests", "sessions", "messages") == {
            "cost": costs["total_cost_usd"],
            "requests": str(costs["total_requests"]),
            "sessions": str(sessions["total_started"]),
            "messages": str(messages["total"]),
        }
    seven, thirty = await api(url, v.keys["acme"], "/costs", period="7d"), costs
    assert thirty["total_requests"] > seven["total_requests"]  # the switch really changed the figures
    heat = await api(url, v.keys["acme"], "/activity/hourly", period="30d")
    cells = page.get_by_test_id("heatmap").locator("td")
    shown = [int(x) for x in await cells.evaluate_all("cs => cs.map(c => c.dataset.value)")]
    assert shown == [n for row in heat["heatmap"] for n in row]

    await page.goto(f"{url}/#/costs")
    await expect(page.get_by_test_id("kpi-total-cost")).to_have_attribute("data-value", thirty["total_cost_usd"])
    assert (await kpis(page, "total-requests"))["total-requests"] == str(thirty["total_requests"])
    models = await api(url, v.keys["acme"], "/models", period="30d")
    shown = (
        await page.get_by_test_id("models")
        .locator("tbody tr td:nth-child(5)")
        .evaluate_all("tds => tds.map(t => t.dataset.value)")
    )
    assert shown == [m["cost_usd"] for m in models["models"]]
    forecast = await api(url, v.keys["acme"], "/forecast")
    await expect(page.get_by_test_id("kpi-forecast-7")).to_have_attribute(
        "data-value", forecast["next_7_days"]["total_usd"]
    )
    await expect(page.get_by_test_id("forecast-method")).to_contain_text("least squares")

    await page.select_option("#range", "custom")
    await page.fill("#range-from", "2026-03-10")
    await page.fill("#range-to", "2026-03-12")
    await page.click("#range-apply")
    custom = await api(url, v.keys["acme"], "/costs", **{"from": "2026-03-10", "to": "2026-03-12"})
    await expect(page.get_by_test_id("kpi-total-cost")).to_have_attribute("data-value", custom["total_cost_usd"])
    await page.close()


async def test_csv_export_downloads_the_rows_of_the_range(stack: tuple[Views, str], browser: Browser) -> None:
    v, url = stack
    page = await signed_in(browser, url, v.keys["acme"])
    await page.goto(f"{url}/#/costs")
    async with page.expect_download() as info:
        await page.get_by_test_id("export-csv").click()
    download = await info.value
    rows = list(csv.DictReader(io.StringIO(Path(await download.path()).read_text())))
    since = NOW.replace(hour=0, minute=0) - timedelta(days=6)
    expected = [e for e in v.events if e["tenant_id"] == "acme" and e["timestamp"] >= since.isoformat()]
    assert sorted(r["id"] for r in rows) == sorted(e["event_id"] for e in expected)
    assert download.suggested_filename == "tallystream-acme-20260312-20260319.csv"
    await expect(page.get_by_test_id("export-status")).to_contain_text("Downloaded")
    await page.close()


async def test_a_rule_created_in_the_ui_is_served_by_the_api(stack: tuple[Views, str], browser: Browser) -> None:
    v, url = stack
    page = await signed_in(browser, url, v.keys["acme-admin"])
    await page.goto(f"{url}/#/alerts")
    await page.get_by_test_id("new-rule").click()
    form = page.get_by_test_id("rule-form")
    await form.locator("[name=name]").fill("Spend spike")
    await form.locator("[name=metric]").select_option("cost")
    await form.locator("[name=window]").select_option("1h")
    await form.locator("[name=threshold]").fill("12.5")
    await form.locator("[name=webhook]").fill("https://hooks.example.test/oncall")
    await form.locator("[name=secret]").fill("a-secret-of-24-characters")
    await form.locator("button[type=submit]").click()
    await expect(page.get_by_test_id("rules")).to_contain_text("Spend spike")
    rules = (await api(url, v.keys["acme"], "/alerts/rules"))["rules"]
    (mine,) = [r["rule"] for r in rules if r["rule"]["name"] == "Spend spike"]
    assert (mine["metric"], mine["window"], mine["threshold"], mine["channels"][0]["target"]) == (
        "cost",
        "1h",
        "12.5",
        "https://hooks.example.test/…call",
    )  # fmt: skip  (channels are write-only: a masked target, no URL or secret)
    reader = await signed_in(browser, url, v.keys["acme"])  # a read key may look, not change
    await reader.goto(f"{url}/#/alerts")
    await reader.get_by_test_id("new-rule").click()
    await reader.get_by_test_id("rule-form").locator("[name=name]").fill("Nope")
    await reader.get_by_test_id("rule-form").locator("button[type=submit]").click()
    await expect(reader.get_by_test_id("rule-error")).to_contain_text("admin key")
    await page.close()
    await reader.close()


async def test_the_live_ticker_moves_when_events_arrive(stack: tuple[Views, str], browser: Browser) -> None:
    v, url = stack
    page = await signed_in(browser, url, v.keys["acme"])
    ticker = page.get_by_test_id("ticker")
    await expect(ticker).to_have_attribute("data-requests-minute", "0")
    before = await ticker.get_attribute("data-cost-today")
    calls = [llm_call("acme", NOW + timedelta(seconds=i), input_tokens=2000 + i) for i in range(3)]
    await load(v.warehouse, calls, partition=1)
    await expect(ticker).to_have_attribute("data-requests-minute", "3", timeout=10_000)
    added = sum(expected_cost("openai", "gpt-4o-mini", c["input_tokens"], c["output_tokens"]) for c in calls)
    assert Decimal(await ticker.get_attribute("data-cost-today") or "0") == Decimal(before or "0") + added
    await page.close()


async def test_every_page_renders_and_is_captured(stack: tuple[Views, str], browser: Browser) -> None:
    v, url = stack
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = await signed_in(browser, url, v.keys["acme-admin"])
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    for name in PAGES:
        await page.goto(f"{url}/#/{name}")
        await expect(page.locator("#page [data-state=loading]")).to_have_count(0)
        await expect(page.locator("#page [data-state=error]")).to_have_count(0)
        await page.wait_for_timeout(300)  # charts draw
        await page.screenshot(path=SHOTS / f"{name}.png", full_page=True)
    assert errors == []
    await page.goto(f"{url}/#/admin")
    await expect(page.locator("[data-state=forbidden]")).to_contain_text("operator admin key")
    operator = await signed_in(browser, url, v.keys["operator"])
    await operator.goto(f"{url}/#/admin")
    await expect(operator.get_by_test_id("tenants")).to_contain_text("globex")
    await operator.screenshot(path=SHOTS / "admin-operator.png", full_page=True)
    phone = await signed_in(browser, url, v.keys["acme"], width=390)
    await expect(phone.locator("#nav")).to_be_hidden()  # collapsed behind the menu button
    await phone.click("#menu")
    await expect(phone.locator("#nav")).to_be_visible()
    await phone.screenshot(path=SHOTS / "overview-phone.png", full_page=True)
    for p in (page, operator, phone):
        await p.close()


async def test_a_wrong_key_gets_the_sign_in_form_with_the_reason(stack: tuple[Views, str], browser: Browser) -> None:
    _, url = stack
    page = await browser.new_page()
    await page.goto(f"{url}/#key=tsk_0000000000000000_{'x' * 43}&tenant=acme")
    await expect(page.locator("#signin")).to_be_visible()
    await expect(page.locator("#signin-error")).to_contain_text("unknown API key")
    await page.close()
