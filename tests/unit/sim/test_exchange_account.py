"""Exchange account side: cash, positions, buying power, shorting, closing, activities, assets."""

from __future__ import annotations

from decimal import Decimal

import pytest
from alpaca.trading.models import Asset, ClosePositionResponse, Position, TradeAccount

from pulsetrader.domain.enums import AssetClass
from pulsetrader.sim.assets import DEFAULT_SYMBOLS, AssetRegistry, asset_id_for
from pulsetrader.sim.exchange import SimError
from tests.unit.sim.simkit import (
    IN_SESSION,
    NEXT_OPEN,
    SESSION_CLOSE,
    later,
    make_exchange,
    order,
    push,
    trade,
)

T1 = later(IN_SESSION, minutes=1)
T2 = later(IN_SESSION, minutes=2)


def money(value: str) -> Decimal:
    return Decimal(value)


# -- account --------------------------------------------------------------------------------
def test_fresh_account_is_a_funded_margin_account() -> None:
    ex = make_exchange()
    body = ex.account_dict(IN_SESSION)
    TradeAccount(**body)
    assert body["status"] == "ACTIVE"
    assert body["account_number"].startswith("PA3")
    assert (body["cash"], body["equity"], body["last_equity"]) == ("100000", "100000", "100000")
    assert body["buying_power"] == body["regt_buying_power"] == "200000"
    assert body["non_marginable_buying_power"] == "100000"
    assert body["multiplier"] == "4"
    assert body["shorting_enabled"] is True
    assert "daytrade_count" not in body
    assert all(isinstance(body[k], str) for k in ("cash", "initial_margin", "sma", "accrued_fees"))


def test_small_accounts_have_no_leverage() -> None:
    ex = make_exchange(cash=1500)
    body = ex.account_dict(IN_SESSION)
    assert (body["multiplier"], body["buying_power"]) == ("1", "1500")


def test_buying_moves_cash_into_a_position_at_the_fill_price() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "99.99", "100.01")
    ex.submit_order(order(qty=10), IN_SESSION)
    account = ex.account
    assert account.cash == money("98999.9")
    # Valued at the quote midpoint: the half spread shows as an unrealised loss.
    assert account.long_market_value == money("1000.0")
    assert account.equity == money("99999.9")
    ex.update_trade(trade("AAPL", "101"), T1)
    assert account.equity == money("100009.9")
    body = ex.account_dict(T1)
    assert body["long_market_value"] == "1010"
    assert body["initial_margin"] == "505"
    assert body["maintenance_margin"] == "303"
    assert body["buying_power"] == str(2 * (money("100009.9") - 505))


def test_open_buy_orders_reserve_buying_power() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "99.99", "100.01")
    ex.submit_order(order(qty=100, type="limit", limit_price=50), IN_SESSION)
    body = ex.account_dict(IN_SESSION)
    assert body["buying_power"] == "195000"  # 200000 - 100 * 50
    assert body["regt_buying_power"] == "200000"
    push(ex, "BTC/USD", "40000", "40010")
    ex.submit_order(order("BTC/USD", qty=1, type="limit", limit_price=30000), IN_SESSION)
    body = ex.account_dict(IN_SESSION)
    assert body["non_marginable_buying_power"] == "67500"  # 100000 - 2500 margin - 30000 cash


def test_market_buys_are_valued_at_ask_plus_three_percent() -> None:
    ex = make_exchange(cash=10000)
    push(ex, "AAPL", "99.99", "100.00")
    with pytest.raises(SimError) as exc:
        ex.submit_order(order(qty=195), IN_SESSION)  # 195 * 103 = 20085 > 20000
    assert exc.value.status == 403
    assert exc.value.body() == {
        "code": 40310000,
        "message": "insufficient buying power",
        "buying_power": "20000",
        "cost_basis": "20085",
    }
    assert ex.submit_order(order(qty=194), IN_SESSION).status.value == "filled"


