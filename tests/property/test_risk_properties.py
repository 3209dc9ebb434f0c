"""Property 6: risk validation enforcement.

(a) ``validate_trade`` never raises for valid inputs and always answers Approved or Denied with a
    reason (and, for a denial, a rule id).
(b) Every Approved decision satisfies every limit that applies to it, recomputed here from the
    rules as the risk module documents them (not by calling its helpers).
(c) At the OrderManager level, no order reaches the broker without an Approved decision: the
    broker receives exactly the client_order_ids approved, each once.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from hypothesis import event, given, note, reject
from hypothesis import strategies as st

from pulsetrader.broker.errors import InvalidRequest, OrderRejected
from pulsetrader.domain import (
    Account,
    AssetClass,
    Order,
    OrderClass,
    OrderIntent,
    OrderSide,
    OrderStatus,
    OrderType,
    TimeInForce,
    TradingState,
)
from pulsetrader.domain.snapshots import AssetInfo, PositionSnapshot
from pulsetrader.domain.symbols import asset_class_of
from pulsetrader.risk import Approved, Denied, MemoryStateStore, RiskLimits, RiskManager
from tests.unit.risk.builders import (
    FakeClock,
    FakeMonotonic,
    account,
    asset,
    position,
    working_order,
)
from tests.unit.risk.fakes import build_rig

STOCKS = ("AAPL", "MSFT", "TSLA", "GME")
CRYPTO = ("BTC/USD", "ETH/USD")
SYMBOLS = STOCKS + CRYPTO
RULES = {
    "halted",
    "reducing",
    "reduce_only",
    "denylist",
    "allowlist",
    "account_blocked",
    "order_rules",
    "orders_per_minute",
    "daily_loss",
    "drawdown",
    "no_price",
    "order_notional",
    "position_notional",
    "position_pct",
    "max_positions",
    "max_stock_positions",
    "max_crypto_positions",
    "buying_power",
}
HUNDRED = Decimal(100)

# -- strategies ---------------------------------------------------------------------------------


def money(low: int, high: int, places: int = 2) -> st.SearchStrategy[Decimal]:
    scale = 10**places
    return st.integers(low * scale, high * scale).map(lambda n: Decimal(n).scaleb(-places))


def mostly(common: Any, *others: Any, weight: int = 3) -> st.SearchStrategy[Any]:
    """``common`` ``weight`` times as often as each of ``others``: random, but not so random
    that almost every order is refused by the first rule it meets."""
    # Hypothesis favours the ends of a list when it draws from it: keep ``common`` at both.
    return st.sampled_from([common] * weight + list(others) + [common])


prices = money(1, 500)
symbols = st.sampled_from(SYMBOLS)
sides = st.sampled_from(OrderSide)
# Allow and deny lists: mostly empty, else a few symbols.
symbol_sets = mostly("none", "some").flatmap(
    lambda kind: (
        st.just(frozenset[str]())
        if kind == "none"
        else st.frozensets(symbols, min_size=1, max_size=3)
    )
)


@st.composite
def quantities(draw: st.DrawFn, symbol: str) -> Decimal:
    if asset_class_of(symbol) is AssetClass.CRYPTO or draw(st.booleans()):
        return Decimal(draw(st.integers(1, 50_000))).scaleb(-4)
    return Decimal(draw(st.integers(1, 50)))


@st.composite
def intents(
    draw: st.DrawFn,
    symbol: str | None = None,
    side: OrderSide | None = None,
    qty: Decimal | None = None,
) -> OrderIntent:
    """Valid order intents of every shape, weighted towards ones Alpaca accepts; the
    constructor's own checks filter out the few invalid combinations drawn."""
    symbol = symbol or draw(symbols)
    side = side or draw(sides)
    crypto = asset_class_of(symbol) is AssetClass.CRYPTO
    kind = draw(mostly(OrderType.MARKET, *OrderType, weight=4))
    order_class = draw(mostly(OrderClass.SIMPLE, *OrderClass, weight=12))
    if order_class is OrderClass.OCO:
        kind = OrderType.LIMIT
    tif = draw(
        mostly(TimeInForce.GTC, TimeInForce.IOC, *TimeInForce)
        if crypto
        else mostly(TimeInForce.DAY, *TimeInForce, weight=6)
    )
    base = draw(prices)
    fields: dict[str, Any] = {
        "symbol": symbol,
        "side": side,
        "type": kind,
        "time_in_force": tif,
        "order_class": order_class,
        "reduce_only": draw(mostly(False, True, weight=4)),
        "strategy": draw(st.none() | st.just("momo")),
        "client_order_id": draw(st.none() | st.uuids().map(lambda u: f"t-{u.hex}")),
    }
    if kind.needs_limit_price:
        fields["limit_price"] = base
    if kind.needs_stop_price:
        fields["stop_price"] = draw(prices)
    if kind is OrderType.TRAILING_STOP:
        fields["trail_percent"] = draw(money(1, 10))
    if order_class is not OrderClass.SIMPLE:
        long = (side is OrderSide.BUY) == (order_class is OrderClass.BRACKET)
        high, low = base * Decimal("1.1"), base * Decimal("0.9")
        take_profit, stop_loss = (high, low) if long else (low, high)
        if order_class is OrderClass.OTO:
            if draw(st.booleans()):
                fields["take_profit_limit_price"] = take_profit
            else:
                fields["stop_loss_stop_price"] = stop_loss
        else:
            fields["take_profit_limit_price"] = take_profit
            fields["stop_loss_stop_price"] = stop_loss
    if qty is not None:
        fields["qty"] = qty
    elif order_class is OrderClass.SIMPLE and draw(mostly(False, True)):
        fields["notional"] = draw(money(1, 5000))
    else:
        fields["qty"] = draw(quantities(symbol))
    if kind is OrderType.LIMIT:
        fields["extended_hours"] = draw(mostly(False, True))
    try:
        return OrderIntent(**fields)
    except ValueError:
        reject()


