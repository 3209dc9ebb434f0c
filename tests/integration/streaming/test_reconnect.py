"""Reconnection against the simulator: subscriptions restored, minute-bar gaps back-filled in
order, silence treated as a fault while the market is open, connection-limit refusals waited
out, and every disconnect, reconnect and gap reported to the hooks.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from pulsetrader.broker import AlpacaClient
from pulsetrader.domain.market import Bar, Trade
from pulsetrader.sim.service import Simulator
from pulsetrader.streaming import StreamEvent, StreamEventKind, WebSocketClient
from tests.helpers import eventually

from .conftest import MakeWs, fast_policy, kinds, load_faults, of_kind, server_subscriptions, wanted

MINUTE = timedelta(minutes=1)


def reconnects(events: Sequence[StreamEvent], stream: str) -> list[StreamEvent]:
    return [e for e in of_kind(events, StreamEventKind.CONNECTED, stream) if e.is_reconnect]


def assert_contiguous(bars: Sequence[Bar], first: datetime, last: datetime) -> None:
    stamps = [b.timestamp for b in bars]
    expected = [first + n * MINUTE for n in range(int((last - first) / MINUTE) + 1)]
    assert stamps == expected, f"got {[f'{s:%H:%M}' for s in stamps]}"


async def assert_equals_history(rest: AlpacaClient, symbol: str, bars: Sequence[Bar]) -> None:
    """What the stream delivered is exactly REST's minute history over the same span."""
    bars = list(bars)  # the callback may append more while REST answers
    history = await rest.get_bar_history([symbol], bars[0].timestamp, bars[-1].timestamp + MINUTE)
    assert [b.timestamp for b in history[symbol]] == [b.timestamp for b in bars]
    assert [(b.open, b.high, b.low, b.close) for b in history[symbol]] == [
        (b.open, b.high, b.low, b.close) for b in bars
    ]


async def restored(ws: WebSocketClient, simulator: Simulator, feed: str) -> None:
    """Both views of the server's subscription equal what the client wants."""
    for stream, name in ((ws.stocks, feed), (ws.crypto, "crypto")):
        want = wanted(stream)
        await eventually(
            lambda stream=stream, want=want: (
                {c: s for c, s in stream.server_subscriptions.items() if s} == want
            ),
            message=f"{name}: the server's acknowledgement of {sorted(want)}",
        )
        # A stream with nothing wanted has no connection at all.
        expected = [want] if want else []
        await eventually(
            lambda expected=expected, name=name: server_subscriptions(simulator, name) == expected,
            message=f"{name}: the simulator's own subscription record",
        )


@pytest.mark.sim_config(speed=60)
async def test_every_subscription_is_restored_after_a_reconnect(
    simulator: Simulator, make_ws: MakeWs, events: list[StreamEvent]
) -> None:
    ws = await make_ws()
    trades: list[Trade] = []
    noop: list[object] = []
    await ws.subscribe_trades(["AAPL", "MSFT", "BTC/USD"], trades.append)
    await ws.subscribe_quotes(["AAPL", "SPY", "ETH/USD"], noop.append)
    await ws.subscribe_bars(["TSLA", "BTC/USD", "ETH/USD"], noop.append)
    await ws.subscribe_updated_bars(["NVDA"], noop.append)
    await restored(ws, simulator, "iex")

    await ws.stocks.drop()  # our side hangs up
    load_faults(  # the server's side hangs up
        simulator, {"stream": "crypto", "effect": "disconnect", "at_seconds": [0], "count": 1}
    )
    await eventually(
        lambda: reconnects(events, "iex") and reconnects(events, "crypto"),
        message="both streams reconnected",
    )
    await restored(ws, simulator, "iex")
    n = len(trades)
    await eventually(
        lambda: {t.symbol for t in trades[n:]} == {"AAPL", "MSFT", "BTC/USD"},
        message="trades of every symbol after the reconnect",
    )
    for stream in ("iex", "crypto"):
        assert kinds(events, stream)[:3] == [
            StreamEventKind.CONNECTED,
            StreamEventKind.DISCONNECTED,
            StreamEventKind.CONNECTED,
        ]
        (again,) = reconnects(events, stream)
        assert again.downtime_seconds is not None
        assert again.downtime_seconds > 0