def test_crypto_cannot_be_bought_on_margin() -> None:
    ex = make_exchange(cash=10000)
    push(ex, "BTC/USD", "40000", "40010")
    with pytest.raises(SimError) as exc:
        ex.submit_order(order("BTC/USD", qty=0.3), IN_SESSION)  # 12003 > 10000 cash
    assert exc.value.message == "insufficient buying power"
    assert exc.value.extra["buying_power"] == "10000"


# -- shorting and quantity checks --------------------------------------------------------------
def test_short_sale_opens_a_negative_position() -> None:
    ex = make_exchange()
    push(ex, "TSLA", "200.00", "200.02")
    sold = ex.submit_order(order("TSLA", qty=5, side="sell"), IN_SESSION)
    assert sold.position_intent == "sell_to_open"
    assert ex.drain_events()[-1].position_qty == -5
    account = ex.account
    assert account.cash == money("101000")
    body = ex.position("TSLA").to_alpaca()
    Position(**body)
    assert (body["side"], body["qty"], body["qty_available"]) == ("short", "-5", "-5")
    assert body["market_value"] == "-1000.05"
    assert body["cost_basis"] == "-1000"
    assert body["unrealized_pl"] == "-0.05"
    assert ex.account_dict(IN_SESSION)["short_market_value"] == "-1000.05"
    covered = ex.submit_order(order("TSLA", qty=5), T1)
    assert covered.position_intent == "buy_to_close"
    assert "TSLA" not in account.positions
    assert account.cash == money("99999.9")  # sold at 200.00, bought back at 200.02


def test_short_sales_are_valued_at_the_higher_of_limit_and_ask_plus_three_percent() -> None:
    ex = make_exchange(cash=10000)
    push(ex, "TSLA", "99.99", "100.00")
    with pytest.raises(SimError) as exc:
        ex.submit_order(order("TSLA", qty=195, side="sell", type="limit", limit_price=90), T1)
    assert exc.value.extra["cost_basis"] == "20085"
    with pytest.raises(SimError) as exc:
        ex.submit_order(order("TSLA", qty=190, side="sell", type="limit", limit_price=110), T1)
    assert exc.value.extra["cost_basis"] == "20900"


def test_crypto_cannot_be_shorted() -> None:
    ex = make_exchange()
    push(ex, "BTC/USD", "40000", "40010")
    with pytest.raises(SimError) as exc:
        ex.submit_order(order("BTC/USD", qty=0.5, side="sell"), IN_SESSION)
    assert exc.value.status == 403
    assert exc.value.message == "insufficient balance for BTC (requested: 0.5, available: 0)"
    ex.submit_order(order("BTC/USD", qty=0.1), IN_SESSION)
    with pytest.raises(SimError) as exc:
        ex.submit_order(order("BTC/USD", qty=0.2, side="sell"), IN_SESSION)
    assert exc.value.message == "insufficient balance for BTC (requested: 0.2, available: 0.1)"


def test_fractional_shares_cannot_be_sold_short() -> None:
    ex = make_exchange()
    push(ex, "TSLA", "200.00", "200.02")
    with pytest.raises(SimError) as exc:
        ex.submit_order(order("TSLA", qty=0.5, side="sell"), IN_SESSION)
    assert exc.value.message == "fractional orders cannot be sold short"


def test_shorting_can_be_disabled() -> None:
    ex = make_exchange(allow_shorting=False)
    push(ex, "TSLA", "200.00", "200.02")
    with pytest.raises(SimError) as exc:
        ex.submit_order(order("TSLA", qty=1, side="sell"), IN_SESSION)
    assert exc.value.status == 403
    assert ex.account_dict(IN_SESSION)["shorting_enabled"] is False


