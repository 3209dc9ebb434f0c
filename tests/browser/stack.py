"""The browser test's demo stack on a background thread, and how to launch Debian's Chromium.

The stack is the simulator, an engine with fast intervals and two quick-trading strategies
(:mod:`tests.browser.strategies`), and the API with one user, all on one event loop of their
own thread: Playwright's sync API runs in the test's thread and talks to it over loopback.
The API's access tokens last seconds, not minutes, so the dashboard has to refresh them while
the test runs, and the token clock can be moved forward to end the session on purpose.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pulsetrader.api.context import ApiOptions
from pulsetrader.api.server import ApiServer
from pulsetrader.api.users import UserStore
from pulsetrader.sim.service import Simulator
from tests.integration.api.conftest import CHEAP
from tests.integration.api.stack import EngineThread
from tests.integration.engine.conftest import make_engine, sim_settings
from tests.simulator import sim_config

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"  # git-ignored (test-artifacts/)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # This machine's network is closed: Chromium's own background connections must stay off.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

USER = "operator"
PASSWORD = "browser test password 1"
JWT_SECRET = "Vt3pXq8LwR2mZz9TfB1nYc7HsQ4pDgA6uE0oKiVbNtWl"  # test-only signing key
ACCESS_TTL = 8  # seconds: the dashboard refreshes several times during the test

#: AAPL bought once and held; MSFT and SPY bought and sold every few bars.
STRATEGIES_TOML = """
[[strategy]]
name = "holder"
kind = "tests.browser.strategies:Flipper"
[strategy.params]
symbols = ["AAPL"]
qty = "5"
hold_bars = 0

[[strategy]]
name = "flipper"
kind = "tests.browser.strategies:Flipper"
[strategy.params]
symbols = ["MSFT", "SPY"]
qty = "3"
hold_bars = 3
"""


class TokenClock:
    """Wall-clock time plus an offset the test can move (to expire every token at once)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class DemoStack(EngineThread):
    """The browser test's stack: its own strategies, one user and a token clock it can move."""

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path, speed=60)
        self.clock = TokenClock()

    async def _start(self) -> None:
        self.sim = Simulator(sim_config(**self.sim_overrides))
        await self.sim.start()
        strategies = self.tmp_path / "browser-strategies.toml"
        strategies.write_text(STRATEGIES_TOML)
        settings = sim_settings(
            self.sim,
            self.tmp_path,
            jwt_secret_key=JWT_SECRET,
            api_port=0,
            strategies_file=strategies,
        )
        self.engine = make_engine(self.sim, settings)
        await self.engine.start()
        users = UserStore(hasher=CHEAP)
        users.add(USER, PASSWORD)
        options = ApiOptions(
            access_ttl=ACCESS_TTL,
            token_clock=self.clock,
            status_interval=0.5,
        )
        self.server = ApiServer(self.engine, settings, users, port=0, options=options)
        await self.server.start()


def chromium_executable() -> str:
    """Debian's Chromium; the test FAILS (does not skip) without it."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Debian's chromium is not installed at {CHROMIUM}: the browser test needs it "
            "(`make browser` installs it, and `make test` runs that)",
            pytrace=False,
        )
    return CHROMIUM
