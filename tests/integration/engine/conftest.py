"""The engine against the simulator: settings, an engine with fast intervals, the fixture."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pulsetrader.broker.retry import RetryStrategy
from pulsetrader.config import Settings
from pulsetrader.engine import Engine
from pulsetrader.monitoring.health import HealthPolicy
from pulsetrader.sim.service import Simulator
from pulsetrader.streaming import ReconnectPolicy

STRATEGY = "sma_test"
STRATEGY_SYMBOL = "AAPL"
ORDER_SYMBOL = "MSFT"
STRATEGIES_TOML = f"""
[[strategy]]
name = "{STRATEGY}"
kind = "sma_crossover"
[strategy.params]
symbols = ["{STRATEGY_SYMBOL}"]
timeframe = "1Min"
fast = 2
slow = 3
qty = "1"
"""


def sim_settings(sim: Simulator, tmp_path: Path, **overrides: Any) -> Settings:
    strategies = tmp_path / "strategies.toml"
    strategies.write_text(STRATEGIES_TOML)
    values: dict[str, Any] = {
        "alpaca_mode": "paper",
        "alpaca_trading_url": sim.base_url,
        "alpaca_data_url": sim.base_url,
        "alpaca_stream_url": sim.ws_url,
        "alpaca_trade_stream_url": sim.ws_url + "/stream",
        "alpaca_paper_api_key": sim.key_id,
        "alpaca_paper_api_secret": sim.secret_key,
        "alpaca_requests_per_minute": 10_000,
        "alpaca_request_timeout": 5.0,
        "pulsetrader_db": tmp_path / "journal.db",
        "strategies_file": strategies,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def make_engine(sim: Simulator, settings: Settings) -> Engine:
    return Engine(
        settings,
        now=sim.now,
        health_policy=HealthPolicy(error_threshold=3, healthy_period=0.3),
        ping_interval=0.5,
        account_refresh_interval=1.0,
        order_poll_interval=0.2,
        equity_interval=0.5,
        stream_wait_timeout=5.0,
        settle_timeout=5.0,
        reconnect_policy=ReconnectPolicy(base_delay=0.05, max_delay=0.2),
        retry=RetryStrategy(max_attempts=2, base_delay=0.01, rng=random.Random(0)),
    )


@pytest.fixture
async def engine(simulator: Simulator, tmp_path: Path) -> AsyncIterator[Engine]:
    e = make_engine(simulator, sim_settings(simulator, tmp_path))
    await e.start()
    yield e
    await e.stop()
