"""RiskManager: every order intent passes here before anything reaches the broker.

:meth:`RiskManager.validate_trade` answers :class:`Approved` or :class:`Denied` (never raises for
a normal refusal). An *exit* is an order that only shrinks an existing position: against it, for
no more than what working orders are not already taking out of it, and not a bracket or OTO
order (whose legs would reopen the position). The rules, in the order they are checked:

1. Trading state. ACTIVE lets everything through to the other rules; REDUCING (the seed's
   preservation mode) only exits; HALTED only exits the operator asked for (no strategy), such
   as closing positions by hand or at shutdown. Then ``reduce_only``: such an order must be an
   exit.
2. Symbol allow and deny lists; an account the broker blocked.
3. Alpaca's order rules (:mod:`pulsetrader.risk.order_rules`): crypto time in force, types and
   minimum notional (for openings), no brackets on crypto and no crypto short sales, extended
   hours only for limit day orders, fractional and notional only as simple day orders of
   fractionable stock, OCO only as an exit, short sales only of shortable stock, in whole
   shares, on an account that may short.
4. The runaway guard: at most ``max_orders_per_minute`` approvals in any 60 s (exits the
   operator asks for, such as closing everything at shutdown, are not counted).
5. For entries only (exits reduce risk and skip these): the daily loss limit over the New York
   session, the drawdown from the equity high-water mark, a price to value the order, the
   order's notional, the position's size after the order and the working orders on its side
   (absolute and percent of equity), open positions in total and per asset class (symbols with
   working opening orders count), and buying power (crypto needs cash: it is never bought on
   margin).

Orders are valued at the worst price they may plausibly fill at: the highest of the market
price and their own limit and stop prices.

The day's starting equity and the high-water mark live in a :class:`RiskStateStore` (the
journal), so a restart does not reset them; so does a HALTED state, which only a person lifts.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol
from zoneinfo import ZoneInfo

from loguru import logger

from pulsetrader.domain.account import Account
from pulsetrader.domain.enums import AssetClass, OrderClass, OrderSide, OrderStatus, TradingState
from pulsetrader.domain.intents import OrderIntent
from pulsetrader.domain.money import ZERO, utcnow
from pulsetrader.domain.orders import Order
from pulsetrader.domain.snapshots import AssetInfo, PositionSnapshot
from pulsetrader.domain.symbols import asset_class_of
from pulsetrader.risk.decisions import Approved, Denied, RiskDecision
from pulsetrader.risk.limits import RiskLimits
from pulsetrader.risk.order_rules import crypto_rule, oco_rule, short_sale_rule, stock_rule

NEW_YORK = ZoneInfo("America/New_York")
_HUNDRED = Decimal(100)

StateListener = Callable[[TradingState, TradingState, str], None]


class RiskStateStore(Protocol):
    """Where the risk manager keeps what must survive a restart (the journal implements it)."""

    def get_state(self, key: str) -> str | None: ...

    def set_state(self, key: str, value: str) -> None: ...


class MemoryStateStore:
    """A :class:`RiskStateStore` in a dict, for tests and throwaway runs."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get_state(self, key: str) -> str | None:
        return self.values.get(key)

    def set_state(self, key: str, value: str) -> None:
        self.values[key] = value


def count_positions_by_type(positions: Iterable[PositionSnapshot]) -> dict[AssetClass, int]:
    """Open positions per asset class (the seed's ``_count_positions_by_type``)."""
    counts = dict.fromkeys(AssetClass, 0)
    for position in positions:
        if position.qty != 0:
            counts[position.asset_class] += 1
    return counts


def trading_day(at: datetime) -> date:
    """The New York calendar date of ``at``: the session a loss counts against."""
    return at.astimezone(NEW_YORK).date()


