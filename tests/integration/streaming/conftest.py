"""Our stream clients against the real simulator over loopback.

``make_ws`` builds a :class:`WebSocketClient` wired to the test's simulator with the REST
backfill, the simulator's clock and a fast reconnect policy; every client it made is
disconnected at teardown. ``events`` collects the :class:`StreamEvent` of all of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import pytest

from pulsetrader.broker import AlpacaClient, BrokerConfig
from pulsetrader.sim.faults import FaultProfile
from pulsetrader.sim.service import Simulator
from pulsetrader.streaming import ReconnectPolicy, StreamEvent, StreamEventKind, WebSocketClient

#: Reconnects in tens of milliseconds, connection-limit waits in tenths of a second.
FAST = {"base_delay": 0.05, "max_delay": 0.2, "limit_delay": 0.2, "limit_max_delay": 0.5}


def fast_policy(**overrides: float) -> ReconnectPolicy:
    return ReconnectPolicy(**{**FAST, **overrides})  # type: ignore[arg-type]


def load_faults(sim: Simulator, *rules: dict[str, Any], seed: int = 1) -> None:
    """Replace the simulator's fault profile (rule windows start now)."""
    sim.faults.load(FaultProfile.parse({"seed": seed, "rules": list(rules)}))


def kinds(events: Iterable[StreamEvent], stream: str | None = None) -> list[StreamEventKind]:
    return [e.kind for e in events if stream is None or e.stream == stream]


def of_kind(
    events: Iterable[StreamEvent], kind: StreamEventKind, stream: str | None = None
) -> list[StreamEvent]:
    return [e for e in events if e.kind is kind and (stream is None or e.stream == stream)]


def server_subscriptions(sim: Simulator, feed: str) -> list[dict[str, set[str]]]:
    """The simulator's own record: each authenticated live connection's channel -> symbols."""
    return sim.hub.subscriptions(feed)


def wanted(stream: Any) -> dict[str, set[str]]:
    """A stream's wanted subscription without the empty channels (the sim's shape)."""
    return {channel: set(symbols) for channel, symbols in stream.wanted.items() if symbols}


@pytest.fixture
async def rest(simulator: Simulator) -> AsyncIterator[AlpacaClient]:
    """The REST client the streams back-fill through."""
    config = BrokerConfig(
        simulator.key_id,
        simulator.secret_key,
        trading_url=simulator.base_url,
        data_url=simulator.base_url,
        requests_per_minute=None,
    )
    client = AlpacaClient(config, clock=simulator.now)
    yield client
    await client.close()


@pytest.fixture
def events() -> list[StreamEvent]:
    return []


MakeWs = Callable[..., Awaitable[WebSocketClient]]


@pytest.fixture
async def make_ws(
    simulator: Simulator, rest: AlpacaClient, events: list[StreamEvent]
) -> AsyncIterator[MakeWs]:
    made: list[WebSocketClient] = []

    async def make(*, connect: bool = True, **overrides: Any) -> WebSocketClient:
        options: dict[str, Any] = {
            "stream_url": simulator.ws_url,
            "trade_stream_url": simulator.ws_url + "/stream",
            "feed": "iex",
            "backfill_stocks": rest.get_bar_history,
            "backfill_crypto": rest.get_bar_history,
            "now": simulator.now,
            "hooks": [events.append],
            "policy": fast_policy(),
            "silence_timeout": None,
        }
        options.update(overrides)
        ws = WebSocketClient(simulator.key_id, simulator.secret_key, **options)
        made.append(ws)
        if connect:
            await ws.connect()
        return ws

    yield make
    for ws in made:
        await ws.disconnect()
