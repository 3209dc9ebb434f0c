"""An AlpacaClient wired to the test's simulator."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pulsetrader.broker import AlpacaClient, BrokerConfig, CallOutcome, RetryStrategy
from pulsetrader.sim.faults import FaultProfile
from pulsetrader.sim.service import Simulator


async def no_sleep(_: float) -> None:
    """RetryStrategy sleep for tests: retries happen at once (the sim's faults are seeded)."""


def make_client(
    sim: Simulator, *, attempts: int = 4, timeout: float = 5.0, **kw: Any
) -> AlpacaClient:
    config = BrokerConfig(
        sim.key_id,
        sim.secret_key,
        trading_url=sim.base_url,
        data_url=sim.base_url,
        requests_per_minute=None,
        timeout=timeout,
    )
    retry = RetryStrategy(
        max_attempts=attempts, base_delay=0.01, rng=random.Random(0), sleep=no_sleep
    )
    return AlpacaClient(config, retry=retry, clock=sim.now, **kw)


def load_faults(sim: Simulator, *rules: dict[str, Any], seed: int = 1) -> None:
    sim.faults.load(FaultProfile.parse({"seed": seed, "rules": list(rules)}))


@pytest.fixture
async def client(simulator: Simulator) -> AsyncIterator[AlpacaClient]:
    c = make_client(simulator)
    yield c
    await c.close()


@pytest.fixture
def outcomes(client: AlpacaClient) -> list[CallOutcome]:
    seen: list[CallOutcome] = []
    client.add_hook(seen.append)
    return seen
