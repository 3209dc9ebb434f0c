"""OrderManager: the only way an order reaches the broker, and the keeper of orders and fills.

The order path (:meth:`OrderManager.submit_order`)::

    intent -> RiskManager.validate_trade -> decision journaled
           -> Denied: logged, returned; nothing is sent
           -> Approved: client_order_id, Order(pending_new) journaled with its intent
              -> AlpacaClient.submit_order (exactly once; see its docstring)
              -> the broker's answer merged into the order, journaled

After that, order state is driven by ``trade_updates`` (:meth:`on_order_update`): fills are
counted once per execution (:class:`~pulsetrader.execution.book.ExecutionBook`) into positions
and realized P/L, status updates after a terminal status are ignored, and orders the broker knows
but we do not (bracket legs, orders placed elsewhere) are adopted. While the stream is down, open
orders are polled over REST and missed executions read from the account's FILL activities.

Anything uncertain (a submission whose fate is unknown, a stream that reconnected, a restart)
goes through one code path, :meth:`reconcile`; new entries wait until it is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from loguru import logger

from pulsetrader.account import AccountManager
from pulsetrader.broker.client import AlpacaClient
from pulsetrader.broker.errors import (
    BrokerError,
    InvalidRequest,
    NotFound,
    OrderRejected,
    OrderStatusUnknown,
    RateLimitError,
)
from pulsetrader.broker.orders import new_client_order_id
from pulsetrader.domain.enums import AssetClass, OrderSide, OrderStatus, OrderType, TimeInForce
from pulsetrader.domain.errors import DomainError
from pulsetrader.domain.events import OrderUpdate
from pulsetrader.domain.fills import Fill
from pulsetrader.domain.intents import OrderIntent
from pulsetrader.domain.money import ZERO, Number, decimal_str, to_decimal
from pulsetrader.domain.orders import Order
from pulsetrader.domain.position import Position
from pulsetrader.domain.snapshots import AssetInfo, FillActivity, PositionSnapshot
from pulsetrader.domain.symbols import asset_class_of, order_symbol
from pulsetrader.execution.book import BookedFill, ExecutionBook
from pulsetrader.execution.ports import OrderJournal
from pulsetrader.execution.reconcile import reconcile as run_reconciliation
from pulsetrader.execution.unsettled import Unsettled
from pulsetrader.market_data.feed import MarketDataFeed
from pulsetrader.risk.decisions import Denied, RiskDecision
from pulsetrader.risk.manager import RiskManager, count_positions_by_type
from pulsetrader.streaming.events import StreamEvent, StreamEventKind

FillListener = Callable[[BookedFill, Order | None], None]
OrderListener = Callable[[Order], None]
DecisionListener = Callable[[RiskDecision], None]

_WATERMARK = "orders.fill_watermark"
_TAKEN = "orders.positions_taken"
_CRYPTO_STEP = Decimal("0.000000001")


class OrderManager:
    """Orders, fills, positions and realized P/L, consistent with the broker.

    ``clock`` is the broker's time. ``poll_interval`` is how often open orders are polled while
    the order stream is down. ``price_max_age`` is how old (seconds) a cached price may be to
    value an order without asking the broker first.
    """

    def __init__(
        self,
        client: AlpacaClient,
        accounts: AccountManager,
        feed: MarketDataFeed,
        risk: RiskManager,
        journal: OrderJournal,
        *,
        clock: Callable[[], datetime] | None = None,
        poll_interval: float = 2.0,
        client_order_prefix: str = "pt",
        price_max_age: float = 15.0,
    ) -> None:
        self.client = client
        self.accounts = accounts
        self.feed = feed
        self.risk = risk
        self.journal = journal
        self.clock = clock or client.clock
        self.poll_interval = poll_interval
        self.prefix = client_order_prefix
        self.price_max_age = price_max_age
        self.orders: dict[str, Order] = {}
        self._by_broker_id: dict[str, str] = {}
        # The client order ids of every order that was open when remembered: a superset of the
        # open orders (a finished order is dropped on the next look; nothing leaves a terminal
        # status), so open_orders() costs the working orders, not every order of the session.
        self._maybe_open: dict[str, None] = {}
        self.book = ExecutionBook(journal.load_positions(), [r.fill for r in journal.fills()])
        for order in journal.load_orders():
            self._remember(order)
        self.stream_connected = False
        self.reconciled = False
        self._reconcile_lock = asyncio.Lock()
        self._reconcile_task: asyncio.Task[Any] | None = None
        self._poll_task: asyncio.Task[None] | None = None
        # Orders a snapshot (REST or stream) showed with more filled than the book holds: their
        # executions are still to be booked (by the stream's fill events, by polling while it
        # is down, or by reconciliation).
        self._unbooked: set[str] = set()
        # Client order ids whose submission is awaiting the broker's answer. Reconciliation
        # leaves them alone: before, one running meanwhile (after a stream reconnect) found no
        # such order at the broker yet, marked it rejected "never received", and the order
        # that then landed and filled stayed rejected in the journal for good.
        self.in_flight: set[str] = set()
        self._reconcile_again: str | None = None
        self._stopped = False
        # Per symbol, the broker time at which reconciliation last took its position from the
        # broker: executions before it are inside that position, and booking one later (a late
        # stream event, an activities read reaching back) would count it twice.
        taken = json.loads(journal.get_state(_TAKEN) or "{}")
        self._positions_taken: dict[str, datetime] = {
            symbol: datetime.fromisoformat(at) for symbol, at in taken.items()
        }
        # Our changes the account manager's last snapshot may not show yet (see unsettled.py).
        self._unsettled = Unsettled()
        self._fill_listeners: list[FillListener] = []
        self._order_listeners: list[OrderListener] = []
        self._decision_listeners: list[DecisionListener] = []

    # -- listeners ----------------------------------------------------------------------------

    def on_fill(self, listener: FillListener) -> None:
        """Call ``listener(booked_fill, order)`` for every new execution."""
        self._fill_listeners.append(listener)

    def on_order(self, listener: OrderListener) -> None:
        """Call ``listener(order)`` whenever an order changes."""
        self._order_listeners.append(listener)

    def on_decision(self, listener: DecisionListener) -> None:
        """Call ``listener(decision)`` for every risk decision."""
        self._decision_listeners.append(listener)

    def _notify(self, listeners: Iterable[Callable[..., None]], *args: Any) -> None:
        for listener in listeners:
            try:
                listener(*args)
            except Exception:  # an observer's bug must not break order handling
                logger.exception("order listener {!r} failed", listener)

    # -- the cache ----------------------------------------------------------------------------

    def _remember(self, order: Order) -> None:
        self.orders[order.client_order_id] = order
        if order.is_open:
            self._maybe_open[order.client_order_id] = None
        if order.broker_order_id:
            self._by_broker_id[order.broker_order_id] = order.client_order_id
        for leg in order.legs:
            if leg.client_order_id not in self.orders:
                self._remember(leg)

    def find(
        self, client_order_id: str | None = None, broker_order_id: str | None = None
    ) -> Order | None:
        """A cached order by either id."""
        if client_order_id and client_order_id in self.orders:
            return self.orders[client_order_id]
        if broker_order_id:
            coid = self._by_broker_id.get(broker_order_id)
            if coid is not None:
                return self.orders.get(coid)
        return None

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders that may still fill, newest first."""
        wanted = order_symbol(symbol) if symbol else None
        found = []
        for coid in list(self._maybe_open):
            order = self.orders.get(coid)
            if order is None or not order.is_open:
                del self._maybe_open[coid]
            elif wanted is None or order.symbol == wanted:
                found.append(order)
        return sorted(found, key=lambda o: o.created_at, reverse=True)

    def _save(self, order: Order) -> None:
        self.journal.record_order(order)
        self._notify(self._order_listeners, order)

    # -- helpers the seed names (task 9.7) -------------------------------------------------------

    @staticmethod
    def _get_asset_type(symbol: str) -> AssetClass:
        """Stocks or crypto, from the symbol."""
        return asset_class_of(symbol)

    @staticmethod
    def _count_positions_by_type(positions: Iterable[PositionSnapshot]) -> dict[AssetClass, int]:
        """Open positions per asset class."""
        return count_positions_by_type(positions)

    def _generate_client_order_id(self) -> str:
        """A fresh, unique client order id (Alpaca refuses a reused one, ever)."""
        return new_client_order_id(self.prefix)

    # -- submitting -----------------------------------------------------------------------------

    async def submit_order(self, intent: OrderIntent) -> Order | Denied:
        """Validate, journal and send ``intent``; the order, or the risk manager's denial.

        A broker refusal returns the order ``rejected`` with the reason; a submission whose fate
        is unknown returns it ``pending_new`` and reconciliation settles it. Raises only for
        programming errors.
        """
        decision = await self._decide(intent)
        if isinstance(decision, Denied):
            return decision
        coid = intent.client_order_id or self._generate_client_order_id()
        if coid in self.orders:
            denial = Denied(intent, self.clock(), "duplicate_id", f"client_order_id {coid} is used")
            self._record_decision(denial, None)
            return denial
        order = Order.from_intent(intent, coid, now=self.clock())
        # The intent is durable before the broker hears of it: a crash from here on is settled
        # by reconciliation, which asks the broker for this id instead of sending it again.
        # The approval goes in the same commit.
        self.journal.record_intent(order, intent, approved_at=decision.at)
        self._remember(order)
        self._notify(self._decision_listeners, decision)
        self.in_flight.add(coid)
        try:
            placed = await self.client.submit_order(intent, coid)
        except OrderStatusUnknown as exc:
            logger.opt(exception=exc).error(
                "order {} ({} {} {}) may or may not be at the broker: {}; reconciling",
                coid,
                intent.side.value,
                intent.qty if intent.qty is not None else f"${intent.notional}",
                intent.symbol,
                exc,
            )
            self._schedule_reconcile(f"unknown outcome of {coid}")
            return order
        except (OrderRejected, InvalidRequest, RateLimitError) as exc:
            # A definite refusal (or a 429 that was never processed): nothing is at the broker.
            return self._reject(order, str(exc))
        except BrokerError as exc:
            logger.opt(exception=exc).error(
                "order {} ({} {} {}) failed: {}; reconciling",
                coid,
                intent.side.value,
                intent.qty if intent.qty is not None else f"${intent.notional}",
                intent.symbol,
                exc,
            )
            self._schedule_reconcile(f"failed submission of {coid}")
            return order
        finally:
            self.in_flight.discard(coid)
        self._merge(order, placed)
        change = self.accounts.mark_changed()
        if not decision.exit and decision.value is not None:
            self._unsettled.accepted(change, decision.value)
        logger.info(
            "order {} accepted by the broker as {} ({})",
            coid,
            order.broker_order_id,
            order.status.value,
        )
        self._save(order)
        return order

    async def _decide(self, intent: OrderIntent) -> RiskDecision:
        now = self.clock()
        if not self.reconciled and not intent.reduce_only:
            decision: RiskDecision = Denied(
                intent, now, "reconciling", "reconciliation with the broker is not finished"
            )
        else:
            try:
                # The newest snapshot, without waiting for the reload our last order or fill
                # started: what it may not show yet is applied here.
                snapshot, broker_positions, seen = await self.accounts.risk_snapshot()
                account, positions = self._unsettled.apply(snapshot, broker_positions, seen)
                # The market price always: a limit or stop away from it is valued at the worse.
                # A price from the last refresh interval does, renewed in the background: the
                # order does not wait for the broker's latest trade.
                price = await self.feed.get_current_price(intent.symbol, max_age=self.price_max_age)
                asset = await self._asset(intent.symbol)
                decision = self.risk.validate_trade(
                    intent,
                    account,
                    positions,
                    price=price,
                    open_orders=self.open_orders(),
                    asset=asset,
                )
            except BrokerError as exc:
                decision = Denied(intent, now, "broker_unavailable", f"cannot check risk: {exc}")
        if isinstance(decision, Denied):
            logger.warning(
                "order denied ({}): {} {} {}: {}",
                decision.rule,
                intent.side.value,
                intent.symbol,
                intent.strategy or "manual",
                decision.reason,
            )
            self._record_decision(decision, None)
        return decision

    async def _asset(self, symbol: str) -> AssetInfo | None:
        """The instrument's rules (fractionable, shortable, tradable), fetched once per symbol.

        None when the broker cannot say: the broker then checks those rules itself.
        """
        known = self.risk.assets.get(symbol)
        if known is not None:
            return known
        try:
            info = await self.client.get_asset(symbol)
        except BrokerError as exc:
            logger.debug("asset {} unknown: {}", symbol, exc)
            return None
        self.risk.assets[symbol] = info
        return info

    def _record_decision(self, decision: RiskDecision, coid: str | None) -> None:
        self.journal.record_decision(
            decision.intent, decision.approved, decision.reason, decision.rule, decision.at, coid
        )
        self._notify(self._decision_listeners, decision)

    def _reject(self, order: Order, reason: str) -> Order:
        order.reject_reason = reason
        order.apply_update(OrderStatus.REJECTED, None, None, self.clock())
        logger.warning("order {} rejected: {}", order.client_order_id, reason)
        self._save(order)
        return order

    def _merge(self, order: Order, snap: Order) -> None:
        """Bring ``order`` up to the broker's ``snap`` of it (ids, status, fills, legs)."""
        if snap.broker_order_id and order.broker_order_id != snap.broker_order_id:
            order.broker_order_id = snap.broker_order_id
            self._by_broker_id[snap.broker_order_id] = order.client_order_id
        order.submitted_at = order.submitted_at or snap.submitted_at
        order.replaced_by = snap.replaced_by or order.replaced_by
        order.replaces = snap.replaces or order.replaces
        if snap.legs:
            order.legs = snap.legs
            for leg in snap.legs:
                known = self.find(leg.client_order_id, leg.broker_order_id)
                if known is None:
                    self._remember(leg)
                    self.journal.record_order(leg)
        try:
            order.apply_update(snap.status, snap.filled_qty, snap.filled_avg_price, snap.updated_at)
        except DomainError as exc:
            logger.warning("broker update for {} not applied: {}", order.client_order_id, exc)
        if self._lags_book(order):
            self._unbooked.add(order.client_order_id)

    def _lags_book(self, order: Order) -> bool:
        """Whether ``order`` has filled more than the book has booked for it."""
        broker_id = order.broker_order_id
        return bool(broker_id) and not self.book.covered(broker_id or "", order.filled_qty)

    # -- cancelling and closing -----------------------------------------------------------------

    async def cancel_order(self, client_order_id: str) -> bool:
        """Ask the broker to cancel; the outcome arrives as an update. False if not open."""
        order = self.orders.get(client_order_id)
        if order is None or order.is_terminal:
            return False
        if order.broker_order_id is None:
            await self.reconcile(f"cancel of {client_order_id}")
            if order.broker_order_id is None or order.is_terminal:
                return False
        try:
            await self.client.cancel_order(order.broker_order_id)
        except NotFound:
            await self.refresh_order(order)
            return False
        except InvalidRequest as exc:  # e.g. already filled: the broker's state wins
            logger.info("cancel of {} refused: {}", client_order_id, exc)
            await self.refresh_order(order)
            return False
        logger.info("cancel requested for {}", client_order_id)
        return True

    async def cancel_all_orders(self) -> int:
        """Cancel every open order; how many cancels were requested."""
        count = 0
        for order in self.open_orders():
            if await self.cancel_order(order.client_order_id):
                count += 1
        return count

    async def _snapshot(self, order: Order) -> Order | None:
        """The broker's current view of ``order`` (None if it has none or cannot answer)."""
        try:
            if order.broker_order_id:
                return await self.client.get_order(order.broker_order_id)
            return await self.client.get_order_by_client_id(order.client_order_id)
        except BrokerError as exc:
            logger.warning("could not refresh order {}: {}", order.client_order_id, exc)
            return None

    async def refresh_order(self, order: Order, *, book_fills: bool = True) -> None:
        """Reload one order from the broker and merge it; book executions it shows."""
        snap = await self._snapshot(order)
        if snap is None:
            return
        before = order.filled_qty
        self._merge(order, snap)
        self._save(order)
        if book_fills and order.filled_qty > before:
            await self.sync_fills()

    def close_intent(
        self,
        position: PositionSnapshot,
        *,
        qty: Number | None = None,
        percentage: Number | None = None,
    ) -> OrderIntent:
        """The market order that closes ``position`` (all, ``qty`` of it, or ``percentage``).

        The opposite side and the exact quantity: a long of 1.5 is closed by selling 1.5, a
        short of 2 by buying 2; crypto with gtc (its only market TIF besides ioc), stock with day.
        A percentage of a whole-share position is rounded down to whole shares (a fractional
        close of a non-fractionable stock would be refused), of crypto to Alpaca's 9 places.
        """
        held = abs(position.qty)
        if qty is not None and percentage is not None:
            raise ValueError("give qty or percentage, not both")
        amount = held
        if qty is not None:
            amount = min(to_decimal(qty), held)
        elif percentage is not None:
            share = to_decimal(percentage)
            if not 0 < share <= 100:
                raise ValueError("percentage must be in (0, 100]")
            amount = held * share / Decimal(100)
            if position.asset_class is AssetClass.CRYPTO:
                amount = amount.quantize(_CRYPTO_STEP, rounding=ROUND_DOWN)
            elif held == held.to_integral_value():
                amount = amount.to_integral_value(rounding=ROUND_DOWN)
        if amount <= 0:
            raise ValueError(f"nothing to close: {amount} of {position.symbol}")
        side = OrderSide.SELL if position.qty > 0 else OrderSide.BUY
        crypto = position.asset_class is AssetClass.CRYPTO
        return OrderIntent(
            symbol=position.symbol,
            side=side,
            qty=amount,
            type=OrderType.MARKET,
            time_in_force=TimeInForce.GTC if crypto else TimeInForce.DAY,
            reduce_only=True,
        )

    async def close_position(
        self,
        symbol: str,
        *,
        qty: Number | None = None,
        percentage: Number | None = None,
        cancel_orders: bool = True,
        strategy: str | None = None,
    ) -> Order | Denied | None:
        """Close a position with an opposite market order (risk-checked, exactly once).

        Open orders in the symbol are cancelled first by default (they may hold the quantity).
        None when there is no position.
        """
        symbol = order_symbol(symbol)
        position = await self.accounts.get_position(symbol)
        if position is None:
            self.accounts.invalidate()
            position = await self.accounts.get_position(symbol)
        if position is None:
            return None
        if cancel_orders:
            await self._cancel_and_wait(symbol)
        intent = self.close_intent(position, qty=qty, percentage=percentage)
        if strategy is not None:
            intent = dataclasses.replace(intent, strategy=strategy)
        logger.info("closing {} {} of {}", intent.side.value, intent.qty, symbol)
        return await self.submit_order(intent)

    async def close_all_positions(self, *, cancel_orders: bool = True) -> list[Order | Denied]:
        """Close every open position; the closing orders (or denials)."""
        self.accounts.invalidate()
        results: list[Order | Denied] = []
        for position in await self.accounts.get_positions(fresh=True):
            result = await self.close_position(position.symbol, cancel_orders=cancel_orders)
            if result is not None:
                results.append(result)
        return results

    async def _cancel_and_wait(self, symbol: str, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        working = self.open_orders(symbol)
        if not working:
            return
        for order in working:
            await self.cancel_order(order.client_order_id)
        deadline = asyncio.get_running_loop().time() + timeout
        while any(o.is_open for o in working):
            if asyncio.get_running_loop().time() > deadline:
                logger.warning("orders in {} still open after cancelling", symbol)
                return
            await asyncio.sleep(0.1)
            if not self.stream_connected:
                for order in working:
                    if order.is_open:
                        await self.refresh_order(order)

    # -- updates from the stream ----------------------------------------------------------------

    async def on_order_update(self, update: OrderUpdate) -> None:
        """Apply one ``trade_updates`` event (the stream already dropped exact duplicates).

        The order row and the event are journaled together, in one write, at the end.
        """
        snap = update.order
        order = self.find(snap.client_order_id, snap.broker_order_id)
        changed = False
        if order is None:
            logger.info(
                "adopting order {} ({} {} {}) from the broker",
                snap.client_order_id,
                snap.side.value,
                snap.symbol,
                snap.status.value,
            )
            order = snap
            self._remember(order)
            changed = True
        fill = update.fill()
        if fill is not None:
            booked = self._book(
                dataclasses.replace(fill, client_order_id=order.client_order_id), order
            )
            changed = changed or booked is not None
        if order is not snap:
            if order.is_terminal:
                logger.debug(
                    "late {} for finished order {} ignored", update.event, order.client_order_id
                )
            else:
                self._merge(order, snap)
                changed = True
        if update.event == "rejected" and order.reject_reason is None:
            order.reject_reason = "rejected by the broker"
            changed = True
            logger.warning("order {} rejected by the broker", order.client_order_id)
        if self._lags_book(order):  # an execution is still to come (or was lost): see _book
            self._unbooked.add(order.client_order_id)
        self.journal.record_event(update, order)
        if changed:
            self._notify(self._order_listeners, order)

    def _book(self, fill: Fill, order: Order | None) -> BookedFill | None:
        """Count one execution into positions, P/L, the order and the journal."""
        taken = self._positions_taken.get(fill.symbol)
        if taken is not None and fill.timestamp < taken and not self.book.knows(fill.execution_id):
            logger.info(
                "execution {} of {} predates the position taken from the broker; not counted",
                fill.execution_id,
                fill.symbol,
            )
            return None
        strategy = order.strategy if order is not None else None
        booked = self.book.apply(dataclasses.replace(fill, strategy=strategy))
        if booked is None:
            return None
        if order is not None:
            try:
                order.apply_fill(booked.fill)
            except DomainError as exc:  # the order's snapshot will carry the truth
                logger.warning("fill {} not applied to its order: {}", fill.execution_id, exc)
        with self.journal.batch():  # one commit for the fill and what it moved
            self.journal.record_fill(booked.fill, realized_pl=booked.realized_pl, strategy=strategy)
            self.journal.save_positions(self.book.positions.values(), self.clock())
            self.journal.set_state(_WATERMARK, fill.timestamp.isoformat())
        self._unsettled.filled(self.accounts.mark_changed(), booked.fill)
        logger.info(
            "fill {} {} {} @ {} (order {}, position {}, realized {})",
            fill.side.value,
            decimal_str(fill.qty),
            fill.symbol,
            decimal_str(fill.price),
            order.client_order_id if order is not None else fill.order_id,
            decimal_str(booked.position_qty),
            decimal_str(booked.realized_pl),
        )
        if order is not None and not self._lags_book(order):
            self._unbooked.discard(order.client_order_id)
        self._notify(self._fill_listeners, booked, order)
        return booked

    def on_stream_event(self, event: StreamEvent) -> None:
        """Follow the order stream's connection: poll while it is down, reconcile after."""
        if event.stream != "trade_updates":
            return
        if event.kind is StreamEventKind.CONNECTED:
            self.stream_connected = True
            if event.downtime_seconds is not None:
                self._schedule_reconcile("order stream reconnected")
        elif event.is_fault:
            self.stream_connected = False

    # -- reconciliation -------------------------------------------------------------------------

    def _schedule_reconcile(self, reason: str) -> None:
        if self._stopped:
            return
        if self._reconcile_task is not None and not self._reconcile_task.done():
            # One is running, but it may have read the broker before whatever asks for this
            # one happened (it used to be dropped): run once more after it.
            self._reconcile_again = reason
            return
        self._reconcile_task = asyncio.get_running_loop().create_task(
            self._reconcile_until_settled(reason), name="reconcile"
        )

    async def _reconcile_until_settled(self, reason: str) -> None:
        next_reason: str | None = reason
        while next_reason is not None and not self._stopped:
            self._reconcile_again = None
            await self.reconcile(next_reason)
            next_reason = self._reconcile_again

    async def reconcile(self, reason: str = "requested") -> dict[str, Any]:
        """Make orders, fills and positions match the broker; new entries wait meanwhile.

        Our open orders are looked up (by client_order_id when the broker never acknowledged
        them; one it does not know was never received and is marked rejected, not resent),
        unknown broker orders adopted, missed executions read from the FILL activities, and
        positions the book disagrees on taken from the broker. One code path for start-up,
        stream reconnects and ambiguous submissions.
        """
        async with self._reconcile_lock:
            self.reconciled = False
            try:
                report = await run_reconciliation(self, reason)
            finally:
                # Entries resume even if the broker failed us: the next attempt runs soon, and
                # an unreconciled engine that can never trade is worse. Failures are logged.
                self.reconciled = True
            return report

    async def sync_fills(self) -> list[BookedFill]:
        """Read the account's FILL activities since the last one booked and book the new ones."""
        activities = await self.client.get_fill_activities(self.fill_window_start())
        return self.book_activities(activities)

    def position_taken(self, symbol: str, at: datetime) -> None:
        """Record that ``symbol``'s position was set to the broker's as of ``at`` (broker time):
        executions before ``at`` are in it and are not counted again."""
        self._positions_taken[symbol] = at
        taken = {s: t.isoformat() for s, t in self._positions_taken.items()}
        self.journal.set_state(_TAKEN, json.dumps(taken, sort_keys=True))
        self._unbooked = {
            coid
            for coid in self._unbooked
            if coid in self.orders and self.orders[coid].symbol != symbol
        }

    def fill_window_start(self) -> datetime:
        """Where the broker's record is read from: just before the last execution booked (a
        day back when none was), and no later than the submission of any order known to have
        filled more than the book holds.

        That second bound is there because executions arrive out of order (a reordered or lost
        stream message): the last one booked need not be the newest, and a window starting
        there missed the earlier execution of the same order for good.
        """
        mark = self.journal.get_state(_WATERMARK)
        start = (
            datetime.fromisoformat(mark) - timedelta(seconds=1)
            if mark
            else self.clock() - timedelta(days=1)
        )
        for coid in self._unbooked:
            order = self.orders.get(coid)
            if order is not None and self._lags_book(order):
                start = min(start, (order.submitted_at or order.created_at) - timedelta(seconds=1))
        return start

    def book_activities(self, activities: Iterable[FillActivity]) -> list[BookedFill]:
        """Book the executions the book does not have yet (by id, and by order quantity).

        The quantity rule is only for orders none of whose executions the book recognises by
        id (a venue whose activity ids did not match its stream ids). Applied to every order,
        it dropped a genuine execution whenever later ones of the same order, delivered out of
        order by the stream, already added up to its ``cum_qty``: lost for good if the stream
        never delivered it.
        """
        activities = list(activities)
        matched = {a.fill.order_id for a in activities if self.book.knows(a.fill.execution_id)}
        booked: list[BookedFill] = []
        for activity in activities:
            fill = activity.fill
            if self.book.knows(fill.execution_id):
                continue
            if fill.order_id not in matched and self.book.covered(fill.order_id, activity.cum_qty):
                continue
            order = self.find(None, fill.order_id)
            if order is not None:
                fill = dataclasses.replace(fill, client_order_id=order.client_order_id)
            result = self._book(fill, order)
            if result is not None:
                booked.append(result)
                if order is not None:
                    # _book moved the order (filled_qty, status); a stream update journals its
                    # order afterwards, an activity did not, and the journal kept the old state.
                    self._save(order)
        return booked

    # -- polling while the stream is down -------------------------------------------------------

    def start(self) -> None:
        """Start polling open orders whenever the order stream is down."""
        self._stopped = False
        if self._poll_task is None or self._poll_task.done():
            self._poll_task = asyncio.get_running_loop().create_task(
                self._poll_loop(), name="order-poll"
            )

    async def stop(self) -> None:
        # No reconciliation starts after this: one scheduled by a stream event arriving while
        # the engine shuts down used to run against a closed client and journal.
        self._stopped = True
        self._reconcile_again = None
        for task in (self._poll_task, self._reconcile_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._poll_task = None

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            if self.stream_connected:
                continue
            try:
                await self.poll_open_orders()
            except Exception:
                logger.exception("polling open orders failed")

    async def poll_open_orders(self) -> None:
        """One polling pass: refresh every open order, book any executions it shows.

        Executions are read from the FILL activities for every order a REST snapshot showed
        ahead of the book: those this pass refreshed, and those already (partly) filled when
        the broker answered their submission. A market order usually is, and since it is no
        longer open no later pass would look at it: before this, a market order placed while
        the stream was down stayed out of the book until the next reconciliation.
        """
        for order in self.open_orders():
            await self.refresh_order(order, book_fills=False)
        if self._unbooked:
            await self.sync_fills()
            self._unbooked = {
                coid
                for coid in self._unbooked
                if coid in self.orders and self._lags_book(self.orders[coid])
            }

    # -- views ----------------------------------------------------------------------------------

    def positions(self) -> list[Position]:
        """Open positions as the book has them."""
        return self.book.open_positions()

    def realized_pl_total(self) -> Decimal:
        """Realized P/L over every position the book holds or held."""
        return sum((p.realized_pl for p in self.book.positions.values()), ZERO)
