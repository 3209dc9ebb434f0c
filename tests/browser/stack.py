"""The browser test's demo stack on a background thread, and how to launch Debian's Chromium.

The stack is the simulator, an engine with fast intervals and two quick-trading strategies
(:mod:`tests.browser.strategies`), and the API with one user, all on one event loop of their
own thread: Playwright's sync API runs in the test's thread and talks to it over loopback.
The API's access tokens last seconds, not minutes, so the dashboard has to refresh them while
the test runs, and the token clock can be moved forward to end the session on purpose.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from argon2 import PasswordHasher

from pulsetrader.api.context import ApiOptions
from pulsetrader.api.server import ApiServer
from pulsetrader.api.users import UserStore
from pulsetrader.engine import Engine
from pulsetrader.sim.service import Simulator
from tests.integration.engine.test_engine import make_engine, sim_settings
from tests.simulator import sim_config

T = TypeVar("T")

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
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

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


class DemoStack:
    """Simulator, engine and API server on a background thread's event loop."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.clock = TokenClock()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="demo-stack", daemon=True)
        self.sim: Simulator | None = None
        self.engine: Engine | None = None
        self.server: ApiServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the stack's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def run(self, fn: Any, *args: Any) -> Any:
        """Call ``fn(*args)`` on the stack's loop (the engine is not thread-safe)."""

        async def call() -> Any:
            return fn(*args)

        return self.call(call())

    async def _start(self) -> None:
        self.sim = Simulator(sim_config(speed=60))
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

    async def _stop(self) -> None:
        try:
            if self.server is not None:
                await self.server.stop()
            if self.engine is not None:
                await self.engine.stop()
        finally:
            if self.sim is not None:
                await self.sim.stop()

    def __enter__(self) -> DemoStack:
        self.thread.start()
        try:
            self.call(self._start(), timeout=60)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call(self._stop(), timeout=60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


def chromium_executable() -> str:
    """Debian's Chromium; the test FAILS (does not skip) without it."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Debian's chromium is not installed at {CHROMIUM}: the browser test needs it "
            "(`make browser` installs it, and `make test` runs that)",
            pytrace=False,
        )
    return CHROMIUM
