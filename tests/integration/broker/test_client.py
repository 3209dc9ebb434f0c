"""AlpacaClient against the simulator over loopback: every call, its domain result, its errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
from loguru import logger

from pulsetrader.broker import (
    AlpacaClient,
    AuthenticationError,
    BrokerConfig,
    CallOutcome,
    InsufficientBuyingPower,
    NotFound,
    OrderRejected,
)
from pulsetrader.broker.convert import BAR_COLUMNS, BAR_DTYPES
from pulsetrader.domain import AssetClass, OrderIntent, OrderStatus, PositionSide
from pulsetrader.sim.service import Simulator
from tests.helpers import eventually

from .conftest import make_client

TIMEFRAMES = ["1Min", "5Min", "15Min", "1Hour", "1Day"]


def assert_bar_schema(frame: pd.DataFrame) -> None:
    assert tuple(frame.columns) == BAR_COLUMNS
    assert {c: str(t) for c, t in frame.dtypes.items()} == BAR_DTYPES
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert str(frame.index.tz) == "UTC"
    assert frame.index.name == "timestamp"
    assert frame.index.is_monotonic_increasing
    assert frame.index.is_unique


async def filled_position(client: AlpacaClient, symbol: str) -> None:
    await eventually(lambda: client.get_position(symbol), message=f"{symbol} position")


async def test_account_snapshot_is_complete_and_exact(client: AlpacaClient) -> None:
    account = await client.get_account()
    assert account.equity == Decimal("100000")
    assert account.cash == account.equity
    assert account.buying_power > 0
    assert account.as_of.tzinfo is not None
    data = account.to_dict()
    assert data["equity"] == "100000"
    assert isinstance(account.cash, Decimal)


async def test_market_buy_creates_a_complete_long_position(client: AlpacaClient) -> None:
    order = await client.submit_order(OrderIntent(symbol="AAPL", side="buy", qty=Decimal(5)))
    assert order.client_order_id.startswith("pt-")
    assert order.broker_order_id
    await filled_position(client, "AAPL")
    position = await client.get_position("AAPL")
    assert position is not None
    assert position.qty == 5
    assert position.side is PositionSide.LONG
    assert position.asset_class is AssetClass.US_EQUITY
    assert position.cost_basis == position.avg_entry_price * 5
    assert position.market_value == position.current_price * 5  # type: ignore[operator]
    assert position.unrealized_pl == position.market_value - position.cost_basis
    assert [p.symbol for p in await client.get_positions()] == ["AAPL"]


async def test_short_and_crypto_positions_use_order_symbols(client: AlpacaClient) -> None:
    await client.submit_order(OrderIntent(symbol="MSFT", side="sell", qty=Decimal(2)))
    await client.submit_order(
        OrderIntent(symbol="BTCUSD", side="buy", notional=Decimal(500), time_in_force="gtc")
    )
    await filled_position(client, "MSFT")
    await filled_position(client, "BTC/USD")
    short = await client.get_position("MSFT")
    assert short is not None
    assert short.qty == -2
    assert short.side is PositionSide.SHORT
    assert short.market_value < 0
    crypto = await client.get_position("BTCUSD")
    assert crypto is not None
    assert crypto.symbol == "BTC/USD"
    assert crypto.asset_class is AssetClass.CRYPTO
    assert crypto.qty > 0


@pytest.mark.parametrize("timeframe", TIMEFRAMES)
@pytest.mark.parametrize("symbol", ["AAPL", "BTC/USD"])
async def test_bars_have_one_schema_for_every_timeframe(
    client: AlpacaClient, simulator: Simulator, symbol: str, timeframe: str
) -> None:
    frame = await client.get_bars(symbol, timeframe, limit=20)
    assert_bar_schema(frame)
    assert 0 < len(frame) <= 20
    assert frame.index[-1] <= simulator.now()
    assert (frame["high"] >= frame["low"]).all()


async def test_bars_in_a_range_and_an_empty_range(client: AlpacaClient) -> None:
    start = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    frame = await client.get_bars("AAPL", "1Hour", start=start, end=start + timedelta(hours=3))
    assert_bar_schema(frame)
    assert len(frame) == 3
    # Hour bars are stamped on the hour, and Alpaca returns those stamped at or after start.
    assert list(frame.index.hour) == [15, 16, 17]
    weekend = datetime(2023, 12, 30, 15, tzinfo=UTC)
    empty = await client.get_bars("AAPL", "1Min", start=weekend, end=weekend + timedelta(hours=2))
    assert_bar_schema(empty)
    assert empty.empty


async def test_latest_trade_quote_midpoint(client: AlpacaClient) -> None:
    trade = await client.get_latest_trade("AAPL")
    quote = await client.get_latest_quote("AAPL")
    assert trade.symbol == "AAPL"
    assert trade.price > 0
    assert quote.bid_price < quote.ask_price
    midpoint = await client.get_midpoint("BTC/USD")
    assert midpoint is not None
    assert midpoint > 0


async def test_previous_close_is_the_previous_sessions_close(client: AlpacaClient) -> None:
    # The simulator starts on Wednesday 2024-01-03: the previous session is Tuesday the 2nd
    # (Monday the 1st was New Year's Day).
    daily = await client.get_bars(
        "AAPL", "1Day", start=datetime(2024, 1, 2, tzinfo=UTC), end=datetime(2024, 1, 3, tzinfo=UTC)
    )
    assert len(daily) == 1
    assert await client.get_previous_close("AAPL") == Decimal(str(daily["close"].iloc[-1]))
    # Saturday: Friday's close. Crypto trades every day: the day before.
    saturday = datetime(2023, 12, 30, 15, tzinfo=UTC)
    friday = await client.get_bars("AAPL", "1Day", start=saturday - timedelta(days=2), end=saturday)
    assert await client.get_previous_close("AAPL", now=saturday) == Decimal(
        str(friday["close"].iloc[-1])
    )
    crypto = await client.get_bars(
        "BTC/USD", "1Day", start=saturday - timedelta(days=2), end=saturday
    )
    assert crypto.index[-1] == pd.Timestamp("2023-12-30T05:00Z")  # today's bar is excluded
    assert await client.get_previous_close("BTC/USD", now=saturday) == Decimal(
        str(crypto["close"].iloc[-2])
    )


async def test_order_lifecycle_get_list_cancel(client: AlpacaClient) -> None:
    price = (await client.get_latest_trade("AAPL")).price
    limit = (price * Decimal("0.5")).quantize(Decimal("0.01"))
    order = await client.submit_order(
        OrderIntent(symbol="AAPL", side="buy", qty=Decimal(1), type="limit", limit_price=limit)
    )
    assert order.status in (OrderStatus.NEW, OrderStatus.ACCEPTED, OrderStatus.PENDING_NEW)
    assert order.limit_price == limit
    assert order.broker_order_id is not None
    assert (await client.get_order(order.broker_order_id)).client_order_id == order.client_order_id
    found = await client.get_order_by_client_id(order.client_order_id)
    assert found is not None
    assert found.broker_order_id == order.broker_order_id
    assert [o.client_order_id for o in await client.list_orders("open")] == [order.client_order_id]
    await client.cancel_order(order.broker_order_id)
    canceled = await eventually(
        lambda: _status_is(client, order.broker_order_id, OrderStatus.CANCELED), message="cancel"
    )
    assert canceled
    assert await client.list_orders("open") == []
    assert order.client_order_id in [o.client_order_id for o in await client.list_orders("closed")]


async def _status_is(client: AlpacaClient, order_id: str | None, status: OrderStatus) -> bool:
    assert order_id is not None
    return (await client.get_order(order_id)).status is status


async def test_every_order_type_and_bracket_legs(client: AlpacaClient) -> None:
    price = (await client.get_latest_trade("AAPL")).price
    cents = Decimal("0.01")
    below = (price * Decimal("0.8")).quantize(cents)
    above = (price * Decimal("1.2")).quantize(cents)
    intents = [
        OrderIntent(symbol="AAPL", side="buy", qty=Decimal(1), type="stop", stop_price=above),
        OrderIntent(
            symbol="AAPL",
            side="buy",
            qty=Decimal(1),
            type="stop_limit",
            stop_price=above,
            limit_price=above + 1,
        ),
        OrderIntent(
            symbol="AAPL", side="sell", qty=Decimal(1), type="trailing_stop", trail_percent=5
        ),
        OrderIntent(
            symbol="AAPL",
            side="buy",
            qty=Decimal(1),
            type="limit",
            limit_price=below,
            order_class="bracket",
            take_profit_limit_price=above,
            stop_loss_stop_price=(below * Decimal("0.9")).quantize(cents),
        ),
    ]
    orders = [await client.submit_order(intent) for intent in intents]
    assert [o.type.value for o in orders] == ["stop", "stop_limit", "trailing_stop", "limit"]
    assert orders[2].trail_percent == 5
    bracket = orders[3]
    assert bracket.order_class.value == "bracket"
    assert len(bracket.legs) == 2
    assert bracket.take_profit_limit_price == above
    assert all(o.is_open for o in orders)
    cancels = await client.cancel_all_orders()
    assert {order_id for order_id, _ in cancels} >= {o.broker_order_id for o in orders}
    await eventually(lambda: _none_open(client), message="all cancelled")


async def _none_open(client: AlpacaClient) -> bool:
    return not await client.list_orders("open")


async def test_close_position_by_qty_percentage_and_all(client: AlpacaClient) -> None:
    await client.submit_order(OrderIntent(symbol="AAPL", side="buy", qty=Decimal(10)))
    await client.submit_order(OrderIntent(symbol="MSFT", side="sell", qty=Decimal(4)))
    await filled_position(client, "AAPL")
    await filled_position(client, "MSFT")
    by_qty = await client.close_position("AAPL", qty=Decimal(3))
    assert (by_qty.side.value, by_qty.qty) == ("sell", 3)
    await eventually(lambda: _qty_is(client, "AAPL", Decimal(7)), message="AAPL at 7")
    by_pct = await client.close_position("MSFT", percentage=Decimal(50))
    assert (by_pct.side.value, by_pct.qty) == ("buy", 2)
    closing = await client.close_all_positions(cancel_orders=True)
    assert {(o.symbol, o.side.value, o.qty) for o in closing} == {
        ("AAPL", "sell", 7),
        ("MSFT", "buy", 2),
    }
    await eventually(lambda: _flat(client), message="flat")


async def _qty_is(client: AlpacaClient, symbol: str, qty: Decimal) -> bool:
    position = await client.get_position(symbol)
    return position is not None and position.qty == qty


async def _flat(client: AlpacaClient) -> bool:
    return not await client.get_positions()


async def test_reference_data(client: AlpacaClient, simulator: Simulator) -> None:
    clock = await client.get_clock()
    assert clock.is_open
    assert clock.next_close == datetime(2024, 1, 3, 21, tzinfo=UTC)
    days = await client.get_calendar(date(2023, 12, 29), date(2024, 1, 3))
    assert [d.date for d in days] == [date(2023, 12, 29), date(2024, 1, 2), date(2024, 1, 3)]
    assert days[0].open == datetime(2023, 12, 29, 14, 30, tzinfo=UTC)
    asset = await client.get_asset("BTCUSD")
    assert (asset.symbol, asset.asset_class) == ("BTC/USD", AssetClass.CRYPTO)
    assert (await client.get_asset("AAPL")).fractionable


async def test_absent_things(client: AlpacaClient) -> None:
    assert await client.get_position("AAPL") is None
    assert await client.get_order_by_client_id("never-sent") is None
    with pytest.raises(NotFound):
        await client.get_order("7b3c1a2e-0000-4000-8000-000000000000")
    with pytest.raises(NotFound):
        await client.get_asset("NOPE")


async def test_refusals_map_to_our_errors(client: AlpacaClient, simulator: Simulator) -> None:
    with pytest.raises(InsufficientBuyingPower) as too_big:
        await client.submit_order(OrderIntent(symbol="AAPL", side="buy", qty=Decimal(100000)))
    assert too_big.value.status == 403
    assert await client.list_orders("all") == []
    with pytest.raises(OrderRejected) as bad_tif:
        await client.submit_order(
            OrderIntent(symbol="BTC/USD", side="buy", qty=Decimal("0.01"), time_in_force="day")
        )
    assert bad_tif.value.status == 422
    assert bad_tif.value.reason
    wrong = AlpacaClient(
        BrokerConfig("PKWRONG", "nope", trading_url=simulator.base_url, data_url=simulator.base_url)
    )
    try:
        with pytest.raises(AuthenticationError, match="API key"):
            await wrong.get_account()
    finally:
        await wrong.close()


async def test_reused_client_order_id_returns_the_same_order_not_a_second(
    client: AlpacaClient,
) -> None:
    intent = OrderIntent(symbol="AAPL", side="buy", qty=Decimal(1), client_order_id="my-id-1")
    first = await client.submit_order(intent)
    again = await client.submit_order(intent)
    assert again.broker_order_id == first.broker_order_id
    assert len(await client.list_orders("all")) == 1
    other = OrderIntent(symbol="MSFT", side="sell", qty=Decimal(1), client_order_id="my-id-1")
    with pytest.raises(OrderRejected, match="different order"):
        await client.submit_order(other)


async def test_every_call_reports_to_hooks_and_logs_without_secrets(
    client: AlpacaClient, outcomes: list[CallOutcome], simulator: Simulator
) -> None:
    lines: list[str] = []
    sink = logger.add(lines.append, level="DEBUG", format="{message}")
    try:
        await client.get_account()
        await client.get_order_by_client_id("missing")
    finally:
        logger.remove(sink)
    assert [(o.endpoint, o.ok, o.status) for o in outcomes] == [
        ("get_account", True, 200),
        ("get_order_by_client_id", False, 404),
    ]
    assert all(o.seconds > 0 for o in outcomes)
    assert any("get_account" in line for line in lines)
    assert not any(simulator.secret_key in line for line in lines)


async def test_client_built_from_settings_needs_credentials() -> None:
    from pulsetrader.config import load_settings
    from pulsetrader.domain import ConfigError

    with pytest.raises(ConfigError, match="ALPACA_PAPER_API_KEY"):
        BrokerConfig.from_settings(load_settings(env_file=None))
    settings = load_settings(
        env_file=None, alpaca_paper_api_key="PKABC123", alpaca_paper_api_secret="s" * 40
    )
    config = BrokerConfig.from_settings(settings)
    assert config.paper
    assert "s" * 40 not in repr(config)
    live = load_settings(
        env_file=None,
        alpaca_mode="live",
        alpaca_live_api_key="AKABC123",
        alpaca_live_api_secret="s" * 40,
    )
    with pytest.raises(ConfigError, match="PULSETRADER_LIVE_CONFIRM"):
        BrokerConfig.from_settings(live)


async def test_make_client_helper_is_reusable(simulator: Simulator) -> None:
    # Two clients on one simulator share nothing but the account.
    a, b = make_client(simulator), make_client(simulator)
    try:
        assert (await a.get_account()).account_id == (await b.get_account()).account_id
    finally:
        await a.close()
        await b.close()
