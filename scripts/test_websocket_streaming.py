#!/usr/bin/env python3
"""Check the real-time streams (seed task 15.3): the market-data and trade_updates connections,
trade and quote subscriptions, order events, and a forced reconnection that must restore every
subscription, against Alpaca paper or, with ``--sim``, the built-in simulator (where the
reconnection is forced by its fault injection; against Alpaca, by dropping our own socket).

Against Alpaca the market data comes from the ``iex`` feed; while the stock market is closed,
trades and quotes are checked on crypto, which trades around the clock. The order check places
a far-away limit order and cancels it (paper accounts only).

Exit status 0 when every check passes, 1 otherwise.

    python scripts/test_websocket_streaming.py          # Alpaca paper, keys from env / .env
    python scripts/test_websocket_streaming.py --sim    # no keys needed
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal

from _support import Checks, Session, parse_args, session

from pulsetrader.domain import OrderIntent
from pulsetrader.domain.events import OrderUpdate
from pulsetrader.domain.market import Quote, Trade
from pulsetrader.domain.money import utcnow
from pulsetrader.sim.faults import FaultProfile
from pulsetrader.streaming import MarketDataStream, StreamEvent, StreamEventKind, WebSocketClient

#: Simulated seconds per wall second with --sim: trades and quotes several times a second.
SIM_SPEED = 60.0


async def until(predicate: Callable[[], object], timeout: float, what: str) -> None:  # noqa: ASYNC109
    """Poll ``predicate`` until it is truthy; TimeoutError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {timeout:.0f} s")
        await asyncio.sleep(0.02)


def acknowledged(stream: MarketDataStream) -> bool:
    """The server confirmed exactly the subscription the stream wants."""
    return stream.connected and all(
        stream.server_subscriptions[c] == symbols for c, symbols in stream.wanted.items()
    )


async def main() -> int:
    args = parse_args(__doc__ or "")
    checks = Checks()
    async with session(args, sim_speed=SIM_SPEED) as s:
        timeout = 10.0 if s.sim else 60.0
        events: list[StreamEvent] = []
        ws = WebSocketClient(
            s.key_id,
            s.secret_key,
            stream_url=s.stream_url,
            trade_stream_url=s.trade_stream_url,
            feed=s.feed,
            paper=s.paper,
            backfill_stocks=s.client.get_bar_history,
            backfill_crypto=s.client.get_bar_history,
            now=s.sim.now if s.sim else utcnow,
            hooks=[events.append],
        )
        market_open = (await s.client.get_clock()).is_open
        symbols = ["AAPL", "MSFT"] if market_open or s.sim else ["BTC/USD", "ETH/USD"]
        data = ws.crypto if "/" in symbols[0] else ws.stocks
        trades: list[Trade] = []
        quotes: list[Quote] = []
        updates: list[OrderUpdate] = []
        runner = asyncio.create_task(ws.run())
        try:

            async def connection() -> str:
                started = time.perf_counter()
                await ws.subscribe_trades("AAPL", lambda t: None)  # iex, open or not
                await until(lambda: acknowledged(ws.stocks), timeout, "subscription ack")
                ms = (time.perf_counter() - started) * 1000
                return f"{ws.stocks.url} authenticated and subscribed in {ms:.0f} ms"

            async def trade_subscription() -> str:
                await ws.subscribe_trades(symbols, trades.append)
                await until(lambda: len(trades) >= 3, timeout, "trades")
                assert {t.symbol for t in trades} <= set(symbols), "a trade of another symbol"
                assert all(t.price > 0 and t.size > 0 for t in trades), "a bad trade"
                last = trades[-1]
                closed = "" if market_open or s.sim else " (stock market closed: crypto)"
                return (
                    f"{len(trades)} trades, last {last.symbol} {last.size} @ {last.price}{closed}"
                )

            async def quote_subscription() -> str:
                await ws.subscribe_quotes(symbols, quotes.append)
                await until(lambda: len(quotes) >= 3, timeout, "quotes")
                assert all(q.bid_price <= q.ask_price for q in quotes), "a crossed quote"
                q = quotes[-1]
                return f"{len(quotes)} quotes, last {q.symbol} {q.bid_price} / {q.ask_price}"

            async def order_updates() -> str:
                ws.on_order_update(updates.append)
                await ws.trade_updates.wait_connected(timeout)
                order = await s.client.submit_order(
                    OrderIntent(
                        symbol="AAPL",
                        side="buy",
                        qty=Decimal(1),
                        type="limit",
                        limit_price=Decimal(1),
                    )
                )
                await until(
                    lambda: any(u.order.broker_order_id == order.broker_order_id for u in updates),
                    timeout,
                    "update for the new order",
                )
                await s.client.cancel_order(order.broker_order_id or "")
                await until(
                    lambda: any(
                        u.order.broker_order_id == order.broker_order_id and u.event == "canceled"
                        for u in updates
                    ),
                    timeout,
                    "canceled event",
                )
                seen = [
                    u.event for u in updates if u.order.broker_order_id == order.broker_order_id
                ]
                return f"order events {', '.join(seen)}"

            async def forced_reconnection() -> str:
                before = len(reconnects(events))
                await force_drop(s, ws, data)
                await until(
                    lambda: (
                        {e.stream for e in reconnects(events)[before:]}
                        >= {data.name, "trade_updates"}
                    ),
                    timeout,
                    "reconnect of both streams",
                )
                await until(lambda: acknowledged(data), timeout, "restored subscriptions")
                n = len(trades)
                await until(lambda: len(trades) >= n + 3, timeout, "trades after reconnecting")
                again = [e for e in reconnects(events)[before:] if e.stream == data.name]
                down = again[0].downtime_seconds or 0.0
                restored = sum(len(v) for v in data.wanted.values())
                how = "fault injection" if s.sim else "dropped socket"
                return f"{how}: back after {down * 1000:.0f} ms, {restored} subscriptions restored"

            async def disconnect() -> str:
                await ws.disconnect()
                await asyncio.wait_for(runner, timeout)
                assert not any(stream.running for stream in ws.streams), "a stream still runs"
                faults = sum(1 for e in events if e.is_fault)
                return f"closed; {len(events)} stream events, {faults} of them faults"

            for name, check in [
                ("market data connection", connection),
                ("trade subscription", trade_subscription),
                ("quote subscription", quote_subscription),
                ("order updates", order_updates),
                ("forced reconnection", forced_reconnection),
                ("disconnect", disconnect),
            ]:
                await checks.run(name, check)
        finally:
            if not runner.done():
                await ws.disconnect()
                await runner
    return checks.exit_code()


def reconnects(events: list[StreamEvent]) -> list[StreamEvent]:
    return [e for e in events if e.kind is StreamEventKind.CONNECTED and e.is_reconnect]


async def force_drop(s: Session, ws: WebSocketClient, data: MarketDataStream) -> None:
    """Cut the market-data and order streams: from the server's side when we run it."""
    if s.sim is not None:
        rules = [
            {"stream": stream, "effect": "disconnect", "at_seconds": [0], "count": 1}
            for stream in (data.name, "trade_updates")
        ]
        s.sim.faults.load(FaultProfile.parse({"seed": 1, "rules": rules}))
        return
    await data.drop()
    await ws.trade_updates.drop()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