@st.composite
def limits_(draw: st.DrawFn) -> RiskLimits:
    allow = draw(symbol_sets)
    if draw(st.booleans()):  # roomy: the entry rules rarely bind, so approvals are common
        return RiskLimits(
            max_position_pct=HUNDRED,
            max_position_notional=Decimal(10**6),
            max_order_notional=Decimal(10**6),
            max_open_positions=20,
            max_open_stock_positions=20,
            max_open_crypto_positions=20,
            daily_loss_limit=Decimal(10**6),
            max_drawdown_pct=HUNDRED,
            max_orders_per_minute=draw(st.integers(1, 50)),
            allowlist=allow,
            denylist=draw(symbol_sets),
            crypto_min_notional=draw(money(1, 20)),
        )
    return RiskLimits(
        max_position_pct=draw(money(1, 100)),
        max_position_notional=draw(money(100, 60000, 0)),
        max_order_notional=draw(money(50, 30000, 0)),
        max_open_positions=draw(st.integers(0, 6)),
        max_open_stock_positions=draw(st.integers(0, 5)),
        max_open_crypto_positions=draw(st.integers(0, 3)),
        daily_loss_limit=draw(money(1, 5000, 0)),
        max_drawdown_pct=draw(money(1, 50)),
        max_orders_per_minute=draw(st.integers(1, 50)),
        allowlist=allow,
        denylist=draw(symbol_sets),
        crypto_min_notional=draw(money(1, 20)),
    )


@st.composite
def accounts(draw: st.DrawFn) -> Account:
    """Mostly healthy accounts; sometimes broke, in deficit, down on the day or blocked."""
    equity = draw(mostly(money(20000, 150000, 0), money(1, 20000, 0), st.sampled_from([-100, 0])))
    equity = Decimal(draw(equity))
    last_equity = draw(mostly(st.just(equity), money(0, 150000, 0), st.just(Decimal(0))))
    return account(
        equity=equity,
        last_equity=draw(last_equity),
        cash=draw(draw(mostly(money(10000, 150000, 0), money(0, 10000, 0)))),
        buying_power=draw(draw(mostly(money(20000, 300000, 0), money(0, 20000, 0)))),
        shorting_enabled=draw(mostly(True, False)),
        trading_blocked=draw(mostly(False, True, weight=15)),
    )


