"""The dashboard in a real browser: Debian's headless Chromium, driven by Playwright, against a
running demo stack (simulator, engine with quick-trading strategies, API).

One walk through what an operator does: sign in (after a wrong password), watch positions,
fills, equity and P/L move while the simulator trades, cancel an open order, pause a strategy
and close its position (after confirming), halt trading and resume it, stay signed in across
several access-token refreshes, read the dashboard on a phone, and get sent back to the sign-in
form once the session cannot be refreshed. Screenshots at desktop and phone size are kept in
``test-artifacts/browser/``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, expect

from pulsetrader.domain.enums import OrderSide, OrderStatus, OrderType
from pulsetrader.domain.intents import OrderIntent
from pulsetrader.domain.orders import Order
from tests.browser.stack import ACCESS_TTL, PASSWORD, USER, DemoStack

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser"), pytest.mark.timeout(90)]

WAIT = 20_000  # ms: the longest any single expectation waits
DESKTOP = {"width": 1440, "height": 1000}
PHONE = {"width": 390, "height": 844}


class Watch:
    """What a page did: requests it made, script errors it hit."""

    def __init__(self, page: Page, origin: str) -> None:
        self.origin = origin
        self.requests: list[Request] = []
        self.errors: list[str] = []
        page.on("request", lambda request: self.requests.append(request))
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        # The browser logs every 401 itself (the wrong password, the ended session): expected.
        if message.type == "error" and "status of 401" not in message.text:
            self.errors.append(message.text)

    def api(self, path: str) -> list[Request]:
        return [r for r in self.requests if urlsplit(r.url).path == path]

    def check(self) -> None:
        assert not self.errors, f"the page logged errors: {self.errors}"
        outside = [r.url for r in self.requests if not r.url.startswith((self.origin, "data:"))]
        assert not outside, f"the page fetched from outside its server: {outside}"
        for request in self.requests:
            path = urlsplit(request.url).path
            assert "token" not in urlsplit(request.url).query, f"a token in a URL: {request.url}"
            if path.startswith("/api/") and not path.startswith(("/api/auth/", "/api/health")):
                header = request.headers.get("authorization", "")
                assert header.startswith("Bearer "), f"{path} sent without the Bearer header"


def sign_in(page: Page, url: str, *, wrong_first: bool = False) -> None:
    page.goto(url + "/")
    expect(page.locator("#login-form")).to_be_visible()
    page.fill("#username", USER)
    if wrong_first:
        page.fill("#password", PASSWORD + " wrong")
        page.click("#login-submit")
        expect(page.locator("#login-error")).to_contain_text("Wrong user name or password")
        expect(page.locator("#app-view")).to_be_hidden()
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    expect(page.locator("#app-view")).to_be_visible()
    expect(page.get_by_test_id("trading-state")).to_have_text("ACTIVE", timeout=WAIT)


def text_of(page: Page, selector: str) -> str:
    return page.locator(selector).inner_text()


def check_formatting(page: Page) -> None:
    """The module that formats the API's decimal strings: exact, no float artefacts."""
    got = page.evaluate(
        """async () => {
            const f = await import('/static/format.js');
            return [
              f.money('1234.5'), f.money('-0.005', {signed: true}), f.money('0.1'),
              f.money('9.995'), f.money('100000.3', {signed: true}), f.percent('0.012345'),
              f.percent('-0.5'), f.quantity('0.000000012'), f.quantity('1200'),
              f.subtract('0.3', '0.1'), f.price('0.0001234'), f.price('187.1'),
              f.money(null), f.money('0'),
            ];
        }"""
    )
    assert got == [
        "$1,234.50",
        "\u2212$0.01",
        "$0.10",
        "$10.00",
        "+$100,000.30",
        "+1.23%",
        "\u221250.00%",
        "0.000000012",
        "1,200",
        "0.2",
        "$0.000123",
        "$187.10",
        "\u2014",
        "$0.00",
    ]


def resting_order(stack: DemoStack, symbol: str) -> Order:
    """A limit buy far below the market: open until cancelled."""
    assert stack.engine is not None
    result = stack.call(
        stack.engine.orders.submit_order(
            OrderIntent(
                symbol=symbol,
                side=OrderSide.BUY,
                qty=Decimal(1),
                type=OrderType.LIMIT,
                limit_price=Decimal(1),
            )
        )
    )
    assert isinstance(result, Order), result
    return result


