"""Exchange order lifecycle: validation, matching, time in force, order classes, replace, cancel."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from alpaca.trading.models import Order
from alpaca.trading.models import TradeUpdate as SdkTradeUpdate

from pulsetrader.sim.exchange import SimError
from tests.unit.sim.simkit import (
    AFTER_CLOSE,
    IN_SESSION,
    NEXT_CLOSE,
    NEXT_OPEN,
    SATURDAY,
    SESSION_CLOSE,
    events,
    later,
    make_exchange,
    order,
    push,
)

T1 = later(IN_SESSION, minutes=1)
T2 = later(IN_SESSION, minutes=2)


def refused(exc: pytest.ExceptionInfo[SimError]) -> tuple[int, int, str]:
    return exc.value.status, exc.value.code, exc.value.message


# -- market and limit matching ------------------------------------------------------------------
def test_market_buy_fills_at_the_ask_and_reports_new_then_fill() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "99.99", "100.01")
    placed = ex.submit_order(order(qty=10.0, client_order_id="mine-1"), IN_SESSION)
    assert placed.status.value == "filled"
    assert placed.filled_avg_price == Decimal("100.01")
    updates = ex.drain_events()
    assert [u.event for u in updates] == ["new", "fill"]
    fill = updates[1]
    assert (fill.price, fill.qty, fill.position_qty) == (Decimal("100.01"), 10, 10)
    uuid.UUID(fill.execution_id or "")
    assert updates[0].order["status"] == "new"  # snapshot at emission, not the final state


def test_order_and_trade_update_json_pass_alpaca_py_validation() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "99.99", "100.01")
    placed = ex.submit_order(order(qty=3, client_order_id="x"), IN_SESSION)
    body = placed.to_alpaca()
    sdk = Order(**body)
    assert str(sdk.id) == placed.id
    assert sdk.filled_qty == "3"
    assert body["order_type"] == body["type"] == "market"
    assert body["extended_hours"] is False
    assert body["legs"] is None
    assert body["expires_at"] == "2024-01-03T21:00:00Z"  # the session close
    assert body["created_at"].endswith("Z")
    for update in ex.drain_events():
        data = update.to_alpaca()
        parsed = SdkTradeUpdate(**data)
        assert parsed.event == update.event
        if update.event == "fill":
            assert data["price"] == "100.01"
            assert data["position_qty"] == "3"
        else:
            assert "execution_id" not in data
            assert "price" not in data


def test_limit_buy_rests_then_fills_at_the_ask_when_marketable() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "100.00", "100.10")
    placed = ex.submit_order(order(type="limit", limit_price="99.50"), IN_SESSION)
    assert placed.status.value == "new"
    push(ex, "AAPL", "99.40", "99.60", T1)
    assert placed.status.value == "new"
    push(ex, "AAPL", "99.30", "99.45", T2)
    assert placed.status.value == "filled"
    assert placed.filled_avg_price == Decimal("99.45")  # the ask, better than the limit


def test_sell_limit_fills_at_the_bid() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "100.00", "100.02")
    ex.submit_order(order(qty=5), IN_SESSION)
    sell = ex.submit_order(order(qty=5, side="sell", type="limit", limit_price=101), IN_SESSION)
    push(ex, "AAPL", "101.20", "101.25", T1)
    assert sell.filled_avg_price == Decimal("101.20")
    assert "AAPL" not in ex.account.positions


def test_stop_sell_triggers_and_fills_at_the_bid() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "100.00", "100.02")
    ex.submit_order(order(qty=5), IN_SESSION)
    stop = ex.submit_order(order(qty=5, side="sell", type="stop", stop_price=95), IN_SESSION)
    push(ex, "AAPL", "95.50", "95.52", T1)
    assert stop.status.value == "new"
    assert not stop.triggered
    push(ex, "AAPL", "94.80", "94.82", T2)
    assert stop.status.value == "filled"
    assert stop.filled_avg_price == Decimal("94.80")


def test_trailing_stop_tracks_hwm_on_the_order() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "100.00", "100.02")
    ex.submit_order(order(qty=5), IN_SESSION)
    trail = ex.submit_order(
        order(qty=5, side="sell", type="trailing_stop", trail_price=2), IN_SESSION
    )
    assert (trail.hwm, trail.stop_price) == (Decimal(100), Decimal(98))
    push(ex, "AAPL", "104.00", "104.02", T1)
    assert trail.to_alpaca()["hwm"] == "104"
    assert trail.to_alpaca()["stop_price"] == "102"
    push(ex, "AAPL", "101.90", "101.95", T2)
    assert trail.status.value == "filled"
    assert trail.filled_avg_price == Decimal("101.90")


# -- time in force and market hours -------------------------------------------------------------
def test_stock_day_order_after_hours_is_queued_until_the_open() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "99.99", "100.01", AFTER_CLOSE)
    placed = ex.submit_order(order(), AFTER_CLOSE)
    assert placed.status.value == "accepted"
    assert placed.expires_at == NEXT_CLOSE
    assert events(ex) == [("new", "accepted")]
    push(ex, "AAPL", "100.99", "101.01", later(NEXT_OPEN, minutes=-1))
    assert placed.status.value == "accepted"
    push(ex, "AAPL", "101.99", "102.01", NEXT_OPEN)
    assert placed.status.value == "filled"
    assert placed.filled_avg_price == Decimal("102.01")


def test_day_order_expires_at_the_close_and_gtc_survives() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "100.00", "100.02")
    day = ex.submit_order(order(type="limit", limit_price=90), IN_SESSION)
    gtc = ex.submit_order(order(type="limit", limit_price=90, time_in_force="gtc"), IN_SESSION)
    ex.drain_events()
    ex.advance(later(SESSION_CLOSE, seconds=1))
    assert day.status.value == "expired"
    assert day.expired_at == SESSION_CLOSE
    assert gtc.status.value == "new"
    assert events(ex) == [("expired", "expired")]


def test_ioc_cancels_what_cannot_fill_and_fok_fills_all_or_nothing() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "100.00", "100.02")
    ioc = ex.submit_order(order(type="limit", limit_price=99, time_in_force="ioc"), IN_SESSION)
    assert ioc.status.value == "canceled"
    fok = ex.submit_order(order(type="limit", limit_price=101, time_in_force="fok"), IN_SESSION)
    assert fok.status.value == "filled"
    assert fok.filled_qty == 10


def test_ioc_partial_fill_cancels_the_rest() -> None:
    ex = make_exchange(partial_fill_rate=1.0)
    push(ex, "AAPL", "100.00", "100.02")
    ioc = ex.submit_order(order(qty=100, time_in_force="ioc"), IN_SESSION)
    assert ioc.status.value == "canceled"
    assert 0 < ioc.filled_qty < 100
    assert ioc.filled_qty % 1 == 0
    assert [e for e, _ in events(ex)] == ["new", "partial_fill", "canceled"]


def test_opg_waits_for_the_open_and_cls_fills_at_the_close() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "100.00", "100.02")
    opg = ex.submit_order(order(time_in_force="opg"), IN_SESSION)
    cls = ex.submit_order(order(time_in_force="cls"), IN_SESSION)
    push(ex, "AAPL", "100.50", "100.52", T1)
    assert opg.status.value == "accepted"
    assert cls.filled_qty == 0
    push(ex, "AAPL", "101.00", "101.02", later(SESSION_CLOSE, minutes=-1))
    ex.advance(later(SESSION_CLOSE, seconds=5))
    assert cls.status.value == "filled"
    assert cls.filled_avg_price == Decimal("101.02")
    assert cls.filled_at == SESSION_CLOSE
    push(ex, "AAPL", "102.00", "102.02", later(NEXT_OPEN, seconds=1))
    assert opg.status.value == "filled"
    assert opg.filled_avg_price == Decimal("102.02")


def test_unfilled_opg_limit_is_cancelled_after_its_opening_chance() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "100.00", "100.02", AFTER_CLOSE)
    opg = ex.submit_order(order(type="limit", limit_price=90, time_in_force="opg"), AFTER_CLOSE)
    push(ex, "AAPL", "100.00", "100.02", NEXT_OPEN)
    assert opg.status.value == "canceled"


def test_extended_hours_limit_trades_pre_market() -> None:
    ex = make_exchange()
    pre_market = later(NEXT_OPEN, hours=-2)  # 07:30 New York
    push(ex, "AAPL", "100.00", "100.02", pre_market)
    eh = ex.submit_order(order(type="limit", limit_price=101, extended_hours=True), pre_market)
    plain = ex.submit_order(order(type="limit", limit_price=101), pre_market)
    assert eh.status.value == "filled"
    assert plain.status.value == "accepted"
    assert eh.expires_at == later(NEXT_CLOSE, hours=4)


def test_crypto_trades_on_a_saturday() -> None:
    ex = make_exchange()
    push(ex, "BTC/USD", "40000", "40010", SATURDAY)
    placed = ex.submit_order(order("BTCUSD", qty=0.01), SATURDAY)
    assert placed.status.value == "filled"
    assert placed.symbol == "BTC/USD"
    assert placed.to_alpaca()["expires_at"] is None


def test_notional_buy_fills_at_the_ask_in_one_go() -> None:
    ex = make_exchange(partial_fill_rate=1.0)
    push(ex, "AAPL", "299.99", "300.00")
    placed = ex.submit_order(order(qty=None, notional=100), IN_SESSION)
    assert placed.status.value == "filled"
    assert placed.filled_qty == Decimal("0.333333333")
    assert placed.to_alpaca()["qty"] is None
    assert placed.to_alpaca()["notional"] == "100"


# -- validation --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (order("ZZZZ"), 422, 'could not find asset "ZZZZ"'),
        (order(qty=0), 422, "qty must be > 0"),
        (order(qty=None), 422, "qty or notional is required"),
        (order(notional=5), 422, "only one of qty or notional may be given"),
        (order(type="limit"), 422, "limit_price is required for limit orders"),
        (order(type="stop"), 422, "stop_price is required for stop orders"),
        (order(side="hold"), 422, "invalid side: hold"),
        (
            order("BTC/USD", qty=0.01, time_in_force="day"),
            422,
            "invalid crypto time_in_force",
        ),
        (
            order("BTC/USD", qty=0.01, type="stop", stop_price=1),
            422,
            "invalid order type for crypto order",
        ),
        (order(qty=1.5, time_in_force="gtc"), 422, "fractional orders must be DAY orders"),
        (
            order(qty=None, notional=50, type="limit", limit_price=10),
            422,
            "notional orders must be market orders",
        ),
        (
            order(type="limit", limit_price="100.123"),
            422,
            "sub-penny increment does not fulfill minimum pricing criteria",
        ),
        (
            order(type="market", extended_hours=True),
            422,
            "extended hours order must be DAY limit orders",
        ),
        (
            order(client_order_id="x" * 129),
            422,
            "client_order_id must be no more than 128 characters",
        ),
    ],
)
def test_invalid_orders_are_refused_with_alpaca_errors(
    body: dict[str, object], status: int, message: str
) -> None:
    ex = make_exchange()
    push(ex, "AAPL", "99.99", "100.01")
    push(ex, "BTC/USD", "40000", "40010")
    with pytest.raises(SimError) as exc:
        ex.submit_order(body, IN_SESSION)
    assert exc.value.status == status
    assert exc.value.message == message
    assert set(exc.value.body()) >= {"code", "message"}
    assert ex.list_orders(status="all") == []


def test_sub_dollar_prices_may_have_four_decimals() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "0.5", "0.5002")
    placed = ex.submit_order(order(type="limit", limit_price="0.4999"), IN_SESSION)
    assert placed.limit_price == Decimal("0.4999")


def test_malformed_body_is_a_400() -> None:
    ex = make_exchange()
    with pytest.raises(SimError) as exc:
        ex.submit_order(["not", "an", "object"], IN_SESSION)  # type: ignore[arg-type]
    assert refused(exc) == (400, 40010000, "request body format is invalid")


def test_client_order_id_stays_unique_even_after_cancel() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "100.00", "100.02")
    first = ex.submit_order(order(type="limit", limit_price=90, client_order_id="abc"), IN_SESSION)
    ex.cancel_order(first.id, IN_SESSION)
    with pytest.raises(SimError) as exc:
        ex.submit_order(order(client_order_id="abc"), IN_SESSION)
    assert refused(exc) == (422, 40010001, "client_order_id must be unique")
    assert ex.get_order_by_client_id("abc") is first


def test_crypto_minimum_notional_and_no_brackets() -> None:
    ex = make_exchange()
    push(ex, "ETH/USD", "100", "100.5")
    with pytest.raises(SimError) as exc:
        ex.submit_order(order("ETH/USD", qty=0.005), IN_SESSION)
    assert exc.value.status == 403
    assert "minimal amount of order 1" in exc.value.message
    with pytest.raises(SimError) as exc:
        ex.submit_order(
            order(
                "ETH/USD",
                qty=1,
                order_class="bracket",
                take_profit={"limit_price": 120},
                stop_loss={"stop_price": 90},
            ),
            IN_SESSION,
        )
    assert exc.value.message == "crypto orders do not support bracket orders"


# -- bracket, OCO, OTO -----------------------------------------------------------------------
def bracket(**extra: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "qty": 10,
        "type": "limit",
        "limit_price": 100,
        "time_in_force": "gtc",
        "order_class": "bracket",
        "take_profit": {"limit_price": 110.0},
        "stop_loss": {"stop_price": 95.0, "limit_price": 94.5},
    }
    fields.update(extra)
    return order(**fields)


def test_bracket_legs_are_held_until_the_entry_fills_then_one_cancels_the_other() -> None:
    ex = make_exchange(partial_fill_rate=0.0)
    push(ex, "AAPL", "100.50", "100.52")
    parent = ex.submit_order(bracket(), IN_SESSION)
    take_profit, stop_loss = parent.legs
    assert (take_profit.status.value, stop_loss.status.value) == ("held", "held")
    assert stop_loss.type.value == "stop_limit"
    assert Order(**parent.to_alpaca()).legs is not None
    push(ex, "AAPL", "99.90", "99.95", T1)
    assert parent.status.value == "filled"
    assert (take_profit.status.value, stop_loss.status.value) == ("new", "new")
    assert take_profit.qty == 10
    assert ex.account_dict(T1)  # account still renders with active exits
    assert ex.position("AAPL").to_alpaca()["qty_available"] == "0"  # both legs hold the same 10
    push(ex, "AAPL", "110.00", "110.02", T2)
    assert take_profit.status.value == "filled"
    assert stop_loss.status.value == "canceled"
    assert "AAPL" not in ex.account.positions


def test_bracket_exits_must_straddle_the_entry_price() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "100.50", "100.52")
    body = bracket()
    body["take_profit"] = {"limit_price": 100.0}
    with pytest.raises(SimError) as exc:
        ex.submit_order(body, IN_SESSION)
    assert refused(exc) == (422, 42210000, "take_profit.limit_price must be >= base_price + 0.01")


def test_cancelling_an_unfilled_bracket_cancels_its_legs() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "100.50", "100.52")
    parent = ex.submit_order(bracket(), IN_SESSION)
    ex.drain_events()
    ex.cancel_order(parent.id, T1)
    assert [leg.status.value for leg in parent.legs] == ["canceled", "canceled"]
    assert [e for e, _ in events(ex)] == ["canceled"] * 3


def test_expired_partially_filled_entry_releases_legs_for_the_filled_part() -> None:
    ex2 = make_exchange(partial_fill_rate=1.0, seed=3)
    push(ex2, "AAPL", "100.50", "100.52")
    parent = ex2.submit_order(bracket(time_in_force="day"), IN_SESSION)
    push(ex2, "AAPL", "99.90", "99.95", T1)
    assert parent.status.value == "partially_filled"
    filled = parent.filled_qty
    ex2.advance(later(SESSION_CLOSE, seconds=1))
    assert parent.status.value == "expired"
    assert all(leg.qty == filled for leg in parent.legs)
    assert all(leg.status.value == "accepted" for leg in parent.legs)


def test_oco_needs_a_position_and_a_stop_fill_cancels_the_take_profit() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "100.00", "100.02")
    oco = order(
        qty=10,
        side="sell",
        type="limit",
        time_in_force="gtc",
        order_class="oco",
        take_profit={"limit_price": 110},
        stop_loss={"stop_price": 95},
    )
    with pytest.raises(SimError) as exc:
        ex.submit_order(oco, IN_SESSION)
    assert exc.value.status == 403
    ex.submit_order(order(qty=10), IN_SESSION)
    parent = ex.submit_order(oco, IN_SESSION)
    (stop,) = parent.legs
    assert parent.limit_price == 110
    assert (parent.status.value, stop.status.value) == ("new", "new")
    push(ex, "AAPL", "94.90", "94.95", T1)
    assert stop.status.value == "filled"
    assert parent.status.value == "canceled"


def test_oto_leg_activates_on_fill() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "100.00", "100.02")
    parent = ex.submit_order(
        order(qty=2, time_in_force="gtc", order_class="oto", stop_loss={"stop_price": 90}),
        IN_SESSION,
    )
    (leg,) = parent.legs
    assert parent.status.value == "filled"
    assert leg.status.value == "new"
    assert leg.side.value == "sell"
    assert leg.position_intent == "sell_to_close"


# -- cancel and replace ------------------------------------------------------------------------
def test_cancel_rules() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "100.00", "100.02")
    resting = ex.submit_order(order(type="limit", limit_price=90), IN_SESSION)
    filled = ex.submit_order(order(), IN_SESSION)
    ex.drain_events()
    assert ex.cancel_order(resting.id, T1).status.value == "canceled"
    assert resting.canceled_at == T1
    assert events(ex) == [("canceled", "canceled")]
    with pytest.raises(SimError) as exc:
        ex.cancel_order(filled.id, T1)
    assert refused(exc) == (422, 42210000, 'order is already in "filled" state')
    with pytest.raises(SimError) as exc:
        ex.cancel_order(str(uuid.uuid4()), T1)
    assert refused(exc) == (404, 40410000, "order not found")


def test_cancel_all_returns_every_cancelled_order() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "100.50", "100.52")
    a = ex.submit_order(order(type="limit", limit_price=90), IN_SESSION)
    b = ex.submit_order(bracket(), IN_SESSION)
    result = ex.cancel_all(T1)
    assert sorted(result) == sorted((o.id, 200) for o in (a, b, *b.legs))
    assert ex.list_orders(status="open") == []


def test_replace_creates_a_new_order_and_retires_the_old() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "100.00", "100.02")
    old = ex.submit_order(order(type="limit", limit_price=90), IN_SESSION)
    ex.drain_events()
    new = ex.replace_order(old.id, {"qty": 4, "limit_price": 95.5}, T1)
    assert new.id != old.id
    assert (new.replaces, old.replaced_by) == (old.id, new.id)
    assert (old.status.value, old.replaced_at) == ("replaced", T1)
    assert (new.qty, new.limit_price, new.status.value) == (4, Decimal("95.5"), "new")
    assert events(ex) == [("replaced", "replaced"), ("new", "new")]
    Order(**new.to_alpaca())
    with pytest.raises(SimError) as exc:
        ex.replace_order(old.id, {"qty": 5}, T1)
    assert refused(exc) == (422, 42210000, 'order is already in "replaced" state')
    with pytest.raises(SimError) as exc:
        ex.replace_order(new.id, {"stop_price": 3}, T1)
    assert exc.value.message == "stop_price is not allowed for limit orders"


def test_replace_a_marketable_price_fills_immediately() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "100.00", "100.02")
    old = ex.submit_order(order(type="limit", limit_price=90), IN_SESSION)
    new = ex.replace_order(old.id, {"limit_price": 101}, T1)
    assert new.status.value == "filled"
    assert new.filled_avg_price == Decimal("100.02")


def test_partially_filled_orders_cannot_be_replaced() -> None:
    ex = make_exchange(partial_fill_rate=1.0)
    push(ex, "AAPL", "100.00", "100.02")
    placed = ex.submit_order(order(qty=100, type="limit", limit_price=101), IN_SESSION)
    assert placed.status.value == "partially_filled"
    with pytest.raises(SimError) as exc:
        ex.replace_order(placed.id, {"limit_price": 102}, T1)
    assert refused(exc) == (422, 42210000, 'order is already in "partially_filled" state')


def test_replacing_a_bracket_stop_leg_keeps_the_bracket_together() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "99.90", "99.95")
    parent = ex.submit_order(bracket(), IN_SESSION)
    take_profit, stop_loss = parent.legs
    moved = ex.replace_order(stop_loss.id, {"stop_price": 97, "limit_price": 96.5}, T1)
    assert parent.legs == [take_profit, moved]
    assert moved.parent_id == parent.id
    assert moved.stop_price == 97
    assert ex.position("AAPL").to_alpaca()["qty_available"] == "0"
    push(ex, "AAPL", "96.90", "96.95", T2)
    assert moved.status.value == "filled"
    assert take_profit.status.value == "canceled"


def test_partial_fills_keep_going_on_later_quotes() -> None:
    ex = make_exchange(partial_fill_rate=1.0, seed=7)
    push(ex, "AAPL", "100.00", "100.02")
    placed = ex.submit_order(order(qty=50), IN_SESSION)
    for minute in range(1, 40):
        if placed.status.value == "filled":
            break
        push(ex, "AAPL", "100.00", "100.02", later(IN_SESSION, minutes=minute))
    assert placed.status.value == "filled"
    fills = [u for u in ex.drain_events() if u.is_fill]
    assert len(fills) >= 2
    assert sum((u.qty or 0) for u in fills) == 50
    assert fills[-1].event == "fill"
    assert all(u.event == "partial_fill" for u in fills[:-1])


# -- queries ---------------------------------------------------------------------------------
def test_list_orders_filters_and_sorts_like_alpaca() -> None:
    ex = make_exchange()
    push(ex, "AAPL", "100.50", "100.52")
    push(ex, "BTC/USD", "40000", "40010")
    first = ex.submit_order(order(type="limit", limit_price=90), IN_SESSION)
    second = ex.submit_order(order("BTC/USD", qty=0.01), T1)
    third = ex.submit_order(bracket(), T2)
    take_profit, stop_loss = third.legs
    assert ex.list_orders() == [stop_loss, take_profit, third, first]
    open_ids = [o.id for o in ex.list_orders(status="open")]
    assert second.id not in open_ids
    assert [o.id for o in ex.list_orders(status="closed")] == [second.id]
    nested = ex.list_orders(status="all", nested=True)
    assert nested == [third, second, first]
    assert ex.list_orders(status="all", nested=True, direction="asc") == [first, second, third]
    assert ex.list_orders(status="all", symbols=["BTCUSD"]) == [second]
    assert ex.list_orders(status="all", side="sell") == [stop_loss, take_profit]
    assert ex.list_orders(status="all", nested=True, limit=1) == [third]
    assert ex.list_orders(status="all", nested=True, after=IN_SESSION, until=T2) == [second]
    flat = ex.list_orders(status="all")
    assert len(flat) == 5
    assert third.to_alpaca(nested=False)["legs"] is None


def test_same_seed_same_inputs_same_outputs() -> None:
    def run() -> list[dict[str, object]]:
        ex = make_exchange(partial_fill_rate=0.5, seed=42)
        push(ex, "AAPL", "100.00", "100.02")
        ex.submit_order(order(qty=30), IN_SESSION)
        for minute in range(1, 10):
            push(ex, "AAPL", "100.00", "100.02", later(IN_SESSION, minutes=minute))
        return [u.to_alpaca() for u in ex.drain_events()]

    assert run() == run()
