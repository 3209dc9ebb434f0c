"""Simulator, engine and API on a background thread, for synchronous clients (schemathesis,
Playwright) that cannot share the test's event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Self, TypeVar

from pulsetrader.api.server import ApiServer
from pulsetrader.engine import Engine
from pulsetrader.sim.service import Simulator
from tests.integration.api.conftest import api_settings, fast_options, make_users
from tests.integration.engine.conftest import make_engine
from tests.simulator import sim_config

T = TypeVar("T")


class EngineThread:
    """Simulator, engine and API server on a background thread's event loop.

    Subclasses change what is built by overriding :meth:`_start` (the browser test's stack
    runs its own strategies and token clock).
    """

    def __init__(self, tmp_path: Path, **sim_overrides: Any) -> None:
        self.tmp_path = tmp_path
        self.sim_overrides = sim_overrides
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="api-engine", daemon=True)
        self.sim: Simulator | None = None
        self.engine: Engine | None = None
        self.server: ApiServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Run ``coro`` on the stack's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def run(self, fn: Any, *args: Any) -> Any:
        """Call ``fn(*args)`` on the stack's loop (the engine is not thread-safe)."""

        async def call() -> Any:
            return fn(*args)

        return self.call(call())

    async def _start(self) -> None:
        self.sim = Simulator(sim_config(**self.sim_overrides))
        await self.sim.start()
        self.engine = make_engine(self.sim, api_settings(self.sim, self.tmp_path))
        await self.engine.start()
        self.server = ApiServer(
            self.engine, self.engine.settings, make_users(), options=fast_options()
        )
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

    def __enter__(self) -> Self:
        self.thread.start()
        try:
            self.call(self._start())
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call(self._stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
