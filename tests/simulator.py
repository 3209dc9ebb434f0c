"""Running the real simulator for tests: on the test's own event loop, or on a thread of its own.

alpaca-py's REST clients block (``requests``), so a synchronous test that drives them needs the
simulator on another thread: :class:`SimThread`. Async tests that call the SDK through
``asyncio.to_thread`` (as the engine does) can use :class:`Simulator` directly on their loop.

Tests pin the simulated start (a Wednesday session open) so calendar-dependent behaviour does not
depend on the day CI runs, turn the rate limit and partial fills off unless a test asks for them,
and listen on an ephemeral loopback port.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

from pulsetrader.sim.service import Simulator, SimulatorConfig

T = TypeVar("T")

#: Wednesday 2024-01-03, 09:30 New York: a full regular session lies ahead.
SESSION_OPEN = datetime(2024, 1, 3, 14, 30, tzinfo=UTC)

TEST_DEFAULTS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 0,
    "seed": 1,
    "start": SESSION_OPEN,
    "rate_limit_per_minute": None,
    "partial_fill_rate": 0.0,
    "key_id": "PKTESTKEY0000000000A",
    "secret_key": "test-secret-0000000000000000000000000000",
}


def sim_config(**overrides: Any) -> SimulatorConfig:
    """A :class:`SimulatorConfig` with the test defaults above, then ``overrides``."""
    fields = {**TEST_DEFAULTS, **overrides}
    known = {f.name for f in dataclasses.fields(SimulatorConfig)}
    unknown = set(fields) - known
    if unknown:
        raise TypeError(f"unknown SimulatorConfig fields: {sorted(unknown)}")
    return SimulatorConfig(**fields)


class SimThread:
    """A simulator serving from a background thread with its own event loop.

    Use as a context manager. :meth:`call` runs a coroutine on the simulator's loop (for
    control operations such as ``sim.advance``) and returns its result.
    """

    def __init__(self, config: SimulatorConfig | None = None, **overrides: Any) -> None:
        self.config = config or sim_config(**overrides)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="sim", daemon=True)
        self.sim: Simulator | None = None

    def __enter__(self) -> Simulator:
        self._thread.start()

        async def boot() -> Simulator:
            sim = Simulator(self.config)
            await sim.start()
            return sim

        self.sim = self.call(boot())
        return self.sim

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the simulator's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __exit__(self, *exc: object) -> None:
        try:
            if self.sim is not None:
                self.call(self.sim.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()