@pytest.mark.sim_config(speed=0)
async def test_changes_made_while_reconnecting_are_not_lost(
    simulator: Simulator, make_ws: MakeWs, events: list[StreamEvent]
) -> None:
    """Thousands of symbols make the resubscription take many messages; subscribing and
    unsubscribing all the while must still leave the server with exactly the wanted set."""
    ws = await make_ws(feed="test")
    universe = [f"S{i:04d}" for i in range(5000)]
    noop: list[object] = []
    await ws.subscribe_trades(universe, noop.append)
    await ws.subscribe_quotes(universe, noop.append)
    await ws.subscribe_bars(universe[:2500], noop.append)
    await ws.subscribe_updated_bars(universe[2500:], noop.append)
    await restored(ws, simulator, "test")

    await ws.stocks.drop()
    i = 0
    while not reconnects(events, "test") or i < 50:
        await ws.subscribe_trades(f"N{i:04d}", noop.append)
        await ws.unsubscribe_quotes(universe[i])
        await ws.unsubscribe_bars(universe[i])
        i += 1
        await asyncio.sleep(0.002)
    assert i < 5000
    await restored(ws, simulator, "test")
    assert {f"N{n:04d}" for n in range(i)} <= ws.stocks.server_subscriptions["trades"]


@pytest.mark.sim_config(speed=0)
async def test_minute_bars_missed_while_down_are_back_filled_in_order(
    simulator: Simulator, make_ws: MakeWs, rest: AlpacaClient, events: list[StreamEvent]
) -> None:
    # Reconnecting takes at least 0.3 s: time enough to move the market on while it is down.
    ws = await make_ws(policy=fast_policy(base_delay=0.6, max_delay=0.6))
    bars: dict[str, list[Bar]] = {"AAPL": [], "MSFT": []}
    for symbol, got in bars.items():
        await ws.subscribe_bars(symbol, got.append)
    await ws.stocks.wait_connected()
    await simulator.advance(3 * MINUTE)
    start = simulator.start_time
    await eventually(
        lambda: all(len(b) == 3 for b in bars.values()), message="three live bars each"
    )

    await ws.stocks.drop()
    await eventually(
        lambda: of_kind(events, StreamEventKind.DISCONNECTED, "iex"), message="the drop"
    )
    await simulator.advance(5 * MINUTE)  # bars 14:33 .. 14:37 go out while nobody listens
    await eventually(
        lambda: of_kind(events, StreamEventKind.GAP_FILLED, "iex"), message="the gap filled"
    )
    (gap,) = of_kind(events, StreamEventKind.GAP_FILLED, "iex")
    assert gap.count == 2 * 5
    await simulator.advance(2 * MINUTE)  # and the live stream carries on
    await eventually(lambda: all(len(b) == 10 for b in bars.values()), message="ten bars each")
    for symbol, got in bars.items():
        assert_contiguous(got, start, start + 9 * MINUTE)
        await assert_equals_history(rest, symbol, got)
    assert kinds(events, "iex") == [
        StreamEventKind.CONNECTED,
        StreamEventKind.DISCONNECTED,
        StreamEventKind.CONNECTED,
        StreamEventKind.GAP_FILLED,
    ]


@pytest.mark.sim_config(speed=0)
async def test_live_bars_wait_behind_a_slow_backfill(
    simulator: Simulator, make_ws: MakeWs, rest: AlpacaClient, events: list[StreamEvent]
) -> None:
    gate = asyncio.Event()
    calls: list[tuple[Sequence[str], datetime, datetime]] = []

    async def slow_backfill(
        symbols: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[Bar]]:
        calls.append((list(symbols), start, end))
        await gate.wait()
        return await rest.get_bar_history(symbols, start, end)

    ws = await make_ws(
        backfill_stocks=slow_backfill, policy=fast_policy(base_delay=0.6, max_delay=0.6)
    )
    bars: list[Bar] = []
    await ws.subscribe_bars("AAPL", bars.append)
    await ws.stocks.wait_connected()
    t0 = simulator.start_time
    await simulator.advance(2 * MINUTE)
    await eventually(lambda: len(bars) == 2, message="two live bars")

    await ws.stocks.drop()
    await eventually(
        lambda: of_kind(events, StreamEventKind.DISCONNECTED, "iex"), message="the drop"
    )
    await simulator.advance(4 * MINUTE)  # 14:32 .. 14:35 missed
    await eventually(lambda: calls, message="the backfill to start")
    assert calls[0] == (["AAPL"], t0 + 2 * MINUTE, t0 + 6 * MINUTE)
    received = ws.stocks.messages
    await simulator.advance(3 * MINUTE)  # live 14:36 .. 14:38 arrive during the backfill
    await eventually(lambda: ws.stocks.messages >= received + 3, message="three live bars")
    assert len(bars) == 2, "live bars are held until the gap before them is filled"

    gate.set()
    await eventually(lambda: len(bars) == 9, message="gap and held bars")
    assert_contiguous(bars, t0, t0 + 8 * MINUTE)
    (gap,) = of_kind(events, StreamEventKind.GAP_FILLED, "iex")
    assert gap.count == 4
    await simulator.advance(MINUTE)
    await eventually(lambda: len(bars) == 10, message="the live stream after the gap")
    assert_contiguous(bars, t0, t0 + 9 * MINUTE)