@st.composite
def positions_(draw: st.DrawFn) -> list[PositionSnapshot]:
    held = draw(st.lists(symbols, unique=True, max_size=4))
    out = []
    for symbol in held:
        qty = draw(quantities(symbol))
        if draw(st.booleans()):
            qty = -qty
        out.append(position(symbol, qty, draw(prices)))
    return out


@st.composite
def open_orders_(draw: st.DrawFn) -> list[Order]:
    out = []
    for _ in range(draw(st.integers(0, 4))):
        symbol = draw(symbols)
        status = draw(
            st.sampled_from(
                [
                    OrderStatus.NEW,
                    OrderStatus.PARTIALLY_FILLED,
                    OrderStatus.HELD,
                    OrderStatus.FILLED,
                ]
            )
        )
        reduce_only = draw(st.booleans())
        if draw(st.booleans()):
            qty = draw(quantities(symbol))
            filled = qty if status is OrderStatus.FILLED else Decimal(0)
            if status is OrderStatus.PARTIALLY_FILLED:
                filled = qty / 2
            out.append(
                working_order(
                    symbol,
                    draw(sides),
                    qty,
                    status=status,
                    filled_qty=filled,
                    filled_avg_price=draw(prices) if filled else None,
                    reduce_only=reduce_only,
                )
            )
        else:
            out.append(
                working_order(
                    symbol,
                    draw(sides),
                    notional=draw(money(1, 5000)),
                    status=status if status is not OrderStatus.FILLED else OrderStatus.NEW,
                    reduce_only=reduce_only,
                )
            )
    return out


@st.composite
def assets_(draw: st.DrawFn, symbol: str) -> AssetInfo | None:
    if draw(st.booleans()):
        return None
    return asset(
        symbol,
        tradable=draw(mostly(True, False, weight=8)),
        shortable=draw(mostly(True, False)),
        fractionable=draw(mostly(True, False)),
    )


@dataclass
class Case:
    intent: OrderIntent
    account: Account
    positions: list[PositionSnapshot]
    open_orders: list[Order]
    price: Decimal | None
    limits: RiskLimits
    state: TradingState
    asset: AssetInfo | None
    high_water_mark: Decimal | None


@st.composite
def cases(draw: st.DrawFn) -> Case:
    held = draw(positions_())
    if held and draw(st.booleans()):
        # Against a held position: exits, flips and orders outgrowing what is left to close.
        target = draw(st.sampled_from(held))
        amount = abs(target.qty) * draw(st.sampled_from([Decimal("0.5"), 1, Decimal("1.5")]))
        order = draw(
            intents(
                target.symbol,
                OrderSide.SELL if target.qty > 0 else OrderSide.BUY,
                draw(st.none() | st.just(Decimal(amount))),
            )
        )
    else:
        order = draw(intents())
    return Case(
        intent=order,
        account=draw(accounts()),
        positions=held,
        open_orders=draw(open_orders_()),
        price=draw(mostly(prices, st.none(), st.just(Decimal(0))).flatmap(lambda p: p)),
        limits=draw(limits_()),
        state=draw(
            mostly(TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED, weight=6)
        ),
        asset=draw(assets_(order.symbol)),
        high_water_mark=draw(st.none() | money(1, 200000, 0)),
    )


def run(case: Case) -> Approved | Denied:
    store = MemoryStateStore()
    if case.high_water_mark is not None:
        store.set_state("risk.high_water_mark", str(case.high_water_mark))
    rm = RiskManager(case.limits, store=store, clock=FakeClock(), monotonic=FakeMonotonic())
    if case.state is not TradingState.ACTIVE:
        rm.set_state(case.state, "property test")
    return rm.validate_trade(
        case.intent,
        case.account,
        case.positions,
        price=case.price,
        open_orders=case.open_orders,
        asset=case.asset,
    )


