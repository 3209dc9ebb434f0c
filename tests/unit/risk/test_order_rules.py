"""Symbol lists, a blocked account, and Alpaca's own order rules for crypto and stocks."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from pulsetrader.domain import OrderClass, OrderIntent, OrderSide, OrderType, TimeInForce
from pulsetrader.domain.snapshots import AssetInfo, PositionSnapshot
from pulsetrader.risk import Approved, Denied, RiskDecision, RiskLimits, RiskManager
from pulsetrader.risk.order_rules import crypto_rule, is_fractional, stock_rule
from tests.unit.risk.builders import account, asset, position, risk_manager

BTC = "BTC/USD"
BTC_PRICE = Decimal(50000)


def intent(symbol: str = "AAPL", side: OrderSide = OrderSide.BUY, **kw: Any) -> OrderIntent:
    if "qty" not in kw and "notional" not in kw:
        kw["qty"] = Decimal(1)
    if symbol == BTC and "time_in_force" not in kw:
        kw["time_in_force"] = TimeInForce.GTC
    return OrderIntent(symbol=symbol, side=side, **kw)


def check(
    rm: RiskManager,
    order: OrderIntent,
    positions: list[PositionSnapshot] | None = None,
    *,
    price: Decimal | None = None,
    info: AssetInfo | None = None,
    **account_fields: Any,
) -> RiskDecision:
    if price is None:
        price = BTC_PRICE if order.symbol == BTC else Decimal(100)
    return rm.validate_trade(
        order, account(**account_fields), positions or [], price=price, asset=info
    )


def approved(decision: RiskDecision) -> Approved:
    assert isinstance(decision, Approved), decision
    return decision


def denied(decision: RiskDecision, rule: str, words: str = "") -> Denied:
    assert isinstance(decision, Denied), decision
    assert decision.rule == rule, decision.reason
    assert words.lower() in decision.reason.lower(), decision.reason
    return decision


# -- symbol lists and the account ---------------------------------------------------------------


def test_denylist_denies_the_symbol() -> None:
    rm = risk_manager(RiskLimits(denylist=frozenset({"TSLA"})))
    denied(check(rm, intent("TSLA")), "denylist", "TSLA")
    approved(check(rm, intent("AAPL")))


def test_allowlist_allows_only_its_symbols_and_the_denylist_wins() -> None:
    rm = risk_manager(
        RiskLimits(allowlist=frozenset({"AAPL", "MSFT"}), denylist=frozenset({"MSFT"}))
    )
    approved(check(rm, intent("AAPL")))
    denied(check(rm, intent("NVDA")), "allowlist", "NVDA")
    denied(check(rm, intent("MSFT")), "denylist")


def test_an_exit_is_allowed_whatever_the_lists_say() -> None:
    rm = risk_manager(RiskLimits(allowlist=frozenset({"MSFT"}), denylist=frozenset({"AAPL"})))
    held = [position("AAPL", 10)]
    assert approved(check(rm, intent("AAPL", OrderSide.SELL, qty=Decimal(10)), held)).exit
    denied(check(rm, intent("AAPL", qty=Decimal(1)), held), "denylist")


def test_an_empty_allowlist_allows_everything() -> None:
    rm = risk_manager(RiskLimits(allowlist=frozenset()))
    approved(check(rm, intent("NVDA")))


def test_lists_given_in_any_spelling_match_intents() -> None:
    limits = RiskLimits(allowlist=frozenset({"btcusd", " aapl "}), denylist=frozenset({"ethusd"}))
    assert limits.allowlist == {"BTC/USD", "AAPL"}
    assert limits.denylist == {"ETH/USD"}
    rm = risk_manager(limits)
    approved(check(rm, intent(BTC, qty=Decimal("0.01"))))
    approved(check(rm, intent("AAPL")))
    denied(
        check(rm, intent("ETH/USD", time_in_force=TimeInForce.GTC), price=Decimal(3000)), "denylist"
    )


def test_a_blocked_account_denies_everything_even_exits() -> None:
    rm = risk_manager()
    denied(check(rm, intent(), trading_blocked=True), "account_blocked")
    exit_ = intent(side=OrderSide.SELL, qty=Decimal(5))
    denied(check(rm, exit_, [position("AAPL", 10)], trading_blocked=True), "account_blocked")


# -- crypto -------------------------------------------------------------------------------------


@pytest.mark.parametrize("tif", [TimeInForce.GTC, TimeInForce.IOC])
def test_crypto_accepts_gtc_and_ioc(tif: TimeInForce) -> None:
    approved(check(risk_manager(), intent(BTC, qty=Decimal("0.01"), time_in_force=tif)))


@pytest.mark.parametrize(
    "tif", [TimeInForce.DAY, TimeInForce.FOK, TimeInForce.OPG, TimeInForce.CLS]
)
def test_crypto_refuses_other_time_in_force(tif: TimeInForce) -> None:
    decision = check(risk_manager(), intent(BTC, qty=Decimal("0.01"), time_in_force=tif))
    denied(decision, "order_rules", "gtc or ioc")


@pytest.mark.parametrize(
    ("kind", "prices"),
    [
        (OrderType.MARKET, {}),
        (OrderType.LIMIT, {"limit_price": Decimal(49000)}),
        (OrderType.STOP_LIMIT, {"stop_price": Decimal(51000), "limit_price": Decimal(51500)}),
    ],
)
def test_crypto_order_types_alpaca_accepts(kind: OrderType, prices: dict[str, Decimal]) -> None:
    approved(check(risk_manager(), intent(BTC, qty=Decimal("0.01"), type=kind, **prices)))


@pytest.mark.parametrize(
    ("kind", "prices"),
    [
        (OrderType.STOP, {"stop_price": Decimal(51000)}),
        (OrderType.TRAILING_STOP, {"trail_percent": Decimal(2)}),
    ],
)
def test_crypto_order_types_alpaca_refuses(kind: OrderType, prices: dict[str, Decimal]) -> None:
    decision = check(risk_manager(), intent(BTC, qty=Decimal("0.01"), type=kind, **prices))
    denied(decision, "order_rules", kind.value)


@pytest.mark.parametrize("cls", [OrderClass.BRACKET, OrderClass.OTO])
def test_crypto_refuses_advanced_order_classes(cls: OrderClass) -> None:
    prices = {"take_profit_limit_price": Decimal(55000)}
    if cls is OrderClass.BRACKET:
        prices["stop_loss_stop_price"] = Decimal(45000)
    decision = check(risk_manager(), intent(BTC, qty=Decimal("0.01"), order_class=cls, **prices))
    denied(decision, "order_rules", cls.value)


def test_crypto_minimum_notional_for_openings() -> None:
    rm = risk_manager(RiskLimits(crypto_min_notional=Decimal(10)))
    denied(check(rm, intent(BTC, qty=Decimal("0.0001"))), "order_rules", "at least $10")  # $5
    denied(check(rm, intent(BTC, notional=Decimal("9.99"))), "order_rules", "at least")
    approved(check(rm, intent(BTC, notional=Decimal(10))))
    approved(check(rm, intent(BTC, qty=Decimal("0.0002"))))  # $10


def test_crypto_dust_can_always_be_closed() -> None:
    rm = risk_manager(RiskLimits(crypto_min_notional=Decimal(10)))
    dust = [position("BTC/USD", "0.00001", 50000)]  # 50 cents
    decision = approved(check(rm, intent(BTC, OrderSide.SELL, qty=Decimal("0.00001")), dust))
    assert decision.exit


def test_crypto_cannot_be_sold_short() -> None:
    rm = risk_manager()
    denied(check(rm, intent(BTC, OrderSide.SELL, qty=Decimal("0.01"))), "order_rules", "short")
    held = [position("BTC/USD", "0.01", 50000)]
    denied(
        check(rm, intent(BTC, OrderSide.SELL, qty=Decimal("0.02")), held), "order_rules", "short"
    )
    approved(check(rm, intent(BTC, OrderSide.SELL, qty=Decimal("0.01")), held))


def test_crypto_asset_that_is_not_tradable() -> None:
    info = asset(BTC, tradable=False)
    denied(check(risk_manager(), intent(BTC, qty=Decimal("0.01")), info=info), "order_rules")


def test_crypto_rule_directly() -> None:
    order = intent(BTC, qty=Decimal("0.01"))
    assert crypto_rule(order, Decimal(500), Decimal(1)) is None
    assert crypto_rule(order, None, Decimal(1)) is None  # unpriced: minimum not checkable
    assert crypto_rule(order, Decimal("0.5"), Decimal(1)) is not None
    assert crypto_rule(order, Decimal("0.5"), Decimal(1), opening=False) is None


# -- stocks -------------------------------------------------------------------------------------


def test_extended_hours_only_as_limit_day_orders() -> None:
    rm = risk_manager()
    ok = intent(type=OrderType.LIMIT, limit_price=Decimal(100), extended_hours=True)
    approved(check(rm, ok))
    gtc = intent(
        type=OrderType.LIMIT,
        limit_price=Decimal(100),
        extended_hours=True,
        time_in_force=TimeInForce.GTC,
    )
    denied(check(rm, gtc), "order_rules", "extended-hours")


@pytest.mark.parametrize(
    "amount", [{"qty": Decimal("1.5")}, {"notional": Decimal(150)}], ids=["fractional", "notional"]
)
def test_fractional_and_notional_only_as_day_orders(amount: dict[str, Decimal]) -> None:
    rm = risk_manager()
    approved(check(rm, intent(**amount)))
    for tif in (TimeInForce.GTC, TimeInForce.IOC, TimeInForce.OPG):
        denied(check(rm, intent(time_in_force=tif, **amount)), "order_rules", "day orders")


def test_fractional_only_as_simple_orders() -> None:
    bracket = intent(
        qty=Decimal("1.5"),
        order_class=OrderClass.BRACKET,
        take_profit_limit_price=Decimal(110),
        stop_loss_stop_price=Decimal(90),
    )
    denied(check(risk_manager(), bracket), "order_rules", "simple")
    whole = intent(
        qty=Decimal(2),
        order_class=OrderClass.BRACKET,
        take_profit_limit_price=Decimal(110),
        stop_loss_stop_price=Decimal(90),
    )
    approved(check(risk_manager(), whole))


def test_non_fractionable_stock_needs_whole_shares() -> None:
    info = asset("BRK.B", fractionable=False)
    rm = risk_manager()
    denied(check(rm, intent("BRK.B", qty=Decimal("0.5")), info=info), "order_rules", "fractionable")
    denied(
        check(rm, intent("BRK.B", notional=Decimal(50)), info=info), "order_rules", "fractionable"
    )
    approved(check(rm, intent("BRK.B", qty=Decimal(2)), info=info))
    # A whole number written with a fraction is still whole.
    approved(check(rm, intent("BRK.B", qty=Decimal("2.000")), info=info))


def test_the_asset_can_come_from_the_managers_own_table() -> None:
    rm = risk_manager()
    rm.assets["BRK.B"] = asset("BRK.B", fractionable=False)
    denied(check(rm, intent("BRK.B", qty=Decimal("0.5"))), "order_rules", "fractionable")


def test_untradable_stock() -> None:
    info = asset("AAPL", tradable=False)
    denied(check(risk_manager(), intent(), info=info), "order_rules", "not tradable")


def test_short_sale_needs_shorting_enabled() -> None:
    rm = risk_manager()
    short = intent(side=OrderSide.SELL, qty=Decimal(5))
    denied(check(rm, short, shorting_enabled=False), "order_rules", "cannot sell short")
    approved(check(rm, short, shorting_enabled=True))
    # Adding to a short is a short sale too.
    held = [position("AAPL", -5)]
    denied(check(rm, short, held, shorting_enabled=False), "order_rules", "short")
    # Selling what is held is not.
    long = [position("AAPL", 5)]
    assert approved(check(rm, short, long, shorting_enabled=False)).exit


def test_short_sale_needs_a_shortable_stock() -> None:
    info = asset("GME", shortable=False)
    short = intent("GME", OrderSide.SELL, qty=Decimal(5))
    denied(check(risk_manager(), short, info=info), "order_rules", "cannot be sold short")


def test_short_sale_needs_whole_shares() -> None:
    rm = risk_manager()
    denied(check(rm, intent(side=OrderSide.SELL, qty=Decimal("1.5"))), "order_rules", "fractional")
    denied(
        check(rm, intent(side=OrderSide.SELL, notional=Decimal(150))), "order_rules", "fractional"
    )
    # Selling a fractional long is fine.
    held = [position("AAPL", "1.5")]
    approved(check(rm, intent(side=OrderSide.SELL, qty=Decimal("1.5")), held))


def test_oco_only_as_an_exit() -> None:
    oco = intent(
        side=OrderSide.SELL,
        qty=Decimal(10),
        type=OrderType.LIMIT,
        limit_price=Decimal(110),
        order_class=OrderClass.OCO,
        take_profit_limit_price=Decimal(110),
        stop_loss_stop_price=Decimal(90),
    )
    rm = risk_manager()
    denied(check(rm, oco), "order_rules", "oco")
    assert approved(check(rm, oco, [position("AAPL", 10)])).exit


def test_stock_rule_and_is_fractional_directly() -> None:
    assert is_fractional(intent(qty=Decimal("0.1")))
    assert is_fractional(intent(notional=Decimal(10)))
    assert not is_fractional(intent(qty=Decimal(3)))
    assert stock_rule(intent(), None) is None
    assert stock_rule(intent(qty=Decimal("0.1"), time_in_force=TimeInForce.GTC), None)


def test_exits_obey_the_order_rules_too() -> None:
    held = [position("BTC/USD", "0.5", 50000)]
    day = intent(BTC, OrderSide.SELL, qty=Decimal("0.5"), time_in_force=TimeInForce.DAY)
    denied(check(risk_manager(), day, held), "order_rules", "gtc or ioc")