@pytest.mark.sim_config(speed=0)
async def test_a_backfill_overtaken_by_another_drop_still_delivers_each_bar_once(
    simulator: Simulator, make_ws: MakeWs, events: list[StreamEvent]
) -> None:
    """An async bar callback still running when a second reconnect restarts the backfill
    finishes, and the bar is not delivered again."""
    ws = await make_ws(policy=fast_policy(base_delay=0.6, max_delay=0.6))
    release = asyncio.Event()
    started: list[datetime] = []
    finished: list[datetime] = []

    async def slow(bar: Bar) -> None:
        started.append(bar.timestamp)
        if len(started) == 2:  # the first back-filled bar: hold it while the stream drops
            await release.wait()
        finished.append(bar.timestamp)

    await ws.subscribe_bars("AAPL", slow)
    await ws.stocks.wait_connected()
    t0 = simulator.start_time
    await simulator.advance(MINUTE)
    await eventually(lambda: finished == [t0], message="the first live bar")

    for n in (1, 2):
        await ws.stocks.drop()
        await eventually(
            lambda n=n: len(of_kind(events, StreamEventKind.DISCONNECTED, "iex")) == n,
            message=f"drop {n}",
        )
        await simulator.advance(2 * MINUTE)
        await eventually(lambda n=n: len(reconnects(events, "iex")) == n, message=f"reconnect {n}")
        if n == 1:
            await eventually(lambda: len(started) == 2, message="the backfill's first bar")
    release.set()
    await eventually(lambda: len(finished) == 5, message="every missed bar")
    assert finished == [t0 + n * MINUTE for n in range(5)]
    assert started == finished, "each bar started once and finished"


@pytest.mark.sim_config(speed=120)  # two bars a second
async def test_bars_survive_a_disconnect_schedule_and_every_drop_is_reported(
    simulator: Simulator, make_ws: MakeWs, rest: AlpacaClient, events: list[StreamEvent]
) -> None:
    ws = await make_ws()
    bars: dict[str, list[Bar]] = {"AAPL": [], "MSFT": [], "BTC/USD": []}
    for symbol, got in bars.items():
        await ws.subscribe_bars(symbol, got.append)
    await eventually(lambda: all(bars.values()), message="a first bar of every symbol")
    load_faults(
        simulator,
        {"stream": "data", "effect": "disconnect", "every_seconds": 0.6},
        {"stream": "data", "effect": "duplicate", "probability": 0.3},
    )
    await eventually(
        lambda: (
            len(reconnects(events, "iex")) >= 3
            and len(reconnects(events, "crypto")) >= 3
            and all(len(b) >= 5 for b in bars.values())
        ),
        timeout=10,
        message="three reconnects of each stream and five bars of each symbol",
    )
    simulator.faults.clear()
    for symbol, got in bars.items():
        assert_contiguous(got, got[0].timestamp, got[-1].timestamp)
        await assert_equals_history(rest, symbol, got)

    # Every disconnect the simulator caused was reported, and every one was followed by a
    # reconnect with its downtime.
    await eventually(
        lambda: (
            simulator.stats_snapshot()["streams"]["fault_disconnects"]
            == len(of_kind(events, StreamEventKind.DISCONNECTED))
        ),
        message="one DISCONNECTED per dropped connection",
    )
    for stream in ("iex", "crypto"):
        downs = of_kind(events, StreamEventKind.DISCONNECTED, stream)
        await eventually(
            lambda stream=stream, downs=downs: len(reconnects(events, stream)) == len(downs),
            message=f"{stream}: a reconnect after every drop",
        )
        assert all(
            e.downtime_seconds and e.downtime_seconds > 0 for e in reconnects(events, stream)
        )
        assert of_kind(events, StreamEventKind.GAP_FILLED, stream)
        assert all(e.is_fault for e in downs)


