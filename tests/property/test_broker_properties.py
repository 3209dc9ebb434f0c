"""Properties 1, 2, 3, 5 and 11 of the broker edge, over random inputs and random faults.

The simulator-backed properties share one simulator per module (on its own thread) and run each
example in a fresh event loop with a fresh client; faults are cleared between examples.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pulsetrader.account import AccountManager
from pulsetrader.broker import AlpacaClient, BrokerConfig, BrokerError, RetryStrategy
from pulsetrader.broker.convert import BAR_COLUMNS, BAR_DTYPES, bars_frame
from pulsetrader.broker.orders import order_payload
from pulsetrader.domain import AssetClass, OrderIntent, PositionSide
from pulsetrader.market_data import MarketDataFeed
from pulsetrader.sim.faults import FaultProfile
from pulsetrader.sim.service import Simulator
from tests.simulator import SimThread

SIM_EXAMPLES = settings(
    max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def shared() -> Iterator[SimThread]:
    runner = SimThread()
    with runner:
        yield runner


async def _no_sleep(_: float) -> None:
    return None


def run_with_client(
    runner: SimThread,
    scenario: Callable[[AlpacaClient, Simulator], Awaitable[Any]],
    *,
    fresh_account: bool = False,
) -> Any:
    sim = runner.sim
    assert sim is not None
    if fresh_account:
        runner.call(sim.reset())

    async def main() -> Any:
        config = BrokerConfig(
            sim.key_id,
            sim.secret_key,
            trading_url=sim.base_url,
            data_url=sim.base_url,
            requests_per_minute=None,
            timeout=2.0,
        )
        retry = RetryStrategy(max_attempts=2, base_delay=0, rng=random.Random(0), sleep=_no_sleep)
        client = AlpacaClient(config, retry=retry, clock=sim.now)
        try:
            return await scenario(client, sim)
        finally:
            await client.close()

    try:
        return asyncio.run(main())
    finally:
        runner.call(_clear(sim))


async def _clear(sim: Simulator) -> None:
    sim.faults.clear()


def set_faults(runner: SimThread, rules: list[dict[str, Any]], seed: int = 0) -> None:
    sim = runner.sim
    assert sim is not None

    async def load() -> None:
        sim.faults.load(FaultProfile.parse({"seed": seed, "rules": rules}))

    runner.call(load())


# -- Property 1: error handling consistency --------------------------------------------------

FAULTS = st.one_of(
    st.builds(
        lambda s: {"effect": "status", "status": s, "retry_after": 0},
        st.sampled_from([400, 401, 403, 404, 422, 429, 500, 502, 503, 504]),
    ),
    st.just({"effect": "reset"}),
    st.just({"effect": "drop_response"}),
    st.just({"effect": "latency", "ms": 5}),
)

CALLS: dict[str, Callable[[AlpacaClient], Awaitable[Any]]] = {
    "account": lambda c: c.get_account(),
    "positions": lambda c: c.get_positions(),
    "position": lambda c: c.get_position("AAPL"),
    "bars": lambda c: c.get_bars("AAPL", "5Min", limit=5),
    "crypto_bars": lambda c: c.get_bars("BTC/USD", "1Hour", limit=5),
    "trade": lambda c: c.get_latest_trade("MSFT"),
    "quote": lambda c: c.get_latest_quote("BTC/USD"),
    "clock": lambda c: c.get_clock(),
    "by_coid": lambda c: c.get_order_by_client_id("nope"),
    "orders": lambda c: c.list_orders("all"),
    "cancel": lambda c: c.cancel_order("5d3c1a2e-0000-4000-8000-000000000000"),
    "submit": lambda c: c.submit_order(OrderIntent(symbol="AAPL", side="buy", qty=Decimal(1))),
    "asset": lambda c: c.get_asset("AAPL"),
}


@SIM_EXAMPLES
@given(
    fault=FAULTS,
    probability=st.sampled_from([0.5, 1.0]),
    call=st.sampled_from(sorted(CALLS)),
    seed=st.integers(0, 100),
)
def test_property_1_every_failure_is_one_of_our_errors_with_a_message(
    shared: SimThread, fault: dict[str, Any], probability: float, call: str, seed: int
) -> None:
    set_faults(
        shared, [{"match": {"path_prefix": "/v"}, "probability": probability, **fault}], seed
    )

    async def scenario(client: AlpacaClient, _: Simulator) -> None:
        error: BrokerError | None = None
        try:
            await asyncio.wait_for(CALLS[call](client), 20)
        except BrokerError as exc:  # anything else escapes and fails the property
            error = exc
        if error is not None:
            assert str(error).strip()
            assert error.message

    run_with_client(shared, scenario)


# -- Property 2: position data completeness --------------------------------------------------


@SIM_EXAMPLES
@given(
    symbol=st.sampled_from(["AAPL", "MSFT", "SPY", "BTC/USD", "ETH/USD"]),
    side=st.sampled_from(["buy", "sell"]),
    qty=st.integers(1, 20),
)
def test_property_2_positions_carry_every_field(
    shared: SimThread, symbol: str, side: str, qty: int
) -> None:
    crypto = "/" in symbol
    if crypto:
        side = "buy"  # Alpaca does not short crypto
    amount = Decimal(qty) / (1000 if crypto else 1)

    async def scenario(client: AlpacaClient, sim: Simulator) -> None:
        intent = OrderIntent(
            symbol=symbol, side=side, qty=amount, time_in_force="gtc" if crypto else "day"
        )
        await client.submit_order(intent)
        position = None
        for _ in range(200):  # the fill lands on the next market tick
            position = await client.get_position(symbol)
            if position is not None:
                break
            await asyncio.sleep(0.01)
        assert position is not None
        assert position.symbol == symbol
        assert abs(position.qty) == amount
        assert position.side is (PositionSide.LONG if side == "buy" else PositionSide.SHORT)
        assert position.avg_entry_price > 0
        assert position.asset_class is (AssetClass.CRYPTO if crypto else AssetClass.US_EQUITY)
        assert position.current_price is not None
        assert position.market_value == position.qty * position.current_price
        assert position.cost_basis == position.qty * position.avg_entry_price
        assert position.unrealized_pl == position.market_value - position.cost_basis
        assert set(position.to_dict()) >= {
            "symbol",
            "qty",
            "side",
            "avg_entry_price",
            "market_value",
            "cost_basis",
            "unrealized_pl",
            "asset_class",
        }
        await client.close_all_positions(cancel_orders=True)
        for _ in range(200):
            if not await client.get_positions():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("positions did not close")

    run_with_client(shared, scenario, fresh_account=True)


# -- Property 3: bar data format consistency -------------------------------------------------


def assert_schema(frame: pd.DataFrame) -> None:
    assert tuple(frame.columns) == BAR_COLUMNS
    assert {c: str(t) for c, t in frame.dtypes.items()} == BAR_DTYPES
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert str(frame.index.tz) == "UTC"
    assert frame.index.name == "timestamp"
    assert frame.index.is_monotonic_increasing
    assert frame.index.is_unique


@SIM_EXAMPLES
@given(
    symbol=st.sampled_from(["AAPL", "BTC/USD"]),
    timeframe=st.sampled_from(["1Min", "5Min", "15Min", "1Hour", "1Day"]),
    days_back=st.integers(0, 30),
    hours=st.integers(0, 72),
    limit=st.none() | st.integers(1, 300),
)
def test_property_3_bars_have_one_schema_empty_or_not(
    shared: SimThread, symbol: str, timeframe: str, days_back: int, hours: int, limit: int | None
) -> None:
    async def scenario(client: AlpacaClient, sim: Simulator) -> None:
        start = sim.now() - timedelta(days=days_back)
        frame = await client.get_bars(
            symbol, timeframe, start=start, end=start + timedelta(hours=hours), limit=limit
        )
        assert_schema(frame)
        if limit is not None:
            assert len(frame) <= limit

    run_with_client(shared, scenario)


WIRE_BAR = st.fixed_dictionaries(
    {
        "t": st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
        ).map(lambda d: d.isoformat().replace("+00:00", "Z")),
        "o": st.floats(0.01, 1e6),
        "h": st.floats(0.01, 1e6),
        "l": st.floats(0.01, 1e6),
        "c": st.floats(0.01, 1e6),
        "v": st.floats(0, 1e9),
    },
    optional={"n": st.integers(0, 10**6), "vw": st.floats(0.01, 1e6)},
)


@given(st.lists(WIRE_BAR, max_size=30))
def test_property_3_frame_schema_for_any_wire_rows(rows: list[dict[str, Any]]) -> None:
    frame = bars_frame(rows)
    assert_schema(frame)
    assert len(frame) == len({r["t"] for r in rows})


# -- Property 5: order submission completeness -----------------------------------------------

PRICES = st.decimals(min_value=Decimal("1.00"), max_value=Decimal("999.99"), places=2)


@st.composite
def intents(draw: st.DrawFn) -> OrderIntent:
    order_type = draw(st.sampled_from(["market", "limit", "stop", "stop_limit", "trailing_stop"]))
    fields: dict[str, Any] = {
        "symbol": draw(st.sampled_from(["AAPL", "MSFT", "BTC/USD", "ETHUSD"])),
        "side": draw(st.sampled_from(["buy", "sell"])),
        "type": order_type,
        "time_in_force": draw(st.sampled_from(["day", "gtc", "ioc"])),
    }
    if order_type == "market" and draw(st.booleans()):
        fields["notional"] = draw(PRICES)
    else:
        fields["qty"] = draw(st.decimals(min_value=Decimal("0.001"), max_value=1000, places=3))
    if order_type in ("limit", "stop_limit"):
        fields["limit_price"] = draw(PRICES)
    if order_type in ("stop", "stop_limit"):
        fields["stop_price"] = draw(PRICES)
    if order_type == "trailing_stop":
        key = draw(st.sampled_from(["trail_price", "trail_percent"]))
        fields[key] = draw(st.decimals(min_value=Decimal("0.1"), max_value=50, places=1))
    return OrderIntent(**fields)


@given(intents(), st.text("abcdef0123456789-", min_size=1, max_size=48))
def test_property_5_every_request_carries_what_its_type_needs(
    intent: OrderIntent, coid: str
) -> None:
    body = order_payload(intent, coid)
    assert body["symbol"] == intent.symbol
    assert body["side"] == intent.side.value
    assert body["type"] == intent.type.value
    assert body["time_in_force"] == intent.time_in_force.value
    assert body["client_order_id"] == coid
    assert ("qty" in body) != ("notional" in body)
    amount = intent.qty if intent.qty is not None else intent.notional
    # Amounts travel as exact decimal strings, never floats.
    assert Decimal(body.get("qty", body.get("notional"))) == amount
    for name in ("limit_price", "stop_price", "trail_price", "trail_percent"):
        expected = getattr(intent, name)
        if expected is None:
            assert name not in body
        else:
            assert isinstance(body[name], str)
            assert Decimal(body[name]) == expected


# -- Property 11: exception resilience -------------------------------------------------------

OPS = st.lists(
    st.sampled_from(["fault_on", "fault_off", "account", "positions", "price", "bars", "refresh"]),
    min_size=1,
    max_size=12,
)


@SIM_EXAMPLES
@given(ops=OPS, status=st.sampled_from([429, 500, 503]))
def test_property_11_managers_answer_correctly_after_any_failures(
    shared: SimThread, ops: list[str], status: int
) -> None:
    async def scenario(client: AlpacaClient, sim: Simulator) -> None:
        accounts = AccountManager(client, ttl=0)
        feed = MarketDataFeed(client, price_ttl=0, bars_ttl=0)
        for op in ops:
            if op == "fault_on":
                rule = {"match": {"path_prefix": "/v"}, "effect": "status", "status": status}
                rule["retry_after"] = 0
                sim.faults.load(FaultProfile.parse({"seed": 0, "rules": [rule]}))
            elif op == "fault_off":
                sim.faults.clear()
            elif op == "account":
                try:
                    await accounts.get_account()
                except BrokerError:
                    pass
            elif op == "positions":
                try:
                    await accounts.get_positions()
                except BrokerError:
                    pass
            elif op == "price":
                await feed.get_current_price("AAPL")
            elif op == "bars":
                await feed.get_bars("AAPL", "1Min", limit=3)
            elif op == "refresh":
                await accounts.refresh()
        sim.faults.clear()
        await _same_account(client, accounts)
        # The market keeps trading between two requests: the feed's price must be the latest
        # trade as of just before or just after it was asked.
        before = (await client.get_latest_trade("AAPL")).price
        price = await feed.get_current_price("AAPL")
        after = (await client.get_latest_trade("AAPL")).price
        assert price in (before, after)
        assert accounts._accounts.inflight == 0
        assert feed._prices.inflight == 0
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert pending == []

    run_with_client(shared, scenario)


async def _same_account(client: AlpacaClient, manager: AccountManager) -> None:
    fresh = await client.get_account()
    cached = await manager.get_account()
    # as_of differs between two snapshots; every balance must agree.
    assert cached.equity == fresh.equity
    assert cached.cash == fresh.cash
