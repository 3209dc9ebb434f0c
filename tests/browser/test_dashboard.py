"""The dashboard in a real browser: Debian's headless Chromium, driven by Playwright, logs in
to a running engine (simulator, engine and API on a background thread), sees a position and
its P/L change while the simulator trades, halts and resumes trading and sees the state
change. Screenshots are kept in ``test-artifacts/browser/``.

Chromium is installed by ``make test`` (``make browser``) when missing; without it this test
fails, it does not skip.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from pulsetrader.domain.enums import OrderSide
from pulsetrader.domain.intents import OrderIntent
from pulsetrader.domain.orders import Order
from tests.integration.api.conftest import PASSWORD, USER
from tests.integration.api.stack import EngineThread

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # This machine's network is closed: without these, Chromium's own connections fail loudly.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 20_000


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("Debian's chromium is not installed: run `make browser` (make test does)")
    return found


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[EngineThread]:
    with EngineThread(tmp_path, speed=60) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def log_in(page: Page, url: str) -> None:
    page.goto(url + "/")
    page.fill("#username", USER)
    page.fill("#password", PASSWORD + " wrong")
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login-error")).not_to_be_empty(timeout=WAIT_MS)  # refused, politely
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.get_by_test_id("trading-state")).to_have_text("ACTIVE", timeout=WAIT_MS)


def test_log_in_watch_trading_and_halt(stack: EngineThread, browser: Browser) -> None:
    assert stack.server is not None
    assert stack.engine is not None
    engine, url = stack.engine, stack.server.url
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(page, url)
    expect(page.get_by_test_id("health")).to_have_text("healthy", timeout=WAIT_MS)

    # The simulator trades: a position appears, and its P/L moves with the market.
    placed = stack.call(
        engine.orders.submit_order(OrderIntent(symbol="MSFT", side=OrderSide.BUY, qty=Decimal(25)))
    )
    assert isinstance(placed, Order), placed
    row = page.locator("[data-testid=positions] tr[data-symbol=MSFT]")
    expect(row).to_be_visible(timeout=WAIT_MS)
    expect(row.locator("td").nth(1)).to_have_text("25")
    unrealized = page.get_by_test_id("unrealized-pl")
    expect(unrealized).not_to_have_text("?", timeout=WAIT_MS)
    first = unrealized.inner_text()
    expect(unrealized).not_to_have_text(first, timeout=WAIT_MS)
    expect(page.locator("[data-testid=fills] td", has_text="MSFT").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "desktop-trading.png"), full_page=True)

    # Halt from the browser: the state changes on screen and in the engine, by this user.
    page.get_by_test_id("halt-button").click()
    expect(page.get_by_test_id("trading-state")).to_have_text("HALTED", timeout=WAIT_MS)
    assert engine.risk.state.value == "HALTED"
    actors = [
        a["actor"] for a in engine.journal.actions(limit=20) if a["action"] == "trading_state"
    ]
    assert actors[0] == USER
    page.screenshot(path=str(ARTIFACTS / "desktop-halted.png"), full_page=True)
    page.get_by_test_id("resume-button").click()
    expect(page.get_by_test_id("trading-state")).to_have_text("ACTIVE", timeout=WAIT_MS)

    # Readable on a phone: the same page at a phone's size.
    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    log_in(phone, url)
    expect(phone.locator("[data-testid=positions] tr[data-symbol=MSFT]")).to_be_visible(
        timeout=WAIT_MS
    )
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide on a 390px phone"
    phone.screenshot(path=str(ARTIFACTS / "phone.png"), full_page=True)