def test_shares_held_by_open_sells_are_not_available() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "100.00", "100.02")
    ex.submit_order(order(qty=10), IN_SESSION)
    ex.submit_order(order(qty=10, side="sell", type="limit", limit_price=120), IN_SESSION)
    with pytest.raises(SimError) as exc:
        ex.submit_order(order(qty=1, side="sell"), IN_SESSION)
    assert exc.value.status == 403
    assert exc.value.body() == {
        "code": 40310000,
        "message": "insufficient qty available for order (requested: 1, available: 0)",
        "available": "0",
        "existing_qty": "10",
        "held_for_orders": "10",
        "symbol": "AAPL",
    }
    assert ex.position("AAPL").to_alpaca()["qty_available"] == "0"


def test_one_order_may_not_flip_a_position() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "100.00", "100.02")
    ex.submit_order(order(qty=10), IN_SESSION)
    with pytest.raises(SimError) as exc:
        ex.submit_order(order(qty=15, side="sell"), IN_SESSION)
    assert "requested: 15, available: 10" in exc.value.message


# -- positions ------------------------------------------------------------------------------
def test_average_entry_is_weighted_and_reducing_keeps_it() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "99.99", "100.00")
    ex.submit_order(order(qty=10), IN_SESSION)
    push(ex, "AAPL", "109.99", "110.00", T1)
    ex.submit_order(order(qty=30), T1)
    position = ex.position("AAPL")
    assert position.avg_entry_price == Decimal("107.5")
    ex.submit_order(order(qty=20, side="sell"), T2)
    assert (position.qty, position.avg_entry_price) == (20, Decimal("107.5"))
    # Realised P/L reaches cash: 10*100 + 30*110 paid, 20*109.99 received.
    assert ex.account.cash == money("100000") - 1000 - 3300 + money("2199.8")


def test_crypto_position_is_reported_as_btcusd() -> None:
    ex = make_exchange()
    push(ex, "BTC/USD", "40000", "40010")
    ex.submit_order(order("BTC/USD", qty=0.01), IN_SESSION)
    body = ex.position("BTCUSD").to_alpaca()
    Position(**body)
    assert (body["symbol"], body["exchange"], body["asset_class"]) == ("BTCUSD", "CRYPTO", "crypto")
    assert body["asset_marginable"] is False
    assert ex.position("BTC/USD") is ex.position(asset_id_for("BTC/USD"))
    with pytest.raises(SimError) as exc:
        ex.position("ETH/USD")
    assert (exc.value.status, exc.value.message) == (404, "position does not exist")


def test_session_close_rolls_last_equity_and_lastday_price() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "99.99", "100.01")
    ex.submit_order(order(qty=10), IN_SESSION)
    push(ex, "AAPL", "104.99", "105.01", later(SESSION_CLOSE, minutes=-1))
    equity_at_close = ex.account.equity
    push(ex, "AAPL", "109.99", "110.01", later(NEXT_OPEN, minutes=5))
    body = ex.account_dict(later(NEXT_OPEN, minutes=5))
    assert Decimal(body["last_equity"]) == equity_at_close
    position = ex.position("AAPL").to_alpaca()
    assert position["lastday_price"] == "105"
    assert position["change_today"] == "0.0476190476"
    assert position["unrealized_intraday_pl"] == "50"


def test_close_position_whole_qty_and_percentage() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "100.00", "100.02")
    ex.submit_order(order(qty=10), IN_SESSION)
    half = ex.close_position("AAPL", percentage="50", now=T1)
    assert (half.side.value, half.qty, half.type.value, half.time_in_force.value) == (
        "sell",
        5,
        "market",
        "day",
    )
    ex.close_position("AAPL", qty=Decimal(2), now=T1)
    assert ex.position("AAPL").qty == 3
    with pytest.raises(SimError) as exc:
        ex.close_position("AAPL", qty=4, now=T1)
    assert exc.value.status == 403
    rest = ex.close_position("AAPL", now=T2)
    assert rest.qty == 3
    assert "AAPL" not in ex.account.positions
    with pytest.raises(SimError) as exc:
        ex.close_position("AAPL", now=T2)
    assert exc.value.status == 404