# -- the oracle: the documented rules, recomputed -------------------------------------------------


def unit_price(case: Case) -> Decimal | None:
    """Worst plausible fill price: the highest of the market and the order's own prices."""
    intent = case.intent
    known = [p for p in (case.price, intent.limit_price, intent.stop_price) if p and p > 0]
    if known:
        return max(known)
    for p in case.positions:
        if p.symbol == intent.symbol and p.current_price:
            return p.current_price
    return None


def remaining(order: Order, unit: Decimal | None) -> Decimal:
    if order.qty is not None:
        return order.qty - order.filled_qty
    if order.notional is None or not unit:
        return Decimal(0)
    spent = order.filled_qty * (order.filled_avg_price or unit)
    return max(Decimal(0), order.notional - spent) / unit


@dataclass
class Facts:
    held: Decimal
    unit: Decimal | None
    qty: Decimal | None
    value: Decimal | None
    exit: bool
    pending: Decimal


def facts(case: Case) -> Facts:
    intent = case.intent
    held = sum((p.qty for p in case.positions if p.symbol == intent.symbol), Decimal(0))
    unit = unit_price(case)
    qty = intent.qty
    if qty is None and unit:
        qty = intent.notional / unit  # type: ignore[operator]
    value = intent.notional if intent.notional is not None else (qty * unit if unit else None)
    working = [o for o in case.open_orders if o.is_open and o.symbol == intent.symbol]
    closing_side = OrderSide.SELL if held > 0 else OrderSide.BUY
    closing = sum(
        (
            remaining(o, unit)
            for o in working
            if o.side is closing_side and o.status is not OrderStatus.HELD
        ),
        Decimal(0),
    )
    exit_ = (
        held != 0
        and qty is not None
        and intent.side is closing_side
        and intent.order_class not in (OrderClass.BRACKET, OrderClass.OTO)
        and qty <= abs(held) - closing
    )
    pending = sum(
        (remaining(o, unit) * intent.side.sign for o in working if o.side is intent.side),
        Decimal(0),
    )
    return Facts(held, unit, qty, value, exit_, pending)


def fractional(intent: OrderIntent) -> bool:
    return intent.notional is not None or intent.qty != intent.qty.to_integral_value()  # type: ignore[union-attr]


