"""Turning a ``POST /v2/orders`` or ``PATCH /v2/orders/{id}`` body into a checked request.

Everything here depends only on the body and the asset: the checks that need the account, the
open orders or the current quote (buying power, quantity available, minimum notional, bracket
prices against the market) are made by the exchange. Numbers may arrive as JSON floats, ints or
numeric strings (alpaca-py sends floats; Alpaca accepts all three).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from pulsetrader.domain.enums import OrderClass, OrderSide, OrderType, TimeInForce
from pulsetrader.domain.money import optional_decimal
from pulsetrader.sim.assets import AssetRegistry, SimAsset
from pulsetrader.sim.errors import SimError, invalid, malformed, unprocessable

E = TypeVar("E", bound=StrEnum)

MAX_CLIENT_ORDER_ID = 128
MAX_QTY_PLACES = 9
POSITION_INTENTS = frozenset({"buy_to_open", "buy_to_close", "sell_to_open", "sell_to_close"})
_CRYPTO_TIFS = (TimeInForce.GTC, TimeInForce.IOC)
_CRYPTO_TYPES = (OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_LIMIT)
_ADVANCED_TIFS = (TimeInForce.DAY, TimeInForce.GTC)
SUB_PENNY = "sub-penny increment does not fulfill minimum pricing criteria"


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A syntactically valid order for a listed, tradable asset.

    For an OCO order ``limit_price`` is the take-profit price and ``stop_loss_*`` the other leg.
    """

    asset: SimAsset
    side: OrderSide
    type: OrderType
    time_in_force: TimeInForce
    order_class: OrderClass = OrderClass.SIMPLE
    qty: Decimal | None = None
    notional: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None
    trail_percent: Decimal | None = None
    extended_hours: bool = False
    client_order_id: str | None = None
    take_profit_limit: Decimal | None = None
    stop_loss_stop: Decimal | None = None
    stop_loss_limit: Decimal | None = None
    position_intent: str | None = None

    @property
    def is_fractional(self) -> bool:
        """Notional orders and non-whole share quantities."""
        return self.notional is not None or (self.qty is not None and self.qty % 1 != 0)


@dataclass(frozen=True, slots=True)
class ReplaceRequest:
    """The fields a ``PATCH /v2/orders/{id}`` may change; None means "keep"."""

    qty: Decimal | None = None
    time_in_force: TimeInForce | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail: Decimal | None = None
    client_order_id: str | None = None