def test_operator_walk_through(demo_stack: DemoStack, browser: Browser, artifacts: Path) -> None:
    stack, url = demo_stack, demo_stack.url
    engine = stack.engine
    assert engine is not None
    assert engine.runner is not None

    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(WAIT)
    page = context.new_page()
    watch = Watch(page, url)

    # -- sign in ------------------------------------------------------------------------------
    page.goto(url + "/")
    expect(page.locator("#login-form")).to_be_visible()
    page.screenshot(path=str(artifacts / "desktop-login.png"))
    sign_in(page, url, wrong_first=True)
    expect(page.get_by_test_id("connection")).to_have_attribute("data-live", "true")
    expect(page.get_by_test_id("health-status")).to_have_text("Healthy")
    expect(page.get_by_test_id("current-user")).to_have_text(USER)
    # Tokens stay in memory: nothing in the browser's storage.
    assert page.evaluate("() => [localStorage.length, sessionStorage.length]") == [0, 0]
    check_formatting(page)

    # -- the simulator trades: positions, P/L, fills and equity move ---------------------------
    positions = page.get_by_test_id("positions")
    held = positions.locator("[data-testid=position-row][data-symbol=AAPL]")
    expect(held).to_be_visible()
    expect(held.locator("td").nth(2)).to_have_text("5")
    pl = held.get_by_test_id("position-pl").locator(".pl-amount")
    expect(pl).to_have_text(re.compile(r"^([+\u2212]\$[\d,]+\.\d\d|\$0\.00)$"))
    first_pl = pl.inner_text()
    expect(pl).not_to_have_text(first_pl, timeout=WAIT)  # the price moved, and with it the P/L
    fills = page.get_by_test_id("fills").locator("[data-testid=fill-row]")
    expect(fills.nth(2)).to_be_visible()  # the flipper buys and sells
    expect(page.get_by_test_id("fills").locator("[data-symbol=MSFT]").first).to_be_visible()
    equity = page.get_by_test_id("equity")
    expect(equity).to_have_text(re.compile(r"^\$[\d,]+\.\d\d$"))
    first_equity = equity.inner_text()
    expect(equity).not_to_have_text(first_equity, timeout=WAIT)
    expect(page.get_by_test_id("unrealized-pl")).not_to_have_text("\u2014")
    page.wait_for_function(
        "() => Number(document.querySelector('[data-testid=equity-chart]').dataset.points) >= 3",
        timeout=WAIT,
    )
    expect(page.locator("[data-testid=equity-chart] svg path.line")).to_have_count(1)
    expect(page.get_by_test_id("strategies").get_by_test_id("strategy-row")).to_have_count(2)
    page.screenshot(path=str(artifacts / "desktop-dashboard.png"), full_page=True)

    # -- an open order, cancelled from the dashboard -------------------------------------------
    order = resting_order(stack, "QQQ")
    row = page.get_by_test_id("orders").locator("[data-testid=order-row][data-symbol=QQQ]")
    expect(row).to_be_visible()
    expect(row.locator("td").nth(4)).to_have_text("$1.00")  # the limit price
    orders_panel = row.locator("xpath=ancestor::section")
    orders_panel.screenshot(path=str(artifacts / "desktop-open-order.png"))
    row.get_by_test_id("cancel-order").click()
    expect(row).to_have_count(0)

    def canceled() -> bool:
        found = engine.orders.find(order.client_order_id)
        return found is not None and found.status is OrderStatus.CANCELED

    assert stack.run(canceled)

    # -- pause a strategy, close its position (after confirming), resume it --------------------
    holder = page.get_by_test_id("strategies").locator("[data-name=holder]")
    expect(holder.get_by_test_id("strategy-state")).to_have_text("RUNNING")
    holder.get_by_test_id("strategy-pause").click()
    expect(holder.get_by_test_id("strategy-state")).to_have_text("PAUSED")
    assert stack.run(lambda: engine.runner.status()[0]["state"]) == "PAUSED"

    dialog = page.get_by_test_id("confirm-dialog")
    held.get_by_test_id("close-position").click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Close AAPL?")
    page.screenshot(path=str(artifacts / "desktop-confirm-close.png"))
    page.get_by_test_id("confirm-cancel").click()
    expect(dialog).to_be_hidden()
    expect(held).to_be_visible()  # cancelled: nothing happened
    held.get_by_test_id("close-position").click()
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("notices")).to_contain_text("Close order sent for AAPL")
    expect(held).to_have_count(0)
    holder.get_by_test_id("strategy-resume").click()
    expect(holder.get_by_test_id("strategy-state")).to_have_text("RUNNING")

    # -- halt trading, see it, resume ----------------------------------------------------------
    state = page.get_by_test_id("trading-state")
    page.get_by_test_id("halt-reason").fill("browser test")
    page.get_by_test_id("halt-button").click()
    expect(state).to_have_text("HALTED")
    expect(state).to_have_attribute("data-state", "HALTED")
    expect(page.get_by_test_id("state-reason")).to_have_text("browser test")
    expect(page.get_by_test_id("halt-button")).to_be_disabled()
    expect(page.get_by_test_id("resume-button")).to_be_enabled()
    assert stack.run(lambda: engine.risk.state.value) == "HALTED"
    actions = stack.run(lambda: engine.journal.actions(limit=20))
    assert next(a["actor"] for a in actions if a["action"] == "trading_state") == USER
    page.screenshot(path=str(artifacts / "desktop-halted.png"), full_page=True)
    page.get_by_test_id("resume-button").click()
    expect(state).to_have_text("ACTIVE")
    expect(page.get_by_test_id("halt-button")).to_be_enabled()
    assert stack.run(lambda: engine.risk.state.value) == "ACTIVE"

    # -- the access token was refreshed along the way; the session is still good ---------------
    # The stream ends when the token it was opened with expires, and is reopened with the new
    # one. (Waiting for a request that already happened would hang: check first.)
    renew_ms = (ACCESS_TTL + 5) * 1000
    if not watch.api("/api/auth/refresh"):
        with page.expect_request("**/api/auth/refresh", timeout=renew_ms):
            pass
    if len(watch.api("/api/events")) < 2:
        with page.expect_request("**/api/events", timeout=renew_ms):
            pass
    expect(page.get_by_test_id("connection")).to_have_attribute("data-live", "true")
    expect(page.locator("#app-view")).to_be_visible()
    assert all(r.response().status == 200 for r in watch.api("/api/auth/refresh") if r.response())

    # -- on a phone ----------------------------------------------------------------------------
    phone_context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    phone_context.set_default_timeout(WAIT)
    phone = phone_context.new_page()
    phone_watch = Watch(phone, url)
    phone.goto(url + "/")
    expect(phone.locator("#login-form")).to_be_visible()
    phone.screenshot(path=str(artifacts / "phone-login.png"))
    sign_in(phone, url)
    expect(phone.get_by_test_id("positions").get_by_test_id("position-row").first).to_be_visible()
    expect(phone.get_by_test_id("fills").get_by_test_id("fill-row").first).to_be_visible()
    expect(phone.get_by_test_id("halt-button")).to_be_in_viewport()
    phone.wait_for_function(
        "() => Number(document.querySelector('[data-testid=equity-chart]').dataset.points) >= 2"
    )
    width = phone.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width}px wide on a {PHONE['width']}px phone"
    phone.screenshot(path=str(artifacts / "phone-dashboard.png"), full_page=True)
    phone.get_by_test_id("halt-button").click()
    expect(phone.get_by_test_id("trading-state")).to_have_text("HALTED")
    expect(page.get_by_test_id("trading-state")).to_have_text("HALTED")  # live on the desktop
    phone.screenshot(path=str(artifacts / "phone-halted.png"))
    phone.get_by_test_id("resume-button").click()
    expect(page.get_by_test_id("trading-state")).to_have_text("ACTIVE")

    # -- a session that cannot be refreshed any more: back to the sign-in form -----------------
    stack.clock.offset = 2 * 24 * 3600.0  # every access and refresh token is now expired
    expect(page.locator("#login-form")).to_be_visible(timeout=WAIT)
    expect(page.locator("#login-error")).to_contain_text("session has ended")
    expect(page.locator("#app-view")).to_be_hidden()
    expect(phone.locator("#login-form")).to_be_visible(timeout=WAIT)
    stack.clock.offset = 0.0
    page.screenshot(path=str(artifacts / "desktop-session-ended.png"))

    watch.check()
    phone_watch.check()
    context.close()
    phone_context.close()
