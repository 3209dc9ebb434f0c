"""The simulated Alpaca exchange: what a client can ask of it, over the pure matching core.

:class:`Exchange` is the facade the simulator's HTTP server (and a backtester) calls. Every
method that changes state takes ``now`` and first lets time pass (:meth:`advance`). Refusals are
:class:`SimError` with Alpaca's status, code and body; accepted orders and their later life are
reported as :class:`TradeUpdate` events (``drain_events`` / ``add_listener``).

Submission checks, in order: the body (:mod:`pulsetrader.sim.validation`), client_order_id
uniqueness (forever, cancelled orders included), bracket prices against the entry price, crypto
minimums (opening orders only, so dust can always be closed), then the position rules:

- An order that reduces a position must fit in the quantity not already held by other open
  orders on that side (403 insufficient qty; crypto: insufficient balance). One order never flips
  a position from long to short or back.
- An order that opens or adds must fit in buying power (403 insufficient buying power); a short
  sale also needs a shortable stock, shorting enabled (the account's ``no_shorting``
  configuration off and at least $2,000 of equity), and a whole-share quantity.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from pulsetrader.domain.enums import OrderClass, OrderSide, OrderStatus, OrderType, TimeInForce
from pulsetrader.domain.money import ZERO, Number, decimal_str, to_decimal
from pulsetrader.domain.symbols import order_symbol
from pulsetrader.sim import matching
from pulsetrader.sim.account import MARGIN_MINIMUM_EQUITY, SimAccount, SimPosition
from pulsetrader.sim.assets import AssetRegistry
from pulsetrader.sim.engine import OPENING_INTENTS, CalendarLike, ExchangeConfig, MatchingEngine
from pulsetrader.sim.errors import (
    FORBIDDEN,
    SimError,
    insufficient_balance,
    insufficient_buying_power,
    insufficient_qty,
    invalid,
    order_not_found,
    position_not_found,
    unprocessable,
    wrong_state,
)
from pulsetrader.sim.events import TradeUpdate
from pulsetrader.sim.orders import SimOrder
from pulsetrader.sim.validation import (
    OrderRequest,
    check_leg_prices,
    parse_order_request,
    parse_replace_request,
)

__all__ = ["Exchange", "ExchangeConfig", "SimError", "TradeUpdate"]

MAX_ORDERS_PAGE = 500
MAX_ACTIVITIES_PAGE = 100
_ADVANCED = (OrderClass.BRACKET, OrderClass.OTO, OrderClass.OCO)


def position_intent(side: OrderSide, position_qty: Decimal) -> str:
    """``buy_to_close`` when buying against a short, ``sell_to_close`` when selling a long,
    otherwise the side ``_to_open``."""
    if side is OrderSide.BUY:
        return "buy_to_close" if position_qty < 0 else "buy_to_open"
    return "sell_to_close" if position_qty > 0 else "sell_to_open"


class Exchange(MatchingEngine):
    """Alpaca paper trading, in-process and deterministic (see the module docstring)."""

    def __init__(
        self,
        calendar: CalendarLike,
        assets: AssetRegistry,
        config: ExchangeConfig | None = None,
        account: SimAccount | None = None,
    ) -> None:
        super().__init__(calendar, assets, config, account)
        if account is None:
            self.account.shorting_enabled = self.config.allow_shorting

    # -- submit -----------------------------------------------------------------------------------
    def submit_order(self, body: Mapping[str, Any], now: datetime) -> SimOrder:
        """Accept (or refuse with :class:`SimError`) a ``POST /v2/orders`` body.

        An accepted order emits ``new`` and is matched at once when its market is open.
        """
        self.advance(now)
        request = parse_order_request(body, self.assets)
        cid = request.client_order_id
        if cid is not None and cid in self._client_ids:
            raise invalid("client_order_id must be unique")
        asset = request.asset
        position = self.account.positions.get(asset.symbol)
        held = position.qty if position is not None else ZERO
        intent = position_intent(request.side, held)
        ref = self.reference_price(asset.symbol, request.side)
        if request.order_class in (OrderClass.BRACKET, OrderClass.OTO):
            base = request.limit_price or request.stop_price or ref
            if base is not None:
                check_leg_prices(request, base)
        qty = request.qty
        if qty is None and request.notional is not None and ref:
            qty = request.notional / ref
        self._check_position(request, intent, qty, held)
        return self._create(request, intent, now)

    def _check_position(
        self,
        request: OrderRequest,
        intent: str,
        qty: Decimal | None,
        position_qty: Decimal,
        exclude: Collection[SimOrder] = (),
    ) -> None:
        """The account-dependent checks: quantity available, shorting, minimums, buying power."""
        asset, side = request.asset, request.side
        opening = intent in OPENING_INTENTS and request.order_class is not OrderClass.OCO
        if not opening:  # OCO orders are exits only, so they are always checked as closing
            closes = position_qty * side.sign < 0
            existing = abs(position_qty) if closes else ZERO
            held = self.held_qty(asset.symbol, side, exclude) if closes else ZERO
            available = max(ZERO, existing - held)
            requested = qty if qty is not None else ZERO
            if requested > available:
                if asset.is_crypto:
                    raise insufficient_balance(asset.base_currency, requested, available)
                raise insufficient_qty(asset.symbol, requested, available, existing, held)
            return
        if side is OrderSide.SELL:
            if asset.is_crypto:
                raise insufficient_balance(asset.base_currency, qty or ZERO, ZERO)
            # Alpaca's refusal when shorting is off (no_shorting) or equity is under $2,000.
            if not (
                self.config.allow_shorting
                and self.account.shorting_enabled
                and self.account.equity >= MARGIN_MINIMUM_EQUITY
            ):
                raise SimError(403, FORBIDDEN, "account is not allowed to short")
            if not asset.shortable:
                raise SimError(403, FORBIDDEN, f"asset {asset.symbol} is not shortable")
            if request.is_fractional:
                raise unprocessable("fractional orders cannot be sold short")
        if request.notional is not None:
            cost = request.notional
        else:
            unit = self.unit_price(
                asset.symbol, side, request.type, request.limit_price, request.stop_price
            )
            if unit <= 0:
                raise unprocessable(f"no market price is available for {asset.symbol}")
            cost = (qty or ZERO) * unit
        if asset.is_crypto:
            self._check_crypto_minimums(request, qty)
        reserved = self.reservation(exclude)
        if asset.is_crypto:
            power = self.account.non_marginable_buying_power(reserved)
        else:
            power = self.account.buying_power(reserved)
        if cost > power:
            raise insufficient_buying_power(power, cost)

    def _check_crypto_minimums(self, request: OrderRequest, qty: Decimal | None) -> None:
        asset = request.asset
        minimum = asset.min_order_size
        if request.qty is not None and minimum is not None and request.qty < minimum:
            raise unprocessable(f"qty must be >= {decimal_str(minimum)} for {asset.symbol}")
        price = request.limit_price or self.reference_price(asset.symbol, request.side)
        value = request.notional if request.notional is not None else None
        if value is None and qty is not None and price is not None:
            value = qty * price
        floor = self.config.crypto_min_notional
        if value is not None and value < floor:
            raise SimError(
                403,
                FORBIDDEN,
                f"cost basis must be >= minimal amount of order {decimal_str(floor)}",
            )

    def _create(self, request: OrderRequest, intent: str, now: datetime) -> SimOrder:
        """Build, register, announce and (when live) match a checked order and its legs."""
        asset = request.asset
        order = SimOrder(
            id=self.new_id(),
            client_order_id=request.client_order_id or self.new_id(),
            created_at=now,
            updated_at=now,
            submitted_at=now,
            asset_id=asset.id,
            symbol=asset.symbol,
            asset_class=asset.asset_class,
            side=request.side,
            type=request.type,
            time_in_force=request.time_in_force,
            status=OrderStatus.NEW,
            qty=request.qty,
            notional=request.notional,
            order_class=request.order_class,
            position_intent=intent,
            limit_price=request.limit_price,
            stop_price=request.stop_price,
            trail_percent=request.trail_percent,
            trail_price=request.trail_price,
            extended_hours=request.extended_hours,
        )
        order.legs = self._make_legs(order, request)
        self._register(order)
        for leg in order.legs:
            self._register(leg)
        self.schedule(order, now)
        self._emit("new", order, now)
        if order.order_class is OrderClass.OCO:
            for leg in order.legs:  # an OCO's stop leg works from the start
                self.schedule(leg, now)
                self._emit("new", leg, now)
        for each in (order, *order.legs):
            if each.is_open and self._is_live(each, now):
                self._evaluate(each, now)
        return order

    def _make_legs(self, parent: SimOrder, request: OrderRequest) -> list[SimOrder]:
        """Exit legs: take-profit limit and/or stop-loss stop (stop-limit with a limit price).

        Bracket and OTO legs are ``held`` until the entry fills. An OCO's parent is itself the
        take-profit, so it gets only the stop leg, working at once, on the same side.
        """
        if request.order_class is OrderClass.SIMPLE:
            return []
        is_oco = request.order_class is OrderClass.OCO
        side = request.side if is_oco else request.side.opposite
        group = parent.id if request.order_class is not OrderClass.OTO else None
        if is_oco:
            parent.oco_group = group
        specs: list[tuple[OrderType, Decimal | None, Decimal | None]] = []
        if request.take_profit_limit is not None and not is_oco:
            specs.append((OrderType.LIMIT, request.take_profit_limit, None))
        if request.stop_loss_stop is not None:
            kind = OrderType.STOP_LIMIT if request.stop_loss_limit else OrderType.STOP
            specs.append((kind, request.stop_loss_limit, request.stop_loss_stop))
        intent = parent.position_intent if is_oco else f"{side.value}_to_close"
        return [
            replace_fields(
                parent,
                id=self.new_id(),
                client_order_id=self.new_id(),
                side=side,
                type=kind,
                limit_price=limit,
                stop_price=stop,
                status=OrderStatus.NEW if is_oco else OrderStatus.HELD,
                position_intent=intent,
                parent_id=parent.id,
                oco_group=group,
                extended_hours=False,
                trail_price=None,
                trail_percent=None,
                hwm=None,
            )
            for kind, limit, stop in specs
        ]

    # -- replace and cancel -----------------------------------------------------------------------
    def replace_order(self, order_id: str, fields: Mapping[str, Any], now: datetime) -> SimOrder:
        """``PATCH /v2/orders/{id}``: a new order replaces an open, unfilled one.

        The old order becomes ``replaced`` (event ``replaced``), the new one has a new id and
        ``replaces`` set (event ``new``). Legs move to the new order. Partially filled orders
        cannot be replaced (422).
        """
        self.advance(now)
        old = self.get_order(order_id)
        if not old.is_open or old.filled_qty > 0:
            raise wrong_state(old.status.value)
        change = parse_replace_request(fields)
        if change.client_order_id is not None and change.client_order_id in self._client_ids:
            raise invalid("client_order_id must be unique")
        if change.qty is not None and old.notional is not None:
            raise unprocessable("qty cannot be changed on a notional order")
        for name, allowed in (
            ("limit_price", old.type.needs_limit_price),
            ("stop_price", old.type.needs_stop_price),
            ("trail", old.type is OrderType.TRAILING_STOP),
        ):
            if getattr(change, name) is not None and not allowed:
                raise invalid(f"{name} is not allowed for {old.type.value} orders")
        trail_price, trail_percent = old.trail_price, old.trail_percent
        if change.trail is not None:
            if old.trail_price is not None:
                trail_price = change.trail
            else:
                trail_percent = change.trail
        tif = change.time_in_force or old.time_in_force
        if old.order_class in _ADVANCED and tif not in (TimeInForce.DAY, TimeInForce.GTC):
            raise unprocessable(f"{old.order_class.value} orders must be day or gtc orders")
        # Re-validate the resulting order as a simple one (prices, ticks, tif, fractional rules).
        stop = change.stop_price or (old.stop_price if old.type.needs_stop_price else None)
        body: dict[str, Any] = {
            "symbol": old.symbol,
            "side": old.side.value,
            "type": old.type.value,
            "time_in_force": tif.value,
            "qty": change.qty or old.qty,
            "notional": old.notional,
            "limit_price": change.limit_price or old.limit_price,
            "stop_price": stop,
            "trail_price": trail_price,
            "trail_percent": trail_percent,
            "extended_hours": old.extended_hours,
        }
        request = parse_order_request(body, self.assets)
        if old.status is not OrderStatus.HELD:
            position = self.account.positions.get(old.symbol)
            group = [old, *self.oco_siblings(old)]
            self._check_position(
                request,
                old.position_intent or "",
                request.qty,
                position.qty if position is not None else ZERO,
                exclude=group,
            )
        new = replace_fields(
            old,
            id=self.new_id(),
            client_order_id=change.client_order_id or self.new_id(),
            created_at=now,
            updated_at=now,
            submitted_at=now,
            qty=request.qty,
            time_in_force=tif,
            limit_price=request.limit_price,
            stop_price=request.stop_price,
            trail_price=trail_price,
            trail_percent=trail_percent,
            replaces=old.id,
            legs=old.legs,
            expires_at=None,
            activate_at=None,
        )
        if old.oco_group == old.id:
            new.oco_group = new.id
        if new.type is OrderType.TRAILING_STOP:
            new.stop_price = matching.trailing_stop_price(new, self.asset_of(new))
        for leg in new.legs:
            leg.parent_id = new.id
            if leg.oco_group == old.id:
                leg.oco_group = new.id
        if old.parent_id is not None:
            parent = self._orders[old.parent_id]
            parent.legs = [new if leg is old else leg for leg in parent.legs]
        old.replaced_by = new.id
        old.legs = []
        self._end(old, OrderStatus.REPLACED, now)
        self._register(new)
        if new.status is not OrderStatus.HELD:
            self.schedule(new, now)
        self._emit("new", new, now)
        if self._is_live(new, now):
            self._evaluate(new, now)
        return new

    def cancel_order(self, order_id: str, now: datetime) -> SimOrder:
        """Cancel an open order with its legs (and its OCO partner). Final orders: 422; unknown
        ids: 404."""
        self.advance(now)
        order = self.get_order(order_id)
        if not order.is_open:
            raise wrong_state(order.status.value)
        siblings = self.oco_siblings(order)
        self.cancel_tree(order, now)
        for sibling in siblings:
            self.cancel_tree(sibling, now)
        return order

    def cancel_all(self, now: datetime) -> list[tuple[str, int]]:
        """Cancel every open order; ``(order id, 200)`` for each one cancelled, legs included."""
        self.advance(now)
        results: list[tuple[str, int]] = []
        for order in self._open_orders():
            if order.is_open:
                results.extend((c.id, 200) for c in self.cancel_tree(order, now))
        return results

    # -- order queries ----------------------------------------------------------------------------
    def get_order(self, order_id: str) -> SimOrder:
        """The order with ``order_id``; :class:`SimError` 404 when there is none."""
        order = self._orders.get(order_id.strip().lower())
        if order is None:
            raise order_not_found()
        return order

    def get_order_by_client_id(self, client_order_id: str) -> SimOrder:
        order = self._client_ids.get(client_order_id)
        if order is None:
            raise order_not_found()
        return order

    def list_orders(
        self,
        status: str = "open",
        limit: int | None = 50,
        after: datetime | None = None,
        until: datetime | None = None,
        direction: str = "desc",
        nested: bool = False,
        symbols: Iterable[str] | str | None = None,
        side: str | None = None,
    ) -> list[SimOrder]:
        """``GET /v2/orders``: filter by status (open/closed/all), submission time (exclusive
        bounds), symbols and side; newest first unless ``direction="asc"``; at most ``limit``
        (max 500). With ``nested`` legs are left out of the top level (serialize with
        ``to_alpaca(nested=True)`` to show them under their parent)."""
        wanted = status.lower()
        if wanted not in ("open", "closed", "all"):
            raise invalid(f"invalid status: {status}")
        if direction.lower() not in ("asc", "desc"):
            raise invalid(f"invalid direction: {direction}")
        if isinstance(symbols, str):
            symbols = [s for s in symbols.split(",") if s.strip()]
        symbol_set = {order_symbol(s) for s in symbols} if symbols else None
        # Every open order is in the open index: do not scan the whole history for them.
        source = self._open_orders() if wanted == "open" else self._orders.values()
        orders = [
            o
            for o in source
            if (not nested or o.parent_id is None)
            and (wanted == "all" or (wanted == "open") == o.is_open)
            and (after is None or o.submitted_at > after)
            and (until is None or o.submitted_at < until)
            and (symbol_set is None or o.symbol in symbol_set)
            and (side is None or o.side.value == side.lower())
        ]
        orders.sort(key=lambda o: (o.submitted_at, o.seq), reverse=direction.lower() == "desc")
        size = MAX_ORDERS_PAGE if limit is None else max(1, min(int(limit), MAX_ORDERS_PAGE))
        return orders[:size]

    # -- positions --------------------------------------------------------------------------------
    def positions(self) -> list[SimPosition]:
        """Open positions sorted by symbol, with current prices and held quantities refreshed."""
        result = []
        for symbol in sorted(self.account.positions):
            result.append(self.position(symbol))
        return result

    def position(self, symbol: str) -> SimPosition:
        """The position in ``symbol`` (``BTC/USD``, ``BTCUSD`` or the asset id); 404 if none."""
        asset = self.assets.get(symbol)
        key = asset.symbol if asset is not None else order_symbol(symbol)
        found = self.account.positions.get(key)
        if found is None:
            raise position_not_found()
        self._refresh_mark(key)
        closing_side = OrderSide.SELL if found.qty > 0 else OrderSide.BUY
        found.held_for_orders = self.held_qty(key, closing_side)
        return found

    def close_position(
        self,
        symbol: str,
        qty: Number | None = None,
        percentage: Number | None = None,
        now: datetime | None = None,
    ) -> SimOrder:
        """``DELETE /v2/positions/{symbol}``: a market order for all of it, ``qty`` units, or
        ``percentage`` percent (rounded down to 1e-9, or whole shares if not fractionable).

        Stocks close with a day order, crypto with gtc. ``now`` is required.
        """
        if now is None:
            raise TypeError("close_position() needs now")
        self.advance(now)
        found = self.position(symbol)
        asset = found.asset
        if qty is not None and percentage is not None:
            raise invalid("only one of qty or percentage may be given")
        total = abs(found.qty)
        amount = total
        try:
            if qty is not None:
                amount = to_decimal(qty)
            elif percentage is not None:
                share = to_decimal(percentage)
                if not 0 < share <= 100:
                    raise invalid("percentage must be > 0 and <= 100")
                step = Decimal("0.000000001") if asset.fractionable else Decimal(1)
                amount = (total * share / 100).quantize(step, rounding=ROUND_DOWN)
        except (TypeError, ValueError):
            raise invalid("qty or percentage is invalid") from None
        if amount <= 0:
            raise invalid("qty must be > 0")
        body = {
            "symbol": asset.symbol,
            "qty": decimal_str(amount),
            "side": (OrderSide.SELL if found.qty > 0 else OrderSide.BUY).value,
            "type": "market",
            "time_in_force": "gtc" if asset.is_crypto else "day",
        }
        return self.submit_order(body, now)

    def close_all_positions(
        self, cancel_orders: bool, now: datetime
    ) -> list[tuple[str, int, dict[str, Any]]]:
        """``DELETE /v2/positions``: ``(position symbol, status, body)`` per position; body is
        the closing order or the error (with ``symbol`` in order spelling)."""
        self.advance(now)
        if cancel_orders:
            self.cancel_all(now)
        results: list[tuple[str, int, dict[str, Any]]] = []
        for found in self.positions():
            name = found.asset.position_symbol
            try:
                order = self.close_position(found.symbol, now=now)
            except SimError as error:
                results.append((name, error.status, {**error.body(), "symbol": found.symbol}))
            else:
                results.append((name, 200, order.to_alpaca()))
        return results

    # -- account ----------------------------------------------------------------------------------
    def account_dict(self, now: datetime) -> dict[str, Any]:
        """``GET /v2/account``, buying power net of what open orders reserve."""
        self.advance(now)
        for symbol in self.account.positions:
            self._refresh_mark(symbol)
        return self.account.to_alpaca(now, self.reservation())

    def activities(
        self,
        activity_types: Collection[str] | None = None,
        after: datetime | None = None,
        until: datetime | None = None,
        direction: str = "desc",
        page_size: int = 100,
        page_token: str | None = None,
    ) -> list[dict[str, Any]]:
        """``GET /v2/account/activities``: FILL rows, newest first by default. ``page_token`` is
        the id of the last row of the previous page; ``page_size`` is at most 100."""
        if activity_types is not None and "FILL" not in {t.upper() for t in activity_types}:
            return []
        rows = [
            row
            for at, row in self._activities
            if (after is None or at > after) and (until is None or at < until)
        ]
        if direction.lower() == "desc":
            rows.reverse()
        if page_token is not None:
            ids = [row["id"] for row in rows]
            if page_token not in ids:
                raise invalid("page_token is invalid")
            rows = rows[ids.index(page_token) + 1 :]
        size = max(1, min(int(page_size), MAX_ACTIVITIES_PAGE))
        return [dict(row) for row in rows[:size]]


def replace_fields(order: SimOrder, **changes: Any) -> SimOrder:
    """A copy of ``order`` with ``changes``: fills, history and legs reset unless given."""
    fresh: dict[str, Any] = {
        "filled_qty": ZERO,
        "filled_avg_price": None,
        "filled_value": ZERO,
        "filled_at": None,
        "expired_at": None,
        "canceled_at": None,
        "failed_at": None,
        "replaced_at": None,
        "replaced_by": None,
        "replaces": None,
        "legs": [],
        "triggered": False,
        "seq": 0,
    }
    return replace(order, **{**fresh, **changes})