# -- field readers -------------------------------------------------------------------------------
def _text(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise invalid(f"{key} is invalid")
    return value.strip()


def _choice(enum: type[E], body: Mapping[str, Any], key: str) -> E | None:
    text = _text(body, key)
    if text is None:
        return None
    try:
        return enum(text.lower())
    except ValueError:
        raise invalid(f"invalid {key}: {text}") from None


def _amount(body: Mapping[str, Any], key: str, label: str | None = None) -> Decimal | None:
    """An optional positive amount; ``label`` names it in messages (take_profit.limit_price)."""
    name = label or key
    value = body.get(key)
    if isinstance(value, Mapping | list | bool):
        raise invalid(f"{name} is invalid")
    try:
        amount = optional_decimal(value)
    except (TypeError, ValueError):
        raise invalid(f"{name} is invalid") from None
    if amount is not None and amount <= 0:
        raise invalid(f"{name} must be > 0")
    return amount


def _flag(body: Mapping[str, Any], key: str) -> bool:
    value = body.get(key)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise invalid(f"{key} is invalid")


def _leg(body: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise invalid(f"{key} is invalid")
    return value


def decimal_places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def check_price(price: Decimal | None, asset: SimAsset) -> None:
    """Refuse prices finer than the asset's tick: 1 cent at $1 and above, 1/100 cent below."""
    if price is None:
        return
    if asset.is_crypto:
        increment = asset.price_increment
        if increment is not None and price % increment != 0:
            raise unprocessable(SUB_PENNY)
        return
    if decimal_places(price) > (2 if price >= 1 else 4):
        raise unprocessable(SUB_PENNY)


def check_qty(qty: Decimal) -> None:
    if decimal_places(qty) > MAX_QTY_PLACES:
        raise invalid(f"qty must have at most {MAX_QTY_PLACES} decimal places")


def check_client_order_id(client_order_id: str) -> None:
    if len(client_order_id) > MAX_CLIENT_ORDER_ID:
        raise invalid(f"client_order_id must be no more than {MAX_CLIENT_ORDER_ID} characters")


# -- orders ----------------------------------------------------------------------------------------
def parse_order_request(body: object, assets: AssetRegistry) -> OrderRequest:
    """Validate a submit body. Raises :class:`SimError` (400 or 422) with Alpaca's wording."""
    if not isinstance(body, Mapping):
        raise malformed()
    order_class = _choice(OrderClass, body, "order_class") or OrderClass.SIMPLE
    symbol = _text(body, "symbol")
    if symbol is None:
        raise invalid("symbol is required")
    asset = assets.get(symbol)
    if asset is None:
        raise invalid(f'could not find asset "{symbol}"')
    if asset.status != "active":
        raise invalid(f"asset {asset.symbol} is not active")
    if not asset.tradable:
        raise invalid(f"asset {asset.symbol} is not tradable")
    side = _choice(OrderSide, body, "side")
    order_type = _choice(OrderType, body, "type") or _choice(OrderType, body, "order_type")
    tif = _choice(TimeInForce, body, "time_in_force")
    if side is None:
        raise invalid("side is required")
    if order_type is None:
        raise invalid("type is required")
    if tif is None:
        raise invalid("time_in_force is required")
    qty = _amount(body, "qty")
    notional = _amount(body, "notional")
    if qty is None and notional is None:
        raise invalid("qty or notional is required")
    if qty is not None and notional is not None:
        raise invalid("only one of qty or notional may be given")
    if qty is not None:
        check_qty(qty)
    client_order_id = _text(body, "client_order_id")
    if client_order_id is not None:
        check_client_order_id(client_order_id)
    intent = _text(body, "position_intent")
    if intent is not None and intent not in POSITION_INTENTS:
        raise invalid(f"invalid position_intent: {intent}")
    take_profit = _leg(body, "take_profit")
    stop_loss = _leg(body, "stop_loss")
    request = OrderRequest(
        asset=asset,
        side=side,
        type=order_type,
        time_in_force=tif,
        order_class=order_class,
        qty=qty,
        notional=notional,
        limit_price=_amount(body, "limit_price"),
        stop_price=_amount(body, "stop_price"),
        trail_price=_amount(body, "trail_price"),
        trail_percent=_amount(body, "trail_percent"),
        extended_hours=_flag(body, "extended_hours"),
        client_order_id=client_order_id,
        take_profit_limit=_amount(take_profit or {}, "limit_price", "take_profit.limit_price"),
        stop_loss_stop=_amount(stop_loss or {}, "stop_price", "stop_loss.stop_price"),
        stop_loss_limit=_amount(stop_loss or {}, "limit_price", "stop_loss.limit_price"),
        position_intent=intent,
    )
    if order_class is OrderClass.OCO and request.limit_price is None:
        # An OCO's parent is its take-profit limit leg; the SDK may omit the top-level price.
        request = replace(request, limit_price=request.take_profit_limit)
    _check_prices(request)
    _check_class(request)
    if asset.is_crypto:
        _check_crypto(request)
    else:
        _check_stock(request)
    return request


def _check_prices(request: OrderRequest) -> None:
    kind = request.type
    if kind.needs_limit_price and request.limit_price is None:
        raise invalid(f"limit_price is required for {kind.value} orders")
    if kind.needs_stop_price and request.stop_price is None:
        raise invalid(f"stop_price is required for {kind.value} orders")
    if not kind.needs_limit_price and request.limit_price is not None:
        raise invalid(f"limit_price is not allowed for {kind.value} orders")
    if not kind.needs_stop_price and request.stop_price is not None:
        raise invalid(f"stop_price is not allowed for {kind.value} orders")
    if kind is OrderType.TRAILING_STOP:
        if (request.trail_price is None) == (request.trail_percent is None):
            raise invalid("exactly one of trail_price or trail_percent is required")
        if request.trail_percent is not None and request.trail_percent >= 100:
            raise invalid("trail_percent must be < 100")
    elif request.trail_price is not None or request.trail_percent is not None:
        raise invalid("trail_price and trail_percent are only allowed for trailing_stop orders")
    for price in (
        request.limit_price,
        request.stop_price,
        request.trail_price,
        request.take_profit_limit,
        request.stop_loss_stop,
        request.stop_loss_limit,
    ):
        check_price(price, request.asset)


def _check_class(request: OrderRequest) -> None:
    order_class = request.order_class
    if order_class is OrderClass.SIMPLE:
        return
    name = order_class.value
    if request.asset.is_crypto:
        raise unprocessable(f"crypto orders do not support {name} orders")
    if request.time_in_force not in _ADVANCED_TIFS:
        raise unprocessable(f"{name} orders must be day or gtc orders")
    if request.notional is not None or request.is_fractional:
        raise unprocessable("fractional orders must be simple orders")
    has_tp = request.take_profit_limit is not None
    has_sl = request.stop_loss_stop is not None
    if order_class is OrderClass.OTO:
        if has_tp == has_sl:
            raise invalid("oto orders require exactly one of take_profit or stop_loss")
    else:
        if not has_tp:
            raise invalid("take_profit.limit_price is required")
        if not has_sl:
            raise invalid("stop_loss.stop_price is required")
    if request.type is OrderType.TRAILING_STOP:
        raise unprocessable(f"{name} orders cannot use trailing_stop entries")
    if order_class is OrderClass.OCO:
        if request.type is not OrderType.LIMIT:
            raise unprocessable("oco orders must be limit orders")
        tp, sl = request.take_profit_limit, request.stop_loss_stop
        assert tp is not None
        assert sl is not None
        # An OCO exits a position: a sell takes profit above and stops out below, a buy the reverse.
        if (request.side is OrderSide.SELL and tp <= sl) or (
            request.side is OrderSide.BUY and tp >= sl
        ):
            raise unprocessable("take_profit.limit_price and stop_loss.stop_price are inverted")


def check_leg_prices(request: OrderRequest, base_price: Decimal) -> None:
    """Bracket/OTO exits must sit on the right side of the entry ("base") price by a cent."""
    if request.order_class not in (OrderClass.BRACKET, OrderClass.OTO):
        return
    cent = Decimal("0.01")
    tp, sl = request.take_profit_limit, request.stop_loss_stop
    if request.side is OrderSide.BUY:
        if tp is not None and tp < base_price + cent:
            raise unprocessable("take_profit.limit_price must be >= base_price + 0.01")
        if sl is not None and sl > base_price - cent:
            raise unprocessable("stop_loss.stop_price must be <= base_price - 0.01")
    else:
        if tp is not None and tp > base_price - cent:
            raise unprocessable("take_profit.limit_price must be <= base_price - 0.01")
        if sl is not None and sl < base_price + cent:
            raise unprocessable("stop_loss.stop_price must be >= base_price + 0.01")


def _check_crypto(request: OrderRequest) -> None:
    # Alpaca's wording and code (422 / 42210000), e.g. for a ``day`` or a ``stop`` crypto order.
    if request.time_in_force not in _CRYPTO_TIFS:
        raise unprocessable("invalid crypto time_in_force")
    if request.type not in _CRYPTO_TYPES:
        raise unprocessable("invalid order type for crypto order")
    if request.notional is not None and request.type is not OrderType.MARKET:
        raise unprocessable("notional orders must be market orders")


def _check_stock(request: OrderRequest) -> None:
    tif, kind = request.time_in_force, request.type
    if tif in (TimeInForce.OPG, TimeInForce.CLS) and kind not in (
        OrderType.MARKET,
        OrderType.LIMIT,
    ):
        raise unprocessable(f"{tif.value} orders must be market or limit orders")
    if request.extended_hours and (kind is not OrderType.LIMIT or tif is not TimeInForce.DAY):
        raise unprocessable("extended hours order must be DAY limit orders")
    if request.is_fractional:
        if not request.asset.fractionable:
            raise unprocessable(f"asset {request.asset.symbol} is not fractionable")
        if request.order_class is not OrderClass.SIMPLE:
            raise unprocessable("fractional orders must be simple orders")
        if tif is not TimeInForce.DAY:
            raise unprocessable("fractional orders must be DAY orders")
        if request.notional is not None and kind is not OrderType.MARKET:
            raise unprocessable("notional orders must be market orders")
        if kind not in (OrderType.MARKET, OrderType.LIMIT):
            raise unprocessable("fractional orders must be market or limit orders")


# -- replace ---------------------------------------------------------------------------------------
def parse_replace_request(body: object) -> ReplaceRequest:
    """Validate a replace body; at least one known field must be present."""
    if not isinstance(body, Mapping):
        raise malformed()
    request = ReplaceRequest(
        qty=_amount(body, "qty"),
        time_in_force=_choice(TimeInForce, body, "time_in_force"),
        limit_price=_amount(body, "limit_price"),
        stop_price=_amount(body, "stop_price"),
        trail=_amount(body, "trail"),
        client_order_id=_text(body, "client_order_id"),
    )
    if all(getattr(request, f.name) is None for f in fields(ReplaceRequest)):
        raise invalid(
            "one of qty, time_in_force, limit_price, stop_price, trail or client_order_id "
            "is required"
        )
    if request.qty is not None:
        check_qty(request.qty)
    if request.client_order_id is not None:
        check_client_order_id(request.client_order_id)
    return request


__all__ = [
    "OrderRequest",
    "ReplaceRequest",
    "SimError",
    "check_leg_prices",
    "check_price",
    "parse_order_request",
    "parse_replace_request",
]
