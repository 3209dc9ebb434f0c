"""The matching core's state machine: orders waking, triggering, filling, ending, and time passing.

:class:`MatchingEngine` holds the book, the account, the latest prices and the event queue, and
implements everything that happens *to* orders. :class:`pulsetrader.sim.exchange.Exchange`
builds on it with what clients ask for (submit, replace, cancel, queries). Nothing here reads a
clock or does I/O: every entry point takes ``now``, so the same core drives the real-time
simulator and a backtest.

Time rules
----------
- Stock orders are live only during the regular session, except ``extended_hours`` day limit
  orders, which are live from 04:00 ET to four hours after the close. Crypto is always live.
- Stock orders submitted while the market is closed are ``accepted`` and queued (``activate_at``
  is the next open); ``opg`` orders wait for the next open and ``cls`` orders for the close.
- ``ioc``, ``fok``, ``opg`` and ``cls`` are one-shot: evaluated once when live (against the
  current quote), then whatever is left is cancelled.
- Day orders expire at the session close (extended-hours ones at the end of after-hours).
- At every session close the account's ``last_equity`` and each position's ``lastday_price``
  are rolled. That close is the daily reference for crypto too (one reference time for the whole
  account, as the account's ``last_equity`` needs).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from pulsetrader.domain.enums import AssetClass, OrderSide, OrderStatus, OrderType, TimeInForce
from pulsetrader.domain.money import ZERO, ensure_utc
from pulsetrader.domain.symbols import order_symbol
from pulsetrader.sim import matching
from pulsetrader.sim.account import Reservation, SimAccount
from pulsetrader.sim.assets import NINE_DECIMALS, AssetRegistry, SimAsset
from pulsetrader.sim.events import TradeUpdate, fill_activity
from pulsetrader.sim.matching import QuoteLike, TradeLike
from pulsetrader.sim.orders import SimOrder, random_uuid

NEW_YORK = ZoneInfo("America/New_York")
PRE_MARKET_OPEN = time(4, 0)
AFTER_HOURS = timedelta(hours=4)
ONE_SHOT = frozenset({TimeInForce.IOC, TimeInForce.FOK, TimeInForce.OPG, TimeInForce.CLS})
_LIVE = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.ACCEPTED})
OPENING_INTENTS = frozenset({"buy_to_open", "sell_to_open"})


class SessionLike(Protocol):
    @property
    def open(self) -> datetime: ...
    @property
    def close(self) -> datetime: ...


class CalendarLike(Protocol):
    """The part of :class:`pulsetrader.sim.calendar.MarketCalendar` the exchange uses."""

    def is_open(self, ts: datetime, /) -> bool: ...
    def session(self, day: date, /) -> SessionLike | None: ...
    def next_open(self, ts: datetime, /) -> datetime: ...


@dataclass(frozen=True, slots=True)
class ExchangeConfig:
    """Behaviour knobs. ``partial_fill_rate`` is the chance an eligible fill is partial (Alpaca
    paper: 0.1; the default 0 keeps tests deterministic without thinking about randomness)."""

    partial_fill_rate: float = 0.0
    starting_cash: Decimal = Decimal(100000)
    crypto_min_notional: Decimal = Decimal("1")
    seed: int = 0
    allow_shorting: bool = True
    market_buy_reserve: Decimal = Decimal("1.03")


def et_date(ts: datetime) -> date:
    """The New York calendar date of ``ts`` (sessions are named by it)."""
    return ensure_utc(ts).astimezone(NEW_YORK).date()


class MatchingEngine:
    """Orders, account, prices and events, and the rules that move orders along."""

    def __init__(
        self,
        calendar: CalendarLike,
        assets: AssetRegistry,
        config: ExchangeConfig | None = None,
        account: SimAccount | None = None,
    ) -> None:
        self.calendar = calendar
        self.assets = assets
        self.config = config or ExchangeConfig()
        # Not for security: a seeded generator makes ids and partial fills reproducible.
        self.rng = random.Random(self.config.seed)  # noqa: S311
        self.account = account or SimAccount.open(self.config.starting_cash, self.rng)
        self._orders: dict[str, SimOrder] = {}
        self._client_ids: dict[str, SimOrder] = {}
        self._open: dict[str, dict[str, SimOrder]] = {}
        self._quotes: dict[str, QuoteLike] = {}
        self._last_trade: dict[str, Decimal] = {}
        self._prev_close: dict[str, Decimal] = {}
        self._events: list[TradeUpdate] = []
        self._listeners: list[Callable[[TradeUpdate], None]] = []
        self._activities: list[tuple[datetime, dict[str, Any]]] = []
        self._clock: datetime | None = None
        self._seq = 0

    # -- prices -----------------------------------------------------------------------------------
    def quote(self, symbol: str) -> QuoteLike | None:
        """The latest quote for ``symbol`` (either spelling), if any."""
        return self._quotes.get(order_symbol(symbol))

    def mark(self, symbol: str) -> Decimal | None:
        """The valuation price: the last trade, else the quote midpoint (else the one side)."""
        sym = order_symbol(symbol)
        trade = self._last_trade.get(sym)
        if trade is not None:
            return trade
        quote = self._quotes.get(sym)
        if quote is None:
            return None
        bid, ask = quote.bid_price, quote.ask_price
        if bid > 0 and ask > 0:
            return (bid + ask) / 2
        return ask if ask > 0 else (bid if bid > 0 else None)

    def reference_price(self, symbol: str, side: OrderSide) -> Decimal | None:
        """The price a market order of ``side`` would see (ask/bid), else the mark."""
        quote = self._quotes.get(symbol)
        price = matching.quote_price(side, quote) if quote is not None else None
        return price if price is not None else self.mark(symbol)

    def _refresh_mark(self, symbol: str) -> None:
        position = self.account.positions.get(symbol)
        price = self.mark(symbol)
        if position is not None and price is not None:
            position.current_price = price

    # -- market data entry points -----------------------------------------------------------------
    def update_quote(self, quote: QuoteLike, now: datetime) -> None:
        """Record the latest quote, then let that symbol's live orders trade against it."""
        self.advance(now)
        symbol = order_symbol(quote.symbol)
        self._quotes[symbol] = quote
        self._refresh_mark(symbol)
        for order in list(self._open.get(symbol, {}).values()):
            if self._is_live(order, now):
                self._evaluate(order, now)

    def update_trade(self, trade: TradeLike, now: datetime) -> None:
        """Record the last trade price (positions are valued at it). Trades do not fill orders."""
        self.advance(now)
        symbol = order_symbol(trade.symbol)
        if trade.price > 0:
            self._last_trade[symbol] = trade.price
        self._refresh_mark(symbol)

    # -- time -------------------------------------------------------------------------------------
    def advance(self, now: datetime) -> None:
        """Let time pass up to ``now``: run closing auctions, expire day orders, roll the day.

        Idempotent, and a ``now`` earlier than the last one seen is ignored (time never runs
        backwards). Every other entry point calls this first.
        """
        now = ensure_utc(now)
        if self.account.created_at is None:
            self.account.created_at = now
        if self._clock is None:
            self._clock = now
            return
        if now <= self._clock:
            return
        for close in self._closes_between(self._clock, now):
            self._expire_due(close - timedelta(microseconds=1))
            self._run_close(close)
        self._expire_due(now)
        self._clock = now

    def _closes_between(self, start: datetime, end: datetime) -> Iterator[datetime]:
        day, last = et_date(start), et_date(end)
        while day <= last:
            session = self.calendar.session(day)
            if session is not None and start < session.close <= end:
                yield session.close
            day += timedelta(days=1)

    def _run_close(self, close: datetime) -> None:
        """The closing auction (cls orders at the last quote), expiries, then the daily roll."""
        for order in self._open_orders():
            due = order.activate_at is None or order.activate_at <= close
            if order.time_in_force is TimeInForce.CLS and order.is_open and due:
                self._evaluate(order, close)
        self._expire_due(close)
        self.account.close_day()
        for symbol in set(self._quotes) | set(self._last_trade):
            price = self.mark(symbol)
            if price is not None:
                self._prev_close[symbol] = price

    def _expire_due(self, at: datetime) -> None:
        due = [
            o
            for book in self._open.values()
            for o in book.values()
            if o.expires_at is not None and o.expires_at <= at
        ]
        for order in sorted(due, key=lambda o: (o.expires_at or at, o.seq)):
            if order.is_open:
                self._end(order, OrderStatus.EXPIRED, order.expires_at or at)
                self._after_terminal(order, order.expires_at or at)

    def _is_live(self, order: SimOrder, at: datetime) -> bool:
        """Whether ``order`` may trade at ``at`` (status, queueing, and market hours)."""
        if order.status not in _LIVE or order.time_in_force is TimeInForce.CLS:
            return False
        if order.activate_at is not None and at < order.activate_at:
            return False
        if order.asset_class is AssetClass.CRYPTO or self.calendar.is_open(at):
            return True
        return order.extended_hours and self._in_extended_hours(at)

    def _in_extended_hours(self, at: datetime) -> bool:
        day = et_date(at)
        session = self.calendar.session(day)
        if session is None:
            return False
        pre_open = datetime.combine(day, PRE_MARKET_OPEN, tzinfo=NEW_YORK)
        return pre_open <= at < session.close + AFTER_HOURS

    def session_close_after(self, at: datetime, extended: bool = False) -> datetime | None:
        """The end of the session in progress at ``at`` (or of the next one): a day order's
        ``expires_at``. ``extended`` adds the after-hours session."""
        extra = AFTER_HOURS if extended else timedelta(0)
        session = self.calendar.session(et_date(at))
        if session is not None and at < session.close + extra:
            return session.close + extra
        following = self.calendar.session(et_date(self.calendar.next_open(at)))
        return following.close + extra if following is not None else None

    def schedule(self, order: SimOrder, at: datetime) -> None:
        """Set a just-created (or just-activated) order's status, ``activate_at`` and expiry."""
        order.status = OrderStatus.NEW
        if order.asset_class is AssetClass.CRYPTO:
            return
        tif = order.time_in_force
        is_open = self.calendar.is_open(at)
        if tif is TimeInForce.OPG:
            order.status = OrderStatus.ACCEPTED
            order.activate_at = self.calendar.next_open(at)
            order.expires_at = self.session_close_after(order.activate_at)
            return
        if tif is TimeInForce.CLS:
            order.activate_at = self.session_close_after(at)
            order.status = OrderStatus.NEW if is_open else OrderStatus.ACCEPTED
            return
        live_now = is_open or (order.extended_hours and self._in_extended_hours(at))
        if not live_now:
            order.status = OrderStatus.ACCEPTED
            if not order.extended_hours:
                order.activate_at = self.calendar.next_open(at)
        if tif is TimeInForce.DAY:
            order.expires_at = self.session_close_after(at, order.extended_hours)

    # -- the book ---------------------------------------------------------------------------------
    def _open_orders(self, symbol: str | None = None) -> list[SimOrder]:
        """Open orders in submission order (optionally for one symbol)."""
        if symbol is not None:
            return list(self._open.get(symbol, {}).values())
        orders = [o for book in self._open.values() for o in book.values()]
        return sorted(orders, key=lambda o: o.seq)

    def _register(self, order: SimOrder) -> None:
        self._seq += 1
        order.seq = self._seq
        self._orders[order.id] = order
        self._client_ids[order.client_order_id] = order
        self._open.setdefault(order.symbol, {})[order.id] = order

    def new_id(self) -> str:
        return random_uuid(self.rng)

    def asset_of(self, order: SimOrder) -> SimAsset:
        asset = self.assets.get(order.symbol)
        if asset is None:  # orders are only created for listed assets
            raise LookupError(f"order {order.id} is for unlisted {order.symbol}")
        return asset

    # -- events -----------------------------------------------------------------------------------
    def add_listener(self, callback: Callable[[TradeUpdate], None]) -> None:
        """Call ``callback`` synchronously with every trade update, as it happens."""
        self._listeners.append(callback)

    def drain_events(self) -> list[TradeUpdate]:
        """Return and forget the trade updates queued since the last drain, oldest first."""
        events, self._events = self._events, []
        return events

    def _emit(
        self,
        event: str,
        order: SimOrder,
        at: datetime,
        execution_id: str | None = None,
        price: Decimal | None = None,
        qty: Decimal | None = None,
        position_qty: Decimal | None = None,
    ) -> None:
        update = TradeUpdate(
            event=event,
            order=order.to_alpaca(nested=True),
            timestamp=at,
            execution_id=execution_id,
            price=price,
            qty=qty,
            position_qty=position_qty,
        )
        self._events.append(update)
        for listener in self._listeners:
            listener(update)

    # -- order transitions ------------------------------------------------------------------------
    def _end(self, order: SimOrder, status: OrderStatus, at: datetime, emit: bool = True) -> None:
        """Move ``order`` to a terminal ``status`` (not FILLED: fills go through ``_fill``)."""
        order.status = status
        order.updated_at = at
        if status is OrderStatus.CANCELED:
            order.canceled_at = at
        elif status is OrderStatus.EXPIRED:
            order.expired_at = at
        elif status is OrderStatus.REPLACED:
            order.replaced_at = at
        self._open.get(order.symbol, {}).pop(order.id, None)
        if emit:
            self._emit(status.value, order, at)

    def cancel_tree(self, order: SimOrder, at: datetime) -> list[SimOrder]:
        """Cancel ``order`` and its open legs; return every order cancelled."""
        cancelled: list[SimOrder] = []
        if order.is_open:
            self._end(order, OrderStatus.CANCELED, at)
            cancelled.append(order)
        for leg in order.legs:
            cancelled.extend(self.cancel_tree(leg, at))
        return cancelled

    def oco_siblings(self, order: SimOrder) -> list[SimOrder]:
        if order.oco_group is None:
            return []
        return [
            o
            for o in self._open_orders(order.symbol)
            if o is not order and o.oco_group == order.oco_group
        ]

    def _after_terminal(self, order: SimOrder, at: datetime) -> None:
        """A parent that ended wakes its held legs for what it filled, or cancels them."""
        for leg in order.legs:
            if leg.status is not OrderStatus.HELD:
                continue
            if order.filled_qty > 0:
                leg.qty = order.filled_qty
                leg.updated_at = at
                self.schedule(leg, at)
                self._emit("new", leg, at)
            else:
                self._end(leg, OrderStatus.CANCELED, at)
        for leg in order.legs:
            if leg.is_open and self._is_live(leg, at):
                self._evaluate(leg, at)

    def _evaluate(self, order: SimOrder, at: datetime) -> None:
        """Trigger and fill ``order`` against its symbol's current quote, as far as it goes."""
        quote = self._quotes.get(order.symbol)
        one_shot = order.time_in_force in ONE_SHOT
        if quote is None:
            if one_shot and order.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
                self._end(order, OrderStatus.CANCELED, at)  # nothing to trade against: no fill
            return
        if order.status is OrderStatus.ACCEPTED:
            order.status = OrderStatus.NEW  # queued order goes live; Alpaca sends no new event
            order.updated_at = at
        asset = self.asset_of(order)
        if matching.update_trailing(order, quote, asset):
            order.updated_at = at
        if matching.check_trigger(order, quote):
            order.triggered = True
            order.updated_at = at
        price = matching.fill_price(order, quote)
        if price is not None:
            qty = self._fill_qty(order, price, asset)
            if qty > 0:
                self._fill(order, qty, price, at)
        if one_shot and order.is_open:
            self._end(order, OrderStatus.CANCELED, at)
            self._after_terminal(order, at)

    def _fill_qty(self, order: SimOrder, price: Decimal, asset: SimAsset) -> Decimal:
        """How much fills now: all of it, or (with ``partial_fill_rate``) a random 10-90%."""
        if order.notional is not None:
            # A notional order fills in one go: its quantity only exists at the fill price.
            increment = asset.min_trade_increment or NINE_DECIMALS
            return matching.notional_qty(order.notional, price, increment)
        remaining = order.remaining_qty or ZERO
        rate = self.config.partial_fill_rate
        if order.time_in_force is TimeInForce.FOK or rate <= 0 or self.rng.random() >= rate:
            return remaining
        fraction = Decimal(self.rng.randint(10, 90)) / 100
        whole = not asset.is_crypto and (order.qty or ZERO) % 1 == 0
        increment = asset.min_trade_increment or NINE_DECIMALS
        return matching.partial_qty(remaining, fraction, whole, increment)

    def _fill(self, order: SimOrder, qty: Decimal, price: Decimal, at: datetime) -> None:
        """Book one execution: order, account, activity, event, then legs and OCO siblings."""
        asset = self.asset_of(order)
        execution_id = self.new_id()
        order.record_fill(qty, price, at)
        position_qty = self.account.apply_fill(
            asset, order.side, qty, price, self._prev_close.get(asset.symbol)
        )
        self._refresh_mark(asset.symbol)
        if order.status is OrderStatus.FILLED:
            self._open.get(order.symbol, {}).pop(order.id, None)
        self._activities.append(
            (at, fill_activity(order, execution_id, price, qty, at, asset.position_symbol))
        )
        event = "fill" if order.status is OrderStatus.FILLED else "partial_fill"
        self._emit(event, order, at, execution_id, price, qty, position_qty)
        for sibling in self.oco_siblings(order):
            if order.status is OrderStatus.FILLED:
                self._end(sibling, OrderStatus.CANCELED, at)
            else:
                # Both legs keep protecting exactly what is left of the position.
                sibling.qty = sibling.filled_qty + (order.remaining_qty or ZERO)
                sibling.updated_at = at
        if order.status is OrderStatus.FILLED:
            self._after_terminal(order, at)

    # -- reservations and holdings ----------------------------------------------------------------
    def unit_price(
        self,
        symbol: str,
        side: OrderSide,
        order_type: OrderType,
        limit: Decimal | None,
        stop: Decimal | None,
    ) -> Decimal:
        """Per-unit price an opening order is valued at for buying power.

        Buys: the limit for limit types, else the higher of ask and stop, times
        ``market_buy_reserve``. Short sales: ``max(limit, ask * market_buy_reserve)`` (Alpaca's
        rule, which protects against the ask moving before the short fills).
        """
        if side is OrderSide.BUY and limit is not None and order_type.needs_limit_price:
            return limit  # the common case, and it needs no quote
        reserve = self.config.market_buy_reserve
        quote = self._quotes.get(symbol)
        ask = matching.quote_price(OrderSide.BUY, quote) if quote is not None else None
        ref = ask if ask is not None else self.mark(symbol)
        if side is OrderSide.BUY:
            candidates = [p for p in (ref, stop) if p is not None]
            return max(candidates) * reserve if candidates else ZERO
        candidates = [p for p in (limit, ref * reserve if ref is not None else None, stop) if p]
        return max(candidates) if candidates else ZERO

    def order_value(self, order: SimOrder) -> Decimal:
        """The buying power the unfilled part of an opening order holds back."""
        if order.notional is not None:
            return max(ZERO, order.notional - order.filled_value)
        unit = self.unit_price(
            order.symbol, order.side, order.type, order.limit_price, order.stop_price
        )
        return (order.remaining_qty or ZERO) * unit

    def reservation(self, exclude: Collection[SimOrder] = ()) -> Reservation:
        """Margin and cash held back by open orders that open or add to a position.

        Every account read and every submission sums over the whole book, so this stays lean:
        no sorting by submission (Decimal sums of prices times quantities are exact well inside
        the context's 28 digits, so their order does not change them) and the common case, a
        limit buy for a quantity, valued inline (the same figure :meth:`order_value` gives).
        """
        margin = cash = ZERO
        rate_stock = Decimal(1) / self.account.leverage
        held, buy, crypto = OrderStatus.HELD, OrderSide.BUY, AssetClass.CRYPTO
        limit_types = (OrderType.LIMIT, OrderType.STOP_LIMIT)
        for book in self._open.values():
            for order in book.values():
                if order.status is held or order.position_intent not in OPENING_INTENTS:
                    continue
                if exclude and order in exclude:
                    continue
                if (
                    order.notional is None
                    and order.qty is not None
                    and order.side is buy
                    and order.limit_price is not None
                    and order.type in limit_types
                ):
                    value = (order.qty - order.filled_qty) * order.limit_price
                else:
                    value = self.order_value(order)
                if order.asset_class is crypto:
                    margin += value
                    cash += value
                else:
                    margin += value * rate_stock
        return Reservation(margin=margin, cash=cash)

    def held_qty(self, symbol: str, side: OrderSide, exclude: Collection[SimOrder] = ()) -> Decimal:
        """Quantity open ``side`` orders would take out of the position (Alpaca's
        ``held_for_orders``). The legs of one OCO group count once: only one of them can fill."""
        total = ZERO
        groups: dict[str, Decimal] = {}
        for order in self._open_orders(symbol):
            if order in exclude or order.side is not side or order.status is OrderStatus.HELD:
                continue
            remaining = order.remaining_qty
            if remaining is None:  # notional: estimate the quantity at today's price
                price = self.reference_price(symbol, side)
                unfilled = max(ZERO, (order.notional or ZERO) - order.filled_value)
                remaining = unfilled / price if price else ZERO
            if order.oco_group is not None:
                groups[order.oco_group] = max(groups.get(order.oco_group, ZERO), remaining)
            else:
                total += remaining
        return total + sum(groups.values(), ZERO)
