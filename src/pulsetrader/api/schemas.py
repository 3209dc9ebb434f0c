"""The API's request and response models: what the OpenAPI schema documents and FastAPI checks.

Amounts are decimal text (``"123.45"``), never floats, as Alpaca writes them; times are RFC 3339
in UTC with a ``Z``. Models of dicts that other modules build (orders, strategies, the health
snapshot) allow extra fields, so a field added there reaches clients without an API change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pulsetrader.domain.enums import TradingState

Amount = Annotated[str, Field(description="a decimal amount as text", examples=["1234.5"])]
Stamp = Annotated[str, Field(description="RFC 3339 time in UTC", examples=["2024-01-03T14:30:00Z"])]


class _Open(BaseModel):
    """A model whose producer may add fields."""

    model_config = ConfigDict(extra="allow")


# -- errors ------------------------------------------------------------------------------------


class ErrorOut(BaseModel):
    """Every error answer: ``detail`` says what went wrong, in words."""

    detail: str


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorOut(BaseModel):
    """A 422: ``detail`` sums up every problem; ``errors`` lists them one by one when the
    request did not match the schema (empty when the engine refused a valid-looking value)."""

    detail: str
    errors: list[FieldError] = Field(default_factory=list)


# -- auth --------------------------------------------------------------------------------------


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type
    expires_in: int = Field(description="seconds until the access token expires")


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=4096)


class MeOut(BaseModel):
    username: str


# -- reads -------------------------------------------------------------------------------------


class HealthOut(BaseModel):
    healthy: bool


class StatusOut(BaseModel):
    """The dashboard's header: one cheap call (no broker round trip), also streamed each second.

    Account figures are the latest snapshot the engine has (None before the first one).
    """

    mode: str
    trading_state: TradingState
    state_reason: str | None
    healthy: bool
    simulated_time: Stamp = Field(description="the broker's clock (the simulator's in sim mode)")
    equity: Amount | None
    cash: Amount | None
    day_pl: Amount | None
    realized_pl: Amount
    unrealized_pl: Amount
    open_orders: int
    positions: int


class AccountOut(BaseModel):
    account_id: str
    status: str
    currency: str
    cash: Amount
    equity: Amount
    buying_power: Amount
    last_equity: Amount
    long_market_value: Amount
    short_market_value: Amount
    portfolio_value: Amount
    multiplier: Amount
    shorting_enabled: bool
    trading_blocked: bool
    as_of: Stamp
    day_pl: Amount
    day_pl_pct: Amount | None


class PositionOut(BaseModel):
    symbol: str
    qty: Amount = Field(description="signed: negative when short")
    side: Literal["long", "short"]
    avg_entry_price: Amount
    current_price: Amount | None
    market_value: Amount
    unrealized_pl: Amount
    unrealized_plpc: Amount | None
    asset_class: Literal["us_equity", "crypto"]


class OrderOut(_Open):
    """An order as the engine keeps it (``Order.to_dict``)."""

    client_order_id: str
    broker_order_id: str | None
    symbol: str
    side: str
    type: str
    time_in_force: str
    order_class: str
    status: str
    qty: Amount | None
    notional: Amount | None
    filled_qty: Amount
    filled_avg_price: Amount | None
    remaining_qty: Amount | None
    limit_price: Amount | None = None
    stop_price: Amount | None = None
    trail_price: Amount | None = None
    trail_percent: Amount | None = None
    take_profit_limit_price: Amount | None = None
    stop_loss_stop_price: Amount | None = None
    stop_loss_limit_price: Amount | None = None
    created_at: Stamp
    updated_at: Stamp
    submitted_at: Stamp | None
    filled_at: Stamp | None
    canceled_at: Stamp | None
    strategy: str | None
    extended_hours: bool
    reduce_only: bool
    replaces: str | None
    replaced_by: str | None
    reject_reason: str | None
    legs: list[OrderOut]


class OrderPage(BaseModel):
    orders: list[OrderOut]
    total: int = Field(description="orders matching the filters, all pages")
    limit: int
    offset: int


class FillOut(BaseModel):
    execution_id: str
    order_id: str | None
    client_order_id: str | None
    symbol: str
    side: str
    qty: Amount
    price: Amount
    timestamp: Stamp
    strategy: str | None
    realized_pl: Amount | None


class FillPage(BaseModel):
    fills: list[FillOut] = Field(description="newest first")
    limit: int
    offset: int


class DailyPnLOut(BaseModel):
    date: str = Field(description="New York trading date, YYYY-MM-DD", examples=["2024-01-03"])
    realized: Amount
    equity_start: Amount | None
    equity_end: Amount | None
    change: Amount | None


class PnLOut(BaseModel):
    realized_total: Amount
    unrealized_total: Amount
    daily: list[DailyPnLOut] = Field(description="oldest first")
    by_strategy: dict[str, Amount] = Field(description='"(none)" holds fills of no strategy')
    by_symbol: dict[str, Amount]


class EquityPointOut(BaseModel):
    at: Stamp
    equity: Amount
    cash: Amount | None


class EquityOut(BaseModel):
    points: list[EquityPointOut] = Field(description="oldest first")


class StrategyOut(_Open):
    """A strategy instance as the runner reports it."""

    name: str
    kind: str
    state: str
    reason: str | None
    error: str | None
    symbols: list[str]
    bars: int


class RiskLimitsOut(BaseModel):
    max_position_pct: Amount
    max_position_notional: Amount
    max_order_notional: Amount
    max_open_positions: int
    max_open_stock_positions: int
    max_open_crypto_positions: int
    daily_loss_limit: Amount
    max_drawdown_pct: Amount
    max_orders_per_minute: int
    allowlist: list[str]
    denylist: list[str]
    crypto_min_notional: Amount


class RiskOut(BaseModel):
    state: TradingState
    reason: str | None
    limits: RiskLimitsOut
    daily_pl: Amount | None
    drawdown_pct: Amount | None
    high_water_mark: Amount | None
    day_start_equity: Amount | None


class HealthDetailsOut(_Open):
    """The connection health monitor's snapshot (latency per endpoint, streams, transitions)."""

    healthy: bool
    preservation: bool
    state: TradingState


class ActionOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any] | None


class ActionPage(BaseModel):
    actions: list[ActionOut] = Field(description="newest first")
    limit: int
    offset: int


# -- actions -----------------------------------------------------------------------------------


class HaltIn(BaseModel):
    reason: str | None = Field(None, max_length=500, description="shown in the audit trail")


class TradingStateOut(BaseModel):
    changed: bool = Field(description="false when the engine was already in that state")
    state: TradingState
    reason: str | None


class CancelOut(BaseModel):
    requested: bool = Field(description="whether the broker accepted the cancel request")
    order: OrderOut


class DenialOut(BaseModel):
    rule: str
    reason: str


class CloseOut(BaseModel):
    submitted: bool
    order: OrderOut | None = None
    denied: DenialOut | None = None


class CloseAllOut(BaseModel):
    count: int
    results: list[CloseOut]
