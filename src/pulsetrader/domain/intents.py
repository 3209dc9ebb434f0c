"""Order intents: what a strategy or a user asks to trade, validated before any order exists.

:class:`OrderIntent` lives apart from :mod:`pulsetrader.domain.orders` only to keep modules short;
``orders`` re-exports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pulsetrader.domain.enums import AssetClass, OrderClass, OrderSide, OrderType, TimeInForce
from pulsetrader.domain.money import decimal_str, optional_decimal
from pulsetrader.domain.symbols import asset_class_of, validate_symbol

# The optional price fields an intent and an order share, in Alpaca's order.
PRICE_FIELDS: tuple[str, ...] = (
    "limit_price",
    "stop_price",
    "trail_price",
    "trail_percent",
    "take_profit_limit_price",
    "stop_loss_stop_price",
    "stop_loss_limit_price",
)
MAX_CLIENT_ORDER_ID = 128  # Alpaca refuses longer client order ids.


def check_client_order_id(client_order_id: str | None) -> None:
    """Raise ValueError unless ``client_order_id`` is None or 1-128 characters, as Alpaca needs."""
    if client_order_id is not None and not 0 < len(client_order_id) <= MAX_CLIENT_ORDER_ID:
        raise ValueError(
            f"client_order_id must be 1-{MAX_CLIENT_ORDER_ID} characters, "
            f"got {len(client_order_id)}"
        )


def optional_decimal_str(value: Decimal | None) -> str | None:
    """:func:`~pulsetrader.domain.money.decimal_str`, passing None through."""
    return None if value is None else decimal_str(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderIntent:
    """What a strategy or a user asks to trade, before any order exists.

    Validated the way Alpaca (and alpaca-py) validate an order request, so a bad request fails
    here with a clear ValueError instead of at the broker. Exactly one of ``qty`` and
    ``notional`` (a cash amount). Bracket/OCO/OTO exits are the ``take_profit_*`` and
    ``stop_loss_*`` fields. ``reduce_only`` marks an exit: risk checks let it through while the
    engine is only reducing exposure.
    """

    symbol: str
    side: OrderSide
    qty: Decimal | None = None
    notional: Decimal | None = None
    type: OrderType = OrderType.MARKET
    time_in_force: TimeInForce = TimeInForce.DAY
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None
    trail_percent: Decimal | None = None
    order_class: OrderClass = OrderClass.SIMPLE
    take_profit_limit_price: Decimal | None = None
    stop_loss_stop_price: Decimal | None = None
    stop_loss_limit_price: Decimal | None = None
    extended_hours: bool = False
    client_order_id: str | None = None
    strategy: str | None = None
    reduce_only: bool = False

    def __post_init__(self) -> None:
        # Frozen dataclass: normalising fields in place needs object.__setattr__.
        put = object.__setattr__
        put(self, "symbol", validate_symbol(self.symbol))
        put(self, "side", OrderSide(self.side))
        put(self, "type", OrderType(self.type))
        put(self, "time_in_force", TimeInForce(self.time_in_force))
        put(self, "order_class", OrderClass(self.order_class))
        for name in ("qty", "notional", *PRICE_FIELDS):
            value = optional_decimal(getattr(self, name))
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
            put(self, name, value)
        check_client_order_id(self.client_order_id)
        self._check_amount()
        self._check_prices()
        self._check_order_class()
        if self.extended_hours and self.type is not OrderType.LIMIT:
            raise ValueError("extended_hours orders must be limit orders")

    def _check_amount(self) -> None:
        if (self.qty is None) == (self.notional is None):
            raise ValueError("give exactly one of qty and notional")
        if self.notional is not None and self.order_class is not OrderClass.SIMPLE:
            raise ValueError(f"{self.order_class.value} orders need qty, not notional")

    def _check_prices(self) -> None:
        kind = self.type.value
        if self.type.needs_limit_price:
            # alpaca-py lets an OCO limit order omit limit_price: its take-profit leg carries it.
            if self.limit_price is None and self.order_class is not OrderClass.OCO:
                raise ValueError(f"{kind} orders need limit_price")
        elif self.limit_price is not None:
            raise ValueError(f"limit_price is not allowed for {kind} orders")
        if self.type.needs_stop_price and self.stop_price is None:
            raise ValueError(f"{kind} orders need stop_price")
        if not self.type.needs_stop_price and self.stop_price is not None:
            raise ValueError(f"stop_price is not allowed for {kind} orders")
        trails = (self.trail_price is not None) + (self.trail_percent is not None)
        if self.type is OrderType.TRAILING_STOP and trails != 1:
            raise ValueError("trailing_stop orders need exactly one of trail_price, trail_percent")
        if self.type is not OrderType.TRAILING_STOP and trails:
            raise ValueError(f"trail_price/trail_percent are not allowed for {kind} orders")

    def _check_order_class(self) -> None:
        cls = self.order_class
        take_profit = self.take_profit_limit_price
        stop_loss = self.stop_loss_stop_price
        if self.stop_loss_limit_price is not None and stop_loss is None:
            raise ValueError("stop_loss_limit_price needs stop_loss_stop_price")
        if cls is OrderClass.SIMPLE:
            if take_profit is not None or stop_loss is not None:
                raise ValueError("take-profit/stop-loss prices need a bracket, oco or oto order")
            return
        if cls is OrderClass.OTO:
            if (take_profit is None) == (stop_loss is None):
                raise ValueError(
                    "oto orders need exactly one of take_profit_limit_price, stop_loss_stop_price"
                )
            return
        if take_profit is None or stop_loss is None:
            raise ValueError(
                f"{cls.value} orders need take_profit_limit_price and stop_loss_stop_price"
            )
        if cls is OrderClass.OCO and self.type is not OrderType.LIMIT:
            raise ValueError("oco orders must be limit orders")
        # A bracket's side opens the position; an OCO's side closes one. Either way a long
        # position takes profit above its stop, a short one below it.
        long = (self.side is OrderSide.BUY) == (cls is OrderClass.BRACKET)
        if long and take_profit <= stop_loss:
            raise ValueError("for a long position take_profit must be above stop_loss")
        if not long and take_profit >= stop_loss:
            raise ValueError("for a short position take_profit must be below stop_loss")

    @property
    def asset_class(self) -> AssetClass:
        """Equity or crypto, from the symbol."""
        return asset_class_of(self.symbol)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form: Decimals as text, enums as their Alpaca values."""
        data: dict[str, Any] = {
            "symbol": self.symbol,
            "side": self.side.value,
            "qty": optional_decimal_str(self.qty),
            "notional": optional_decimal_str(self.notional),
            "type": self.type.value,
            "time_in_force": self.time_in_force.value,
            "order_class": self.order_class.value,
        }
        data.update({name: optional_decimal_str(getattr(self, name)) for name in PRICE_FIELDS})
        data.update(
            extended_hours=self.extended_hours,
            client_order_id=self.client_order_id,
            strategy=self.strategy,
            reduce_only=self.reduce_only,
        )
        return data