@pytest.mark.sim_config(speed=60)
async def test_silence_while_the_market_is_open_is_a_fault(
    simulator: Simulator, make_ws: MakeWs, events: list[StreamEvent]
) -> None:
    ws = await make_ws(silence_timeout=0.4)
    trades: list[Trade] = []
    await ws.subscribe_trades("AAPL", trades.append)
    await ws.stocks.wait_connected()
    await eventually(lambda: trades, message="trades")
    load_faults(  # the open socket goes quiet for good; a new one would not
        simulator,
        {"stream": "iex", "effect": "silence", "duration_seconds": 30, "count": 1},
    )
    await eventually(
        lambda: of_kind(events, StreamEventKind.SILENCE, "iex"), message="the watchdog"
    )
    (silence,) = of_kind(events, StreamEventKind.SILENCE, "iex")
    assert silence.is_fault
    await eventually(lambda: reconnects(events, "iex"), message="a reconnect")
    n = len(trades)
    await eventually(lambda: len(trades) >= n + 3, message="trades on the new socket")
    iex = kinds(events, "iex")
    assert iex.index(StreamEventKind.SILENCE) < iex.index(StreamEventKind.DISCONNECTED)


@pytest.mark.sim_config(speed=60)
async def test_silence_while_the_market_is_closed_is_not_a_fault(
    simulator: Simulator, make_ws: MakeWs, events: list[StreamEvent]
) -> None:
    ws = await make_ws(silence_timeout=0.3, is_market_open=lambda: False)
    arrivals: list[float] = []
    await ws.subscribe_trades("AAPL", lambda trade: arrivals.append(time.monotonic()))
    await eventually(lambda: arrivals, message="trades")
    load_faults(simulator, {"stream": "iex", "effect": "silence", "duration_seconds": 1.0})

    def resumed_after_silence() -> bool:
        return any(b - a >= 0.8 for a, b in itertools.pairwise(arrivals))

    await eventually(resumed_after_silence, message="a second of silence, then trades again")
    assert not of_kind(events, StreamEventKind.SILENCE)
    assert ws.stocks.connects == 1
    assert ws.stocks.disconnects == 0


@pytest.mark.sim_config(speed=60)
async def test_a_second_data_connection_waits_out_the_connection_limit(
    simulator: Simulator, make_ws: MakeWs
) -> None:
    """The simulator, like Alpaca, allows one connection per key and feed: 406 for the next."""
    first = await make_ws()
    await first.subscribe_trades("AAPL", lambda t: None)
    await first.stocks.wait_connected()

    second_events: list[StreamEvent] = []
    policy = fast_policy(base_delay=0.01, max_delay=0.02, limit_delay=0.3, limit_max_delay=0.6)
    second = await make_ws(hooks=[second_events.append], policy=policy)
    trades: list[Trade] = []
    await second.subscribe_trades("MSFT", trades.append)
    await eventually(
        lambda: len(of_kind(second_events, StreamEventKind.CONNECTION_LIMIT)) >= 2,
        message="two refusals",
    )
    refusals = of_kind(second_events, StreamEventKind.CONNECTION_LIMIT)
    assert all(e.code == 406 and e.stream == "iex" and e.is_fault for e in refusals)
    gap = (refusals[1].at - refusals[0].at).total_seconds()
    assert gap >= 0.14, f"a limit wait is at least limit_delay/2, got {gap}"
    assert not of_kind(second_events, StreamEventKind.DISCONNECTED)
    assert first.stocks.connected

    await first.disconnect()
    await eventually(lambda: trades, message="the second client's trades")
    assert server_subscriptions(simulator, "iex") == [{"trades": {"MSFT"}}]