def test_close_all_positions_cancels_orders_and_reports_per_symbol() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "100.00", "100.02")
    push(ex, "BTC/USD", "40000", "40010")
    ex.submit_order(order(qty=10), IN_SESSION)
    ex.submit_order(order("BTC/USD", qty=0.01), IN_SESSION)
    held = ex.submit_order(order(qty=10, side="sell", type="limit", limit_price=200), IN_SESSION)
    results = ex.close_all_positions(cancel_orders=True, now=T1)
    assert held.status.value == "canceled"
    assert [(symbol, status) for symbol, status, _ in results] == [("AAPL", 200), ("BTCUSD", 200)]
    for symbol, status, body in results:
        ClosePositionResponse(symbol=symbol, status=status, body=body)
    assert results[1][2]["time_in_force"] == "gtc"
    assert ex.positions() == []


def test_close_all_without_cancel_reports_the_error_body() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "100.00", "100.02")
    ex.submit_order(order(qty=10), IN_SESSION)
    ex.submit_order(order(qty=10, side="sell", type="limit", limit_price=200), IN_SESSION)
    ((symbol, status, body),) = ex.close_all_positions(cancel_orders=False, now=T1)
    assert (symbol, status) == ("AAPL", 403)
    assert body["code"] == 40310000
    assert body["symbol"] == "AAPL"
    ClosePositionResponse(symbol=symbol, status=status, body=body)


# -- activities -----------------------------------------------------------------------------
def test_fill_activities_shape_filters_and_pages() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "100.00", "100.02")
    first = ex.submit_order(order(qty=1), IN_SESSION)
    ex.submit_order(order(qty=2), T1)
    ex.submit_order(order(qty=3), T2)
    rows = ex.activities()
    assert [r["qty"] for r in rows] == ["3", "2", "1"]
    oldest = rows[-1]
    assert oldest["id"].startswith("20240103150000000::")
    assert oldest == oldest | {
        "activity_type": "FILL",
        "transaction_time": "2024-01-03T15:00:00Z",
        "type": "fill",
        "price": "100.02",
        "side": "buy",
        "symbol": "AAPL",
        "leaves_qty": "0",
        "order_id": first.id,
        "cum_qty": "1",
        "order_status": "filled",
    }
    assert [r["qty"] for r in ex.activities(direction="asc", after=IN_SESSION)] == ["2", "3"]
    page = ex.activities(page_size=2)
    rest = ex.activities(page_size=2, page_token=page[-1]["id"])
    assert [r["qty"] for r in page + rest] == ["3", "2", "1"]
    assert ex.activities(activity_types={"DIV"}) == []


# -- assets -----------------------------------------------------------------------------------
def test_asset_registry_lookups_and_json() -> None:
    registry = AssetRegistry()
    assert len(registry) == len(DEFAULT_SYMBOLS)
    btc = registry.get("btcusd")
    assert btc is not None
    assert btc is registry.get("BTC/USD") is registry.get(btc.id)
    assert registry.get("ZZZZ") is None
    assert "ZZZZ" not in registry  # unknown symbols are not listed on demand
    for asset in registry:
        Asset(**asset.to_alpaca())
    crypto = btc.to_alpaca()
    assert crypto["class"] == "crypto"
    assert (crypto["marginable"], crypto["shortable"], crypto["fractionable"]) == (
        False,
        False,
        True,
    )
    assert crypto["min_order_size"] == "0.0001"
    assert crypto["maintenance_margin_requirement"] == 100
    stock = registry.get("SPY")
    assert stock is not None
    assert stock.to_alpaca()["exchange"] == "ARCA"
    assert stock.to_alpaca()["maintenance_margin_requirement"] == 30
    assert [a.symbol for a in registry.all(asset_class=AssetClass.CRYPTO)] == [
        "BTC/USD",
        "ETH/USD",
        "LTC/USD",
        "SOL/USD",
    ]
    assert registry.add("IBM").symbol == "IBM"
    assert registry.get("IBM") is not None
    assert asset_id_for("AAPL") == AssetRegistry().get("AAPL").id  # type: ignore[union-attr]
