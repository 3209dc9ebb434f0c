"""Fixtures for tests that run the real simulator over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from pulsetrader.sim.service import Simulator
from tests.simulator import SimThread, sim_config


def _overrides(request: pytest.FixtureRequest) -> dict[str, object]:
    """Config overrides from ``@pytest.mark.sim_config(**fields)`` on the test."""
    marker = request.node.get_closest_marker("sim_config")
    return dict(marker.kwargs) if marker else {}


@pytest.fixture
async def simulator(request: pytest.FixtureRequest) -> AsyncIterator[Simulator]:
    """A running simulator on the test's event loop (call the SDK via ``asyncio.to_thread``)."""
    async with Simulator(sim_config(**_overrides(request))) as sim:
        yield sim


@pytest.fixture
def sim_thread(request: pytest.FixtureRequest) -> Iterator[SimThread]:
    """A running simulator on its own thread, for synchronous tests that use the SDK directly.

    ``sim_thread.sim`` is the :class:`Simulator`; ``sim_thread.call(coro)`` runs control
    coroutines (``sim.advance(...)``) on its loop.
    """
    runner = SimThread(sim_config(**_overrides(request)))
    with runner:
        yield runner
