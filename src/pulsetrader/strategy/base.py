"""The Strategy base class and the parameters every strategy shares.

A strategy is a class with a registry ``name``, a ``Params`` model (pydantic, validated from the
strategies file) and async hooks the runner calls in order, one at a time per strategy:

``on_start`` once; then ``warmup_bars`` historical bars through ``on_bar`` with
``ctx.warming_up`` True (orders are refused); then live ``on_bar``, ``on_trade``, ``on_quote``,
``on_order_update`` and ``on_fill`` as they happen; ``on_stop`` once at shutdown. A hook that
raises pauses its strategy and no other. A strategy that does not override ``on_trade`` or
``on_quote`` is not subscribed to those streams (they are busy; bars are cheap).

Everything a strategy does goes through its :class:`~pulsetrader.strategy.context.StrategyContext`:
account, positions, prices, bars, and orders (which go through the order manager and therefore
the risk manager).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Generic, Self, TypeVar, cast

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from pulsetrader.domain.market import Bar, Quote, Timeframe, TimeframeUnit, Trade
from pulsetrader.domain.money import to_decimal
from pulsetrader.domain.orders import Order
from pulsetrader.domain.symbols import validate_symbol
from pulsetrader.execution.book import BookedFill

if TYPE_CHECKING:
    from pulsetrader.strategy.context import StrategyContext


def _exact_decimal(value: Any) -> Any:
    """TOML floats become Decimals through their text (``0.1`` is 0.1), never their binary value."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not true/false")
    if isinstance(value, float):
        return to_decimal(value)
    return value


#: A symbol in its order spelling (``BTCUSD`` becomes ``BTC/USD``), validated.
Symbol = Annotated[str, AfterValidator(validate_symbol)]
#: A positive amount; TOML may give it as text (``"1.5"``, exact), an integer or a float.
Amount = Annotated[Decimal, BeforeValidator(_exact_decimal), Field(gt=0)]
#: The same, zero allowed (a multiplier where 0 switches something off).
NonNegative = Annotated[Decimal, BeforeValidator(_exact_decimal), Field(ge=0)]


class StrategyParams(BaseModel):
    """Parameters every strategy takes. Subclass it to add a strategy's own.

    Unknown keys are refused (a typo must not silently become a default). ``qty`` and
    ``notional`` size each entry: at most one; a subclass may default either, and the one the
    file gives replaces that default.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    symbols: tuple[Symbol, ...] = Field(
        min_length=1, description="the symbols to trade, e.g. AAPL or BTC/USD"
    )
    timeframe: str = Field("1Min", description="bar size: 1Min-59Min or 1Hour-23Hour")
    qty: Amount | None = Field(None, description="units per entry; one of qty and notional")
    notional: Amount | None = Field(None, description="cash per entry; one of qty and notional")

    @model_validator(mode="before")
    @classmethod
    def _given_size_replaces_default(cls, data: Any) -> Any:
        # A subclass defaults one of the two; the one the file gives replaces that default.
        if isinstance(data, Mapping):
            if data.get("notional") is not None and "qty" not in data:
                return {**data, "qty": None}
            if data.get("qty") is not None and "notional" not in data:
                return {**data, "notional": None}
        return data

    @field_validator("symbols")
    @classmethod
    def _unique_symbols(cls, symbols: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(symbols))

    @field_validator("timeframe")
    @classmethod
    def _live_timeframe(cls, text: str) -> str:
        timeframe = Timeframe.parse(text)
        if timeframe.unit not in (TimeframeUnit.MINUTE, TimeframeUnit.HOUR):
            raise ValueError(
                f"{timeframe} is not supported: live bars are built from minute bars, so use "
                "minutes or hours (1Min-59Min, 1Hour-23Hour)"
            )
        return str(timeframe)

    @model_validator(mode="after")
    def _one_size(self) -> Self:
        if self.qty is not None and self.notional is not None:
            raise ValueError("give qty or notional, not both")
        return self

    @property
    def bar_timeframe(self) -> Timeframe:
        """:attr:`timeframe` parsed."""
        return Timeframe.parse(self.timeframe)


P = TypeVar("P", bound=StrategyParams)


class Strategy(Generic[P]):
    """Base class of every strategy. Override the hooks you need; all default to doing nothing.

    Class attributes: ``name``, the key the strategies file names it by (``kind = "..."``), and
    ``Params``, its parameter model. Subclasses are generic in their parameters, so
    ``class MyStrategy(Strategy[MyParams])`` types ``self.params`` as ``MyParams``.
    Hooks for one strategy never overlap: the next starts when the previous returned.
    """

    name: ClassVar[str] = ""
    Params: ClassVar[type[StrategyParams]] = StrategyParams

    def __init__(self, params: P) -> None:
        if not isinstance(params, self.Params):
            raise TypeError(
                f"{type(self).__name__} takes {self.Params.__name__}, got {type(params).__name__}"
            )
        self.params: P = params

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not (isinstance(cls.Params, type) and issubclass(cls.Params, StrategyParams)):
            raise TypeError(f"{cls.__qualname__}.Params must subclass StrategyParams")

    @classmethod
    def configure(cls, **values: Any) -> Self:
        """An instance with ``Params`` validated from ``values`` (for code and tests)."""
        return cls(cast(P, cls.Params.model_validate(values)))

    @classmethod
    def summary(cls) -> str:
        """The first paragraph of the class docstring (for listings of the known kinds)."""
        doc = (cls.__doc__ or "").strip()
        return " ".join(doc.split("\n\n", 1)[0].split())

    # -- what the runner needs to know ----------------------------------------------------------

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbols this strategy receives bars (and trades/quotes) for."""
        return self.params.symbols

    @property
    def timeframe(self) -> Timeframe:
        """The bar size :meth:`on_bar` receives."""
        return self.params.bar_timeframe

    @property
    def warmup_bars(self) -> int:
        """How many historical bars per symbol to feed :meth:`on_bar` before going live."""
        return 0

    @property
    def wants_trades(self) -> bool:
        """True when :meth:`on_trade` is overridden (so the trade stream is subscribed)."""
        return type(self).on_trade is not Strategy.on_trade

    @property
    def wants_quotes(self) -> bool:
        """True when :meth:`on_quote` is overridden (so the quote stream is subscribed)."""
        return type(self).on_quote is not Strategy.on_quote

    # -- hooks ------------------------------------------------------------------------------------

    async def on_start(self, ctx: StrategyContext) -> None:
        """Once, before warm-up: set up indicators and state."""

    async def on_bar(self, ctx: StrategyContext, bar: Bar) -> None:
        """A completed bar of :attr:`timeframe` for one of :attr:`symbols` (also during warm-up,
        with ``ctx.warming_up`` True)."""

    async def on_trade(self, ctx: StrategyContext, trade: Trade) -> None:
        """A trade print in one of :attr:`symbols`."""

    async def on_quote(self, ctx: StrategyContext, quote: Quote) -> None:
        """A new best bid/offer in one of :attr:`symbols`."""

    async def on_order_update(self, ctx: StrategyContext, order: Order) -> None:
        """One of this strategy's orders changed (status or filled quantity); a snapshot."""

    async def on_fill(self, ctx: StrategyContext, fill: BookedFill) -> None:
        """An execution of one of this strategy's orders, with the P/L it realized."""

    async def on_stop(self, ctx: StrategyContext) -> None:
        """Once, at shutdown (also when paused). Orders are still allowed here."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params!r})"