class RiskManager:
    """Pre-trade checks and the trading state. ``clock`` is the broker's time."""

    def __init__(
        self,
        limits: RiskLimits | None = None,
        *,
        store: RiskStateStore | None = None,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits or RiskLimits()
        self.store = store or MemoryStateStore()
        self.clock = clock
        self.monotonic = monotonic
        saved = self.store.get_state("risk.trading_state")
        self._state = TradingState.HALTED if saved == TradingState.HALTED else TradingState.ACTIVE
        self.state_reason = "halted before the restart" if saved == TradingState.HALTED else ""
        self._listeners: list[StateListener] = []
        self._approvals: deque[float] = deque()
        self.assets: dict[str, AssetInfo] = {}
        hwm = self.store.get_state("risk.high_water_mark")
        self.high_water_mark: Decimal | None = Decimal(hwm) if hwm else None
        day = self.store.get_state("risk.day")
        start = self.store.get_state("risk.day_start_equity")
        self.day: date | None = date.fromisoformat(day) if day else None
        self.day_start_equity: Decimal | None = Decimal(start) if start else None

    # -- trading state ------------------------------------------------------------------------

    @property
    def state(self) -> TradingState:
        return self._state

    def on_state_change(self, listener: StateListener) -> None:
        """Call ``listener(old, new, reason)`` on every transition."""
        self._listeners.append(listener)

    def set_state(self, state: TradingState, reason: str) -> bool:
        """Move to ``state``; return whether it changed. HALTED is persisted."""
        state = TradingState(state)
        if state is self._state:
            return False
        old, self._state, self.state_reason = self._state, state, reason
        self.store.set_state("risk.trading_state", state.value)
        logger.warning("trading state {} -> {}: {}", old.value, state.value, reason)
        for listener in self._listeners:
            try:
                listener(old, state, reason)
            except Exception:
                logger.exception("trading-state listener {!r} failed", listener)
        return True

    # -- account observations -----------------------------------------------------------------

    def observe_account(self, account: Account) -> None:
        """Track the high-water mark and the New York day's starting equity (persisted)."""
        equity = account.equity
        if self.high_water_mark is None or equity > self.high_water_mark:
            self.high_water_mark = equity
            self.store.set_state("risk.high_water_mark", str(equity))
        today = trading_day(self.clock())
        if self.day != today or self.day_start_equity is None:
            # The broker's last_equity is the previous close: the right baseline when the engine
            # starts mid-session; without it, the first equity seen today.
            start = account.last_equity if account.last_equity > 0 else equity
            self.day, self.day_start_equity = today, start
            self.store.set_state("risk.day", today.isoformat())
            self.store.set_state("risk.day_start_equity", str(start))

    def daily_pl(self, account: Account) -> Decimal:
        """Equity change since the New York day began."""
        self.observe_account(account)
        assert self.day_start_equity is not None
        return account.equity - self.day_start_equity

    def drawdown_pct(self, account: Account) -> Decimal:
        """Percent below the equity high-water mark."""
        self.observe_account(account)
        hwm = self.high_water_mark
        if not hwm or hwm <= 0:
            return ZERO
        return max(ZERO, (hwm - account.equity) / hwm * _HUNDRED)

    # -- the check ----------------------------------------------------------------------------

    def validate_trade(
        self,
        intent: OrderIntent,
        account: Account,
        positions: Sequence[PositionSnapshot] | Mapping[str, PositionSnapshot],
        *,
        price: Decimal | None = None,
        open_orders: Iterable[Order] = (),
        asset: AssetInfo | None = None,
    ) -> RiskDecision:
        """Approve or deny ``intent`` against the account, its positions and the limits.

        ``price`` values the order when it has no limit or stop price (the current price from
        the market-data feed); ``open_orders`` are orders not yet filled, counted as exposure
        (and, on the closing side, as quantity already on its way out of the position).
        """
        now = self.clock()
        listed = positions.values() if isinstance(positions, Mapping) else positions
        # Keyed by the position's own (order) spelling, whatever keys a mapping came with.
        by_symbol = {p.symbol: p for p in listed}
        working = [o for o in open_orders if o.is_open]
        held = by_symbol.get(intent.symbol)
        held_qty = held.qty if held is not None else ZERO
        unit_price = self._unit_price(intent, price, held)
        value = intent.notional
        if value is None and intent.qty is not None and unit_price is not None:
            value = intent.qty * unit_price
        qty = intent.qty
        if qty is None and intent.notional is not None and unit_price:
            qty = intent.notional / unit_price
        closing = _closing_qty(working, intent.symbol, held_qty, unit_price)
        exit_ = _is_exit(intent, qty, held_qty, closing)

        def deny(rule: str, reason: str) -> Denied:
            return Denied(intent, now, rule, reason)

        if self._state is TradingState.HALTED and not (exit_ and intent.strategy is None):
            return deny("halted", f"trading is halted ({self.state_reason or 'by the operator'})")
        if self._state is TradingState.REDUCING and not exit_:
            return deny(
                "reducing",
                f"preservation mode: only exits are allowed ({self.state_reason or 'health'})",
            )
        if intent.reduce_only and not exit_:
            return deny(
                "reduce_only",
                f"reduce-only {intent.side.value} of {intent.symbol} would not shrink the "
                f"position ({held_qty}, {closing} already being closed)",
            )
        limits = self.limits
        # The lists keep new exposure out; getting out of a symbol is always allowed.
        if not exit_ and intent.symbol in limits.denylist:
            return deny("denylist", f"{intent.symbol} is on the deny list")
        if not exit_ and limits.allowlist and intent.symbol not in limits.allowlist:
            return deny("allowlist", f"{intent.symbol} is not on the allow list")
        if account.trading_blocked:
            return deny("account_blocked", "the broker has blocked trading on this account")
        asset = asset or self.assets.get(intent.symbol)
        if intent.asset_class is AssetClass.CRYPTO:
            problem = crypto_rule(
                intent, value, limits.crypto_min_notional, asset, opening=not exit_
            )
        else:
            problem = stock_rule(intent, asset) or oco_rule(intent, exit_)
            if problem is None and not exit_ and intent.side is OrderSide.SELL:
                problem = short_sale_rule(intent, account.shorting_enabled, asset)
        if problem is not None:
            return deny("order_rules", problem)
        operator_exit = exit_ and intent.strategy is None
        # The guard stops a runaway strategy; closing everything by hand or at shutdown is not one.
        if not operator_exit and not self._within_rate():
            return deny(
                "orders_per_minute",
                f"more than {limits.max_orders_per_minute} orders in a minute: runaway guard",
            )
        if not exit_:
            denial = self._entry_rules(
                intent, account, by_symbol, held_qty, value, qty, unit_price, working
            )
            if denial is not None:
                return deny(*denial)
        if not operator_exit:
            self._approvals.append(self.monotonic())
        return Approved(intent, now, exit=exit_, value=value)

    @staticmethod
    def _unit_price(
        intent: OrderIntent, price: Decimal | None, held: PositionSnapshot | None
    ) -> Decimal | None:
        """The price to value the order at: the worst (highest) it may plausibly fill at.

        A buy limit above the market fills at its limit, a sell limit above it rests and fills
        at its limit, a buy stop fills at or above its stop: of the market price and the
        order's own prices, the highest. Without any, the position's last price.
        """
        known = [p for p in (price, intent.limit_price, intent.stop_price) if p is not None]
        known = [p for p in known if p > 0]
        if known:
            return max(known)
        if held is not None and held.current_price:
            return held.current_price
        return None

    def _within_rate(self) -> bool:
        window_start = self.monotonic() - 60.0
        approvals = self._approvals
        while approvals and approvals[0] <= window_start:
            approvals.popleft()
        return len(approvals) < self.limits.max_orders_per_minute

    def _entry_rules(
        self,
        intent: OrderIntent,
        account: Account,
        positions: Mapping[str, PositionSnapshot],
        held_qty: Decimal,
        value: Decimal | None,
        qty: Decimal | None,
        unit: Decimal | None,
        open_orders: Sequence[Order],
    ) -> tuple[str, str] | None:
        limits = self.limits
        loss = -self.daily_pl(account)
        if loss >= limits.daily_loss_limit:
            return "daily_loss", (
                f"today's loss ${loss:.2f} has reached the daily limit ${limits.daily_loss_limit}"
            )
        drawdown = self.drawdown_pct(account)
        if drawdown >= limits.max_drawdown_pct:
            return "drawdown", (
                f"equity is {drawdown:.2f}% below its high-water mark "
                f"(limit {limits.max_drawdown_pct}%)"
            )
        if value is None or qty is None or not unit:
            return "no_price", f"no price to value the {intent.symbol} order; try again shortly"
        if value > limits.max_order_notional:
            return "order_notional", (
                f"order value ${value:.2f} exceeds the ${limits.max_order_notional} limit"
            )
        pending = _pending_qty(open_orders, intent.symbol, intent.side, unit)
        after = abs(held_qty + pending + qty * intent.side.sign) * unit
        if after > limits.max_position_notional:
            return "position_notional", (
                f"{intent.symbol} position would be ${after:.2f}, over the "
                f"${limits.max_position_notional} limit"
            )
        if account.equity <= 0:
            return "position_pct", (
                f"equity is ${account.equity:.2f}: no position fits in "
                f"{limits.max_position_pct}% of it"
            )
        if after > account.equity * limits.max_position_pct / _HUNDRED:
            share = after / account.equity * _HUNDRED
            return "position_pct", (
                f"{intent.symbol} position would be {share:.1f}% of equity, over the "
                f"{limits.max_position_pct}% limit"
            )
        if held_qty == 0 and pending == 0:
            denial = self._position_counts(intent, positions, open_orders)
            if denial is not None:
                return denial
        if intent.asset_class is AssetClass.CRYPTO:
            power = min(account.cash, account.buying_power)
            what = "cash (crypto is not bought on margin)"
        else:
            power = account.buying_power
            what = "buying power"
        if value > power:
            return "buying_power", f"order value ${value:.2f} exceeds {what} ${power:.2f}"
        return None

    def _position_counts(
        self,
        intent: OrderIntent,
        positions: Mapping[str, PositionSnapshot],
        open_orders: Sequence[Order],
    ) -> tuple[str, str] | None:
        limits = self.limits
        counts = count_positions_by_type(positions.values())
        # Symbols with opening orders still working will be positions soon: count them.
        for symbol in {o.symbol for o in open_orders if o.is_open and not o.reduce_only}:
            if symbol not in positions and symbol != intent.symbol:
                counts[asset_class_of(symbol)] += 1
        total = sum(counts.values())
        if total >= limits.max_open_positions:
            return (
                "max_positions",
                f"already {total} open positions (limit {limits.max_open_positions})",
            )
        if intent.asset_class is AssetClass.CRYPTO:
            if counts[AssetClass.CRYPTO] >= limits.max_open_crypto_positions:
                return "max_crypto_positions", (
                    f"already {counts[AssetClass.CRYPTO]} crypto positions "
                    f"(limit {limits.max_open_crypto_positions})"
                )
        elif counts[AssetClass.US_EQUITY] >= limits.max_open_stock_positions:
            return "max_stock_positions", (
                f"already {counts[AssetClass.US_EQUITY]} stock positions "
                f"(limit {limits.max_open_stock_positions})"
            )
        return None


def _is_exit(intent: OrderIntent, qty: Decimal | None, held_qty: Decimal, closing: Decimal) -> bool:
    """Whether ``intent`` (``qty`` units) only shrinks a position of ``held_qty`` of which
    ``closing`` is already on its way out through working orders.

    A bracket or OTO order is never an exit: its side may close the position, but its legs,
    once the parent fills, would open it again the other way.
    """
    if held_qty == 0 or qty is None:
        return False
    if intent.order_class in (OrderClass.BRACKET, OrderClass.OTO):
        return False
    against = (held_qty > 0) == (intent.side is OrderSide.SELL)
    return against and qty <= abs(held_qty) - closing


def _remaining(order: Order, unit: Decimal | None) -> Decimal | None:
    """Quantity ``order`` has still to fill; a notional order's is estimated at ``unit``."""
    remaining = order.remaining_qty
    if remaining is not None:
        return max(ZERO, remaining)
    if order.notional is None or not unit:
        return None
    spent = order.filled_qty * (order.filled_avg_price or unit)
    return max(ZERO, order.notional - spent) / unit


def _closing_qty(
    open_orders: Iterable[Order], symbol: str, held_qty: Decimal, unit: Decimal | None
) -> Decimal:
    """Quantity of the position in ``symbol`` that working orders against it will take out
    (Alpaca's ``held_for_orders``). A ``held`` order is a bracket's stop-loss leg waiting on its
    take-profit sibling, which is counted already: only one of the two can fill."""
    if held_qty == 0:
        return ZERO
    closing_side = OrderSide.SELL if held_qty > 0 else OrderSide.BUY
    total = ZERO
    for order in open_orders:
        if (
            order.symbol == symbol
            and order.side is closing_side
            and order.is_open
            and order.status is not OrderStatus.HELD
        ):
            total += _remaining(order, unit) or ZERO
    return total


def _pending_qty(
    open_orders: Iterable[Order], symbol: str, side: OrderSide, unit: Decimal | None
) -> Decimal:
    """Signed quantity still to fill on working ``side`` orders for ``symbol``: exposure that
    may arrive before this order does (orders the other way may never fill, so they free
    nothing). Reduce-only orders count too: a buy closing a short still moves the position up,
    and a further buy starts from where it left it."""
    total = ZERO
    for order in open_orders:
        if order.symbol == symbol and order.side is side and order.is_open:
            remaining = _remaining(order, unit)
            if remaining is not None:
                total += remaining * side.sign
    return total