def check_approved(case: Case, decision: Approved) -> None:
    intent, acct, limits = case.intent, case.account, case.limits
    f = facts(case)
    note(f"facts: {f}")
    assert decision.exit == f.exit
    # Trading state and reduce-only.
    if case.state is TradingState.REDUCING:
        assert f.exit
    if case.state is TradingState.HALTED:
        assert f.exit
        assert intent.strategy is None
    if intent.reduce_only:
        assert f.exit
    # Lists (entries only: an exit is always allowed) and the account.
    if not f.exit:
        assert intent.symbol not in limits.denylist
        assert not limits.allowlist or intent.symbol in limits.allowlist
    assert not acct.trading_blocked
    # Alpaca's order rules.
    info = case.asset
    if info is not None:
        assert info.tradable
    if intent.asset_class is AssetClass.CRYPTO:
        assert intent.time_in_force in (TimeInForce.GTC, TimeInForce.IOC)
        assert intent.type in (OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_LIMIT)
        assert intent.order_class is OrderClass.SIMPLE
        assert not intent.extended_hours
        if not f.exit:
            assert intent.side is OrderSide.BUY  # never short
            assert f.value is None or f.value >= limits.crypto_min_notional
    else:
        if intent.extended_hours:
            assert intent.type is OrderType.LIMIT
            assert intent.time_in_force is TimeInForce.DAY
        if fractional(intent):
            assert intent.order_class is OrderClass.SIMPLE
            assert intent.time_in_force is TimeInForce.DAY
            assert info is None or info.fractionable
        if intent.order_class is OrderClass.OCO:
            assert f.exit
        if not f.exit and intent.side is OrderSide.SELL:
            assert acct.shorting_enabled
            assert info is None or info.shortable
            assert not fractional(intent)
    if f.exit:
        return
    # Entries: every limit.
    assert f.value is not None
    assert f.qty is not None
    assert f.unit
    baseline = acct.last_equity if acct.last_equity > 0 else acct.equity
    assert baseline - acct.equity < limits.daily_loss_limit
    hwm = max(acct.equity, case.high_water_mark or acct.equity)
    if hwm > 0:
        assert (hwm - acct.equity) / hwm * HUNDRED < limits.max_drawdown_pct
    assert f.value <= limits.max_order_notional
    after = abs(f.held + f.pending + f.qty * intent.side.sign) * f.unit
    assert after <= limits.max_position_notional
    assert acct.equity > 0
    assert after <= acct.equity * limits.max_position_pct / HUNDRED
    if f.held == 0 and f.pending == 0:
        held_symbols = {p.symbol for p in case.positions}
        new = {
            o.symbol
            for o in case.open_orders
            if o.is_open and not o.reduce_only and o.symbol not in held_symbols
        } - {intent.symbol}
        every = held_symbols | new
        assert len(every) < limits.max_open_positions
        same_class = [s for s in every if asset_class_of(s) is intent.asset_class]
        if intent.asset_class is AssetClass.CRYPTO:
            assert len(same_class) < limits.max_open_crypto_positions
        else:
            assert len(same_class) < limits.max_open_stock_positions
    if intent.asset_class is AssetClass.CRYPTO:
        assert f.value <= min(acct.cash, acct.buying_power)
    else:
        assert f.value <= acct.buying_power


# -- (a) and (b) --------------------------------------------------------------------------------


@given(cases())
def test_validate_trade_answers_and_every_approval_respects_the_limits(case: Case) -> None:
    decision = run(case)
    assert isinstance(decision, Approved | Denied)
    assert decision.intent is case.intent
    assert isinstance(decision.reason, str)
    assert decision.reason.strip()
    event(f"{'approved' if decision.approved else decision.rule}")
    if isinstance(decision, Denied):
        assert decision.rule in RULES
        assert not decision.approved
        return
    assert decision.approved
    check_approved(case, decision)


@given(
    case=cases(),
    steps=st.lists(st.floats(0, 30, allow_nan=False), min_size=1, max_size=25),
)
def test_approvals_never_exceed_the_rate_in_any_minute(case: Case, steps: list[float]) -> None:
    """The same kind of order again and again, time moving on by random steps."""
    tick = FakeMonotonic(0.0)
    rm = RiskManager(case.limits, store=MemoryStateStore(), clock=FakeClock(), monotonic=tick)
    approved_at: list[float] = []
    for step in steps:
        tick.now += step
        decision = rm.validate_trade(
            case.intent, case.account, case.positions, price=case.price, asset=case.asset
        )
        if decision.approved and not (decision.exit and case.intent.strategy is None):
            approved_at.append(tick.now)  # operator exits are exempt from the guard
    limit = case.limits.max_orders_per_minute
    for i, start in enumerate(approved_at):
        in_window = [t for t in approved_at[i:] if t < start + 60]
        assert len(in_window) <= limit


# -- (c) no order reaches the broker without an Approved decision ---------------------------------


