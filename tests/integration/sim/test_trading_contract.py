"""Contract suite for the simulator's Trading API v2, driven through alpaca-py's TradingClient.

``raw_data=False`` everywhere: every response, errors included, goes through the SDK's pydantic
models and ``APIError`` accessors, so a shape the SDK would refuse fails here first. The clock is
stopped (see conftest); tests move it when they need distinct timestamps.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from alpaca.common.enums import Sort
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import (
    AccountStatus,
    AssetClass,
    AssetExchange,
    AssetStatus,
    OrderClass,
    OrderSide,
    OrderStatus,
    OrderType,
    PositionSide,
    QueryOrderStatus,
    TimeInForce,
)
from alpaca.trading.models import ClosePositionResponse, FailedClosePositionDetails, Order
from alpaca.trading.requests import (
    ClosePositionRequest,
    GetAssetsRequest,
    GetCalendarRequest,
    GetOrderByIdRequest,
    GetOrdersRequest,
    GetPortfolioHistoryRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopLimitOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
    TrailingStopOrderRequest,
)

from tests.integration.sim.conftest import (
    FROZEN,
    advance,
    api_error,
    ask,
    assert_api_error,
    bracket,
    limit,
    market,
    no_retries,
)
from tests.simulator import SESSION_OPEN, SimThread

pytestmark = pytest.mark.sim_config(**FROZEN)

NO_SUCH_ID = "00000000-0000-4000-8000-000000000000"
CLOSE = datetime(2024, 1, 3, 21, tzinfo=UTC)  # 16:00 New York


def trailing(symbol: str, side: str, **trail: float) -> TrailingStopOrderRequest:
    return TrailingStopOrderRequest(symbol=symbol, qty=1, side=side, time_in_force="gtc", **trail)


# -- account, clock, calendar, assets -------------------------------------------------------------
def test_account_and_configurations(trading: TradingClient) -> None:
    account = trading.get_account()
    assert isinstance(account.id, UUID)
    assert (account.status, account.currency) == (AccountStatus.ACTIVE, "USD")
    assert Decimal(account.cash) == Decimal(account.equity) == 100000
    assert Decimal(account.buying_power) == 200000  # a margin account: twice the equity
    assert Decimal(account.non_marginable_buying_power) == 100000
    assert account.account_blocked is account.trading_blocked is False

    config = trading.get_account_configurations()
    assert config.suspend_trade is False
    config.no_shorting = True
    config.trade_confirm_email = "none"
    updated = trading.set_account_configurations(config)
    assert (updated.no_shorting, updated.trade_confirm_email) == (True, "none")
    again = trading.get_account_configurations()
    assert again == updated
    # no_shorting makes the account long-only.
    assert trading.get_account().shorting_enabled is False
    short = market("TSLA", 1, side="sell")
    message = "account is not allowed to short"
    assert_api_error(lambda: trading.submit_order(short), 403, 40310000, message)
    again.no_shorting = False
    trading.set_account_configurations(again)
    assert trading.get_account().shorting_enabled is True
    assert trading.submit_order(short).status is OrderStatus.FILLED


def test_clock_and_calendar(trading: TradingClient) -> None:
    clock = trading.get_clock()
    assert clock.is_open is True
    assert clock.timestamp == SESSION_OPEN
    assert clock.timestamp.utcoffset() == timedelta(hours=-5)  # New York time, with its offset
    assert (clock.next_close, clock.next_open) == (CLOSE, datetime(2024, 1, 4, 14, 30, tzinfo=UTC))

    days = trading.get_calendar(GetCalendarRequest(start=date(2023, 12, 29), end=date(2024, 1, 8)))
    # New Year's Day and the weekends are not sessions.
    sessions = ["2023-12-29", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"]
    assert [d.date.isoformat() for d in days] == sessions
    assert all((d.open.hour, d.open.minute, d.close.hour) == (9, 30, 16) for d in days)
    july = GetCalendarRequest(start=date(2024, 7, 3), end=date(2024, 7, 4))
    (july_3,) = trading.get_calendar(july)
    assert (july_3.date, july_3.close.hour) == (date(2024, 7, 3), 13)  # an early close


def test_assets(trading: TradingClient) -> None:
    active = GetAssetsRequest(status=AssetStatus.ACTIVE, asset_class=AssetClass.CRYPTO)
    crypto = trading.get_all_assets(active)
    assert {a.symbol for a in crypto} >= {"BTC/USD", "ETH/USD"}
    assert all(a.asset_class is AssetClass.CRYPTO for a in crypto)
    assert all(a.exchange is AssetExchange.CRYPTO and not a.marginable for a in crypto)
    nasdaq = trading.get_all_assets(GetAssetsRequest(exchange=AssetExchange.NASDAQ))
    assert "AAPL" in {a.symbol for a in nasdaq}
    assert "SPY" not in {a.symbol for a in nasdaq}  # listed on ARCA
    assert all(a.exchange is AssetExchange.NASDAQ for a in nasdaq)
    fractional = trading.get_all_assets(GetAssetsRequest(attributes="fractional_eh_enabled"))
    assert fractional
    assert all("fractional_eh_enabled" in (a.attributes or []) for a in fractional)

    aapl = trading.get_asset("AAPL")
    assert (aapl.symbol, aapl.asset_class, aapl.status) == ("AAPL", "us_equity", "active")
    assert aapl.tradable is aapl.fractionable is aapl.shortable is True
    btc = trading.get_asset("BTC/USD")
    assert trading.get_asset(btc.id) == trading.get_asset("BTCUSD") == btc
    assert btc.min_order_size is not None
    assert btc.price_increment is not None
    assert_api_error(lambda: trading.get_asset("NOPE"), 404, 40410000, "asset not found for NOPE")
    assert_api_error(lambda: trading.get_asset(UUID(NO_SUCH_ID)), 404, 40410000)


# -- orders ---------------------------------------------------------------------------------------
def test_submit_every_order_type(trading: TradingClient, sim_thread: SimThread) -> None:
    aapl, msft = ask(sim_thread, "AAPL"), ask(sim_thread, "MSFT")
    bought = trading.submit_order(market("AAPL", 10, client_order_id="buy-aapl"))
    assert (bought.client_order_id, bought.status) == ("buy-aapl", OrderStatus.FILLED)
    assert (bought.type, bought.order_class) == (OrderType.MARKET, OrderClass.SIMPLE)
    assert (bought.qty, bought.filled_qty, Decimal(bought.filled_avg_price)) == ("10", "10", aapl)
    assert bought.expires_at == CLOSE  # a day order

    by_value = MarketOrderRequest(symbol="AAPL", notional=100, side="buy", time_in_force="day")
    notional = trading.submit_order(by_value)
    assert (notional.notional, notional.qty, notional.status) == ("100", None, OrderStatus.FILLED)
    shares = (Decimal(100) / aapl).quantize(Decimal("1e-9"), "ROUND_DOWN")
    assert Decimal(notional.filled_qty) == shares
    fractional = trading.submit_order(market("AAPL", 0.5))
    assert (fractional.qty, fractional.filled_qty) == ("0.5", "0.5")

    gtc: dict[str, Any] = {"symbol": "AAPL", "qty": 1, "time_in_force": "gtc"}
    resting = {
        "limit": limit("AAPL", 1, 1.0),
        "stop": StopOrderRequest(**gtc, side="buy", stop_price=1000),
        "stop_limit": StopLimitOrderRequest(**gtc, side="sell", stop_price=1, limit_price=0.9),
    }
    for kind, request in resting.items():
        order = trading.submit_order(request)
        assert (order.type, order.status) == (OrderType(kind), OrderStatus.NEW)
        assert (order.filled_qty, order.filled_avg_price) == ("0", None)
        assert trading.get_order_by_id(order.id) == order
    assert (order.stop_price, order.limit_price) == ("1", "0.9")

    by_price = trading.submit_order(trailing("AAPL", "sell", trail_price=5))
    by_percent = trading.submit_order(trailing("AAPL", "sell", trail_percent=2))
    bid = Decimal(by_price.hwm)  # a sell trails the best bid
    assert (by_price.trail_price, Decimal(by_price.stop_price)) == ("5", bid - 5)
    assert by_percent.trail_percent == "2"
    assert Decimal(by_percent.stop_price) == (bid * Decimal("0.98")).quantize(Decimal("0.01"))

    entry = trading.submit_order(bracket("MSFT", 2, msft, stop_limit=100))
    assert (entry.order_class, entry.status) == (OrderClass.BRACKET, OrderStatus.FILLED)
    assert entry.legs is not None
    assert [leg.type for leg in entry.legs] == [OrderType.LIMIT, OrderType.STOP_LIMIT]
    assert all(leg.side is OrderSide.SELL and leg.qty == "2" for leg in entry.legs)
    assert all(leg.order_class is OrderClass.BRACKET for leg in entry.legs)

    exits = {
        "take_profit": TakeProfitRequest(limit_price=1000),
        "stop_loss": StopLossRequest(stop_price=10),
    }
    oco = trading.submit_order(limit("AAPL", 2, 1000, side="sell", order_class="oco", **exits))
    assert (oco.order_class, oco.type, oco.status) == ("oco", "limit", "new")
    assert [(leg.type, leg.stop_price) for leg in oco.legs or []] == [(OrderType.STOP, "10")]
    oto = trading.submit_order(
        limit("SPY", 3, 1, tif="day", order_class="oto", stop_loss=StopLossRequest(stop_price=0.5))
    )
    assert [(leg.status, leg.type) for leg in oto.legs or []] == [("held", "stop")]

    btc = trading.submit_order(market("BTC/USD", 0.01, tif="gtc"))
    assert (btc.symbol, btc.status, btc.filled_qty) == ("BTC/USD", OrderStatus.FILLED, "0.01")
    assert btc.expires_at is None
    eth_value = MarketOrderRequest(symbol="ETH/USD", notional=50.5, side="buy", time_in_force="ioc")
    eth = trading.submit_order(eth_value)
    assert (eth.notional, eth.status) == ("50.5", OrderStatus.FILLED)
    eth_ask = ask(sim_thread, "ETH/USD")
    eth_stop = StopLimitOrderRequest(
        symbol="ETH/USD",
        qty=0.01,
        side="buy",
        time_in_force="gtc",
        stop_price=float(round(eth_ask * 2, 2)),
        limit_price=float(round(eth_ask * 3, 2)),
    )
    assert trading.submit_order(eth_stop).status is OrderStatus.NEW


def test_list_orders_filters(trading: TradingClient, sim_thread: SimThread) -> None:
    filled = trading.submit_order(market("AAPL", 5))
    advance(sim_thread, 1)
    resting = trading.submit_order(limit("MSFT", 1, 1.0))
    advance(sim_thread, 1)
    selling = trading.submit_order(limit("AAPL", 1, 10000, side="sell"))
    advance(sim_thread, 1)
    cancelled = trading.submit_order(limit("AAPL", 1, 1.0))
    trading.cancel_order_by_id(cancelled.id)
    advance(sim_thread, 1)
    parent = trading.submit_order(bracket("MSFT", 2, ask(sim_thread, "MSFT"), tif="day"))
    legs = [leg.id for leg in parent.legs or []]

    def ids(**filters: Any) -> list[UUID]:
        return [o.id for o in trading.get_orders(GetOrdersRequest(**filters))]

    every = QueryOrderStatus.ALL
    assert ids() == [*legs[::-1], selling.id, resting.id]  # open by default, newest first
    assert set(ids(status=QueryOrderStatus.CLOSED)) == {filled.id, cancelled.id, parent.id}
    everything = ids(status=every, direction=Sort.ASC)
    assert everything == [filled.id, resting.id, selling.id, cancelled.id, parent.id, *legs]
    assert ids(status=every, limit=2) == everything[::-1][:2]
    # after and until are exclusive bounds on submitted_at.
    after = ids(status=every, after=resting.submitted_at, direction=Sort.ASC)
    assert after == everything[2:]
    assert ids(status=every, until=selling.submitted_at) == [resting.id, filled.id]
    assert set(ids(status=every, symbols=["MSFT"])) == {resting.id, parent.id, *legs}
    assert set(ids(status=QueryOrderStatus.OPEN, side=OrderSide.SELL)) == {selling.id, *legs}

    nested = trading.get_orders(GetOrdersRequest(status=every, nested=True))
    assert len(nested) == 5  # legs roll up under their parent
    (rolled_up,) = [o for o in nested if o.id == parent.id]
    assert [leg.id for leg in rolled_up.legs or []] == legs


def test_get_order_by_id_and_client_order_id(trading: TradingClient) -> None:
    # A resting entry at $1, with exits at $3 and $0.75: the legs wait, held.
    request = bracket("AAPL", 1, Decimal("1.5"), entry=1, client_order_id="parent-1")
    parent = trading.submit_order(request)
    flat = trading.get_order_by_id(parent.id)
    assert (flat.id, flat.client_order_id, flat.legs) == (parent.id, "parent-1", None)
    nested = trading.get_order_by_id(str(parent.id), GetOrderByIdRequest(nested=True))
    assert nested.legs is not None
    assert [leg.status for leg in nested.legs] == [OrderStatus.HELD, OrderStatus.HELD]
    assert trading.get_order_by_client_id("parent-1").id == parent.id
    leg = nested.legs[0]
    assert trading.get_order_by_client_id(leg.client_order_id).id == leg.id


def test_replace_order(trading: TradingClient, sim_thread: SimThread) -> None:
    original = trading.submit_order(limit("AAPL", 1, 1.0))
    advance(sim_thread, 1)
    change = ReplaceOrderRequest(qty=3, limit_price=1.5, client_order_id="replacement")
    new = trading.replace_order_by_id(original.id, change)
    assert (new.replaces, new.status) == (original.id, OrderStatus.NEW)
    assert new.id != original.id
    assert (new.qty, new.limit_price, new.client_order_id) == ("3", "1.5", "replacement")
    old = trading.get_order_by_id(original.id)
    assert (old.status, old.replaced_by) == (OrderStatus.REPLACED, new.id)
    assert old.replaced_at is not None
    assert [o.id for o in trading.get_orders()] == [new.id]

    trail = trading.submit_order(trailing("TSLA", "buy", trail_price=5))
    moved = trading.replace_order_by_id(trail.id, ReplaceOrderRequest(trail=3))
    assert moved.trail_price == "3"
    assert Decimal(moved.stop_price) == Decimal(moved.hwm) + 3  # a buy trails the best ask


def test_cancel_one_and_all(trading: TradingClient) -> None:
    first = trading.submit_order(limit("AAPL", 1, 1.0))
    assert trading.cancel_order_by_id(first.id) is None  # 204, no body
    cancelled = trading.get_order_by_id(first.id)
    assert cancelled.status is OrderStatus.CANCELED
    assert cancelled.canceled_at is not None

    open_ids = {trading.submit_order(limit(s, 1, 1.0)).id for s in ("AAPL", "MSFT", "SPY")}
    responses = trading.cancel_orders()
    assert {r.id for r in responses} == open_ids
    assert all(r.status == 200 for r in responses)
    assert trading.get_orders() == trading.cancel_orders() == []


# -- positions ------------------------------------------------------------------------------------
def test_positions(trading: TradingClient) -> None:
    aapl_order = trading.submit_order(market("AAPL", 10))
    btc_order = trading.submit_order(market("BTC/USD", 0.01, tif="gtc"))
    trading.submit_order(market("TSLA", 3, side="sell"))  # a short sale

    positions = {p.symbol: p for p in trading.get_all_positions()}
    assert set(positions) == {"AAPL", "BTCUSD", "TSLA"}  # crypto positions drop the slash
    aapl = positions["AAPL"]
    assert (aapl.qty, aapl.side, aapl.exchange) == ("10", PositionSide.LONG, AssetExchange.NASDAQ)
    assert (aapl.asset_id, aapl.qty_available) == (aapl_order.asset_id, "10")
    assert Decimal(aapl.avg_entry_price) == Decimal(aapl_order.filled_avg_price)
    assert Decimal(aapl.cost_basis) == 10 * Decimal(aapl.avg_entry_price)
    assert Decimal(aapl.market_value) == 10 * Decimal(aapl.current_price)
    short = positions["TSLA"]
    assert (short.qty, short.side) == ("-3", PositionSide.SHORT)
    assert Decimal(short.market_value) < 0

    btc = trading.get_open_position("BTC/USD")
    assert trading.get_open_position("BTCUSD") == trading.get_open_position(btc.asset_id) == btc
    assert (btc.symbol, btc.asset_class, btc.exchange) == ("BTCUSD", "crypto", "CRYPTO")
    assert (btc.asset_id, btc.qty, btc.asset_marginable) == (btc_order.asset_id, "0.01", False)
    missing = "position does not exist"
    assert_api_error(lambda: trading.get_open_position("MSFT"), 404, 40410000, missing)


def test_close_position_by_qty_and_percentage(trading: TradingClient) -> None:
    trading.submit_order(market("AAPL", 10))
    trading.submit_order(market("BTC/USD", 0.01, tif="gtc"))
    by_qty = trading.close_position("AAPL", ClosePositionRequest(qty="4"))
    assert (by_qty.side, by_qty.qty, by_qty.type) == (OrderSide.SELL, "4", OrderType.MARKET)
    assert by_qty.time_in_force is TimeInForce.DAY
    assert trading.get_open_position("AAPL").qty == "6"
    half = trading.close_position("BTC/USD", ClosePositionRequest(percentage="50"))
    assert (half.symbol, half.qty, half.time_in_force) == ("BTC/USD", "0.005", TimeInForce.GTC)
    assert trading.get_open_position("BTCUSD").qty == "0.005"
    assert trading.close_position("AAPL").qty == "6"
    assert [p.symbol for p in trading.get_all_positions()] == ["BTCUSD"]


def test_close_all_positions(trading: TradingClient) -> None:
    trading.submit_order(market("AAPL", 10))
    trading.submit_order(market("ETH/USD", 0.5, tif="gtc"))
    holding = trading.submit_order(limit("AAPL", 10, 10000, side="sell"))

    # Without cancel_orders the AAPL shares stay promised to the open sell: that row fails.
    rows = {r.symbol: r for r in trading.close_all_positions()}
    assert set(rows) == {"AAPL", "ETHUSD"}
    assert all(isinstance(r, ClosePositionResponse) for r in rows.values())
    failed = rows["AAPL"].body
    assert rows["AAPL"].status == 403
    assert isinstance(failed, FailedClosePositionDetails)
    assert (failed.code, failed.symbol) == (40310000, "AAPL")
    assert (failed.available, failed.existing_qty, failed.held_for_orders) == (0, 10, 10)
    closed = rows["ETHUSD"].body
    assert rows["ETHUSD"].status == 200
    assert isinstance(closed, Order)
    assert (closed.symbol, closed.side, closed.qty) == ("ETH/USD", OrderSide.SELL, "0.5")
    assert trading.get_order_by_id(holding.id).status is OrderStatus.NEW

    (row,) = trading.close_all_positions(cancel_orders=True)
    assert (row.symbol, row.status) == ("AAPL", 200)
    assert isinstance(row.body, Order)
    assert row.body.status is OrderStatus.FILLED
    assert trading.get_order_by_id(holding.id).status is OrderStatus.CANCELED
    assert trading.get_all_positions() == trading.close_all_positions(cancel_orders=True) == []


def test_portfolio_history(trading: TradingClient, sim_thread: SimThread) -> None:
    trading.submit_order(market("AAPL", 100))
    advance(sim_thread, 5 * 60)
    intraday = GetPortfolioHistoryRequest(period="1D", timeframe="1Min")
    history = trading.get_portfolio_history(intraday)
    assert history.timeframe == "1Min"
    assert len(history.timestamp) == len(history.equity) == len(history.profit_loss) == 6
    assert history.timestamp == [int(SESSION_OPEN.timestamp()) + 60 * i for i in range(6)]
    assert history.base_value == 100000
    assert history.profit_loss[-1] == pytest.approx(history.equity[-1] - 100000)
    assert history.equity[-1] == pytest.approx(float(trading.get_account().equity))
    daily = trading.get_portfolio_history()
    assert daily.timeframe == "1D"
    assert daily.timestamp[-1] == int(datetime(2024, 1, 3, 5, tzinfo=UTC).timestamp())


@pytest.mark.sim_config(start=CLOSE - timedelta(minutes=5), **FROZEN)
def test_portfolio_history_reports_market_hours_by_default(
    trading: TradingClient, sim_thread: SimThread
) -> None:
    trading.submit_order(market("BTC/USD", 0.1, tif="gtc"))
    advance(sim_thread, 10 * 60)  # across the 16:00 close

    def minutes(**kw: Any) -> list[datetime]:
        request = GetPortfolioHistoryRequest(period="1D", timeframe="1Min", **kw)
        history = trading.get_portfolio_history(request)
        assert len(history.equity) == len(history.timestamp)
        return [datetime.fromtimestamp(t, UTC) for t in history.timestamp]

    core = minutes()
    assert (core[0], core[-1]) == (CLOSE - timedelta(minutes=5), CLOSE - timedelta(minutes=1))
    assert minutes(intraday_reporting="market_hours") == core
    extended = minutes(intraday_reporting="extended_hours")
    assert (extended[:5], extended[-1]) == (core, CLOSE + timedelta(minutes=5))  # now
    assert minutes(intraday_reporting="continuous") == extended


# -- errors ---------------------------------------------------------------------------------------
def test_bad_keys_are_401(sim_thread: SimThread) -> None:
    assert sim_thread.sim is not None
    base = sim_thread.sim.base_url
    stranger = no_retries(TradingClient("PKWRONG", "wrong", paper=True, url_override=base))
    for call in (stranger.get_account, stranger.get_clock, stranger.get_all_positions):
        assert_api_error(call, 401, 40110000, "request is not authorized")
    wrong_secret = no_retries(TradingClient(sim_thread.sim.key_id, "wrong", url_override=base))
    assert_api_error(lambda: wrong_secret.submit_order(market("AAPL", 1)), 401, 40110000)


def test_insufficient_buying_power_and_qty(trading: TradingClient) -> None:
    too_big = market("AAPL", 10_000)
    message = "insufficient buying power"
    body = assert_api_error(lambda: trading.submit_order(too_big), 403, 40310000, message)
    assert Decimal(body["buying_power"]) == 200000
    assert Decimal(body["cost_basis"]) > Decimal(body["buying_power"])

    trading.submit_order(market("AAPL", 10))
    trading.submit_order(limit("AAPL", 4, 10000, side="sell"))
    message = "insufficient qty available for order (requested: 7, available: 6)"
    oversell = market("AAPL", 7, side="sell")
    body = assert_api_error(lambda: trading.submit_order(oversell), 403, 40310000, message)
    assert (body["available"], body["existing_qty"], body["held_for_orders"]) == ("6", "10", "4")
    assert body["symbol"] == "AAPL"
    over_close = ClosePositionRequest(qty="20")
    assert_api_error(lambda: trading.close_position("AAPL", over_close), 403, 40310000)
    no_coins = market("BTC/USD", 1, side="sell", tif="gtc")
    assert_api_error(lambda: trading.submit_order(no_coins), 403, 40310000)


def test_not_found_is_404(trading: TradingClient) -> None:
    for call in (
        lambda: trading.get_order_by_id(NO_SUCH_ID),
        lambda: trading.get_order_by_client_id("no-such-order"),
        lambda: trading.cancel_order_by_id(NO_SUCH_ID),
        lambda: trading.replace_order_by_id(NO_SUCH_ID, ReplaceOrderRequest(qty=1)),
    ):
        assert_api_error(call, 404, 40410000, "order not found")
    for call in (
        lambda: trading.get_open_position("AAPL"),
        lambda: trading.close_position("BTC/USD"),
    ):
        assert_api_error(call, 404, 40410000, "position does not exist")


def test_duplicate_client_order_id_is_422(trading: TradingClient) -> None:
    unique = "client_order_id must be unique"
    trading.submit_order(market("AAPL", 1, client_order_id="once"))
    again = market("MSFT", 1, client_order_id="once")
    assert_api_error(lambda: trading.submit_order(again), 422, 40010001, unique)
    # Uniqueness is forever: a cancelled order's id stays taken, replacements included.
    cancelled = trading.submit_order(limit("AAPL", 1, 1.0, client_order_id="gone"))
    trading.cancel_order_by_id(cancelled.id)
    reuse = market("AAPL", 1, client_order_id="gone")
    assert_api_error(lambda: trading.submit_order(reuse), 422, 40010001, unique)
    resting = trading.submit_order(limit("AAPL", 1, 1.0))
    rename = ReplaceOrderRequest(client_order_id="once")
    assert_api_error(lambda: trading.replace_order_by_id(resting.id, rename), 422, 40010001, unique)


def test_invalid_requests_are_422(trading: TradingClient) -> None:
    filled = trading.submit_order(market("AAPL", 1))
    crypto_stop = StopOrderRequest(
        symbol="BTC/USD", qty=0.01, side="buy", time_in_force="gtc", stop_price=1e6
    )
    refusals: list[tuple[Any, int, str | None]] = [
        (market("BTC/USD", 0.01, tif="day"), 42210000, "invalid crypto time_in_force"),
        (crypto_stop, 42210000, "invalid order type for crypto order"),
        (market("AAPL", 0.5, tif="gtc"), 42210000, "fractional orders must be DAY orders"),
        (
            limit("AAPL", 1, 100.001),
            42210000,
            "sub-penny increment does not fulfill minimum pricing criteria",
        ),
        (market("NOPE", 1), 40010001, None),
    ]
    for request, code, message in refusals:
        assert_api_error(lambda r=request: trading.submit_order(r), 422, code, message)
    state = 'order is already in "filled" state'
    assert_api_error(lambda: trading.cancel_order_by_id(filled.id), 422, 42210000, state)
    grow = ReplaceOrderRequest(qty=2)
    assert_api_error(lambda: trading.replace_order_by_id(filled.id, grow), 422, 42210000, state)
    assert trading.get_orders(GetOrdersRequest(status=QueryOrderStatus.ALL)) == [
        trading.get_order_by_id(filled.id)
    ]


@pytest.mark.sim_config(rate_limit_per_minute=5, **FROZEN)
def test_rate_limit_is_429_with_headers(trading: TradingClient, sim_thread: SimThread) -> None:
    assert sim_thread.sim is not None
    for _ in range(5):
        trading.get_clock()
    started = time.time()
    body = assert_api_error(trading.get_clock, 429, 42910000, "rate limit exceeded")
    assert body == {"code": 42910000, "message": "rate limit exceeded"}
    response = api_error(trading.get_account).response
    assert response is not None
    headers = response.headers
    assert (headers["X-Ratelimit-Limit"], headers["X-Ratelimit-Remaining"]) == ("5", "0")
    assert started - 1 <= int(headers["X-Ratelimit-Reset"]) <= started + 61
    assert 1 <= int(headers["Retry-After"]) <= 60
    # alpaca-py's own retry (statuses 429 and 504) re-sends and still ends in the APIError.
    stats = sim_thread.sim.stats
    before = stats.by_status[429]
    trading._retry = 2
    assert_api_error(trading.get_account, 429, 42910000)
    assert stats.by_status[429] == before + 3