@st.composite
def sessions(draw: st.DrawFn) -> dict[str, Any]:
    held = draw(positions_())
    order_intents: list[OrderIntent] = []
    for _ in range(draw(st.integers(1, 8))):
        if held and draw(st.booleans()):
            target = draw(st.sampled_from(held))
            side = OrderSide.SELL if target.qty > 0 else OrderSide.BUY
            qty = abs(target.qty) * draw(st.sampled_from([Decimal("0.25"), Decimal("0.5"), 1]))
            order_intents.append(draw(intents(target.symbol, side, qty)))
        else:
            order_intents.append(draw(intents()))
    # Reuse a client order id: the second use must be refused without reaching the broker.
    ids = [i.client_order_id for i in order_intents if i.client_order_id]
    if ids and draw(st.booleans()):
        order_intents.append(
            dataclasses.replace(draw(intents()), client_order_id=draw(st.sampled_from(ids)))
        )
    n = len(order_intents)
    return {
        "intents": order_intents,
        "account": draw(accounts()),
        "positions": held,
        "prices": draw(st.dictionaries(symbols, prices, min_size=3, max_size=len(SYMBOLS))),
        "limits": draw(limits_()),
        "states": draw(
            st.lists(mostly(TradingState.ACTIVE, *TradingState), min_size=n, max_size=n)
        ),
        "failures": draw(
            st.lists(mostly(None, "rejected", "invalid", weight=4), min_size=n, max_size=n)
        ),
    }


@given(sessions())
def test_no_order_reaches_the_broker_without_an_approved_decision(session: dict[str, Any]) -> None:
    clock = FakeClock()
    rig = build_rig(
        RiskManager(
            session["limits"], store=MemoryStateStore(), clock=clock, monotonic=FakeMonotonic()
        ),
        acct=session["account"],
        positions=session["positions"],
        prices=session["prices"],
        clock=clock,
    )
    decisions: list[Approved | Denied] = []
    rig.manager.on_decision(decisions.append)

    async def scenario() -> list[Any]:
        results = []
        for intent, state, failure in zip(
            session["intents"], session["states"], session["failures"], strict=True
        ):
            rig.risk.set_state(state, "property test")
            if failure == "rejected":
                rig.broker.fail_next = OrderRejected("insufficient buying power", status=403)
            elif failure == "invalid":
                rig.broker.fail_next = InvalidRequest("bad request", status=422)
            results.append(await rig.manager.submit_order(intent))
            rig.broker.fail_next = None
            clock.advance(seconds=1)
        return results

    results = asyncio.run(scenario())
    # One decision per intent, told to the listeners and the journal alike, in order.
    assert len(decisions) == len(session["intents"]) == len(rig.journal.decisions)
    for decision, record, intent in zip(
        decisions, rig.journal.decisions, session["intents"], strict=True
    ):
        assert decision.intent is intent
        assert record.intent is intent
        assert record.approved == decision.approved
        if isinstance(decision, Denied):
            assert record.client_order_id is None
        else:
            assert record.client_order_id
            assert intent.client_order_id in (None, record.client_order_id)
    approved_ids = [r.client_order_id for r in rig.journal.decisions if r.approved]
    event(f"approved {len(approved_ids)} of {len(decisions)}")
    # Exactly the approved ids reached the broker, each once, in the order approved.
    assert rig.broker.calls == approved_ids
    assert len(set(rig.broker.calls)) == len(rig.broker.calls)
    for result, decision in zip(results, decisions, strict=True):
        if isinstance(decision, Denied):
            assert result is decision
        else:
            assert isinstance(result, Order)
            assert result.client_order_id in rig.broker.calls


@given(order_intents=st.lists(intents(), min_size=1, max_size=5))
def test_nothing_reaches_the_broker_before_reconciliation(order_intents: list[OrderIntent]) -> None:
    """Before reconciliation only reduce-only orders are even risk-checked."""
    rig = build_rig(prices=dict.fromkeys(SYMBOLS, Decimal(100)))
    rig.manager.reconciled = False
    decisions: list[Approved | Denied] = []
    rig.manager.on_decision(decisions.append)

    async def scenario() -> None:
        for intent in order_intents:
            await rig.manager.submit_order(intent)

    asyncio.run(scenario())
    for decision in decisions:
        if not decision.intent.reduce_only:
            assert isinstance(decision, Denied)
            assert decision.rule == "reconciling"
    approved_ids = [r.client_order_id for r in rig.journal.decisions if r.approved]
    assert rig.broker.calls == approved_ids
    assert all(i.reduce_only for i in rig.broker.intents)
