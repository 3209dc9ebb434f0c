"""The simulated brokerage account: cash, positions and the margin arithmetic.

Margin model (a simplified Reg T; Alpaca paper accounts are margin accounts)
---------------------------------------------------------------------------
- ``leverage`` is 2 when equity is at least $2,000 (Reg T's minimum for a margin account) and 1
  below that, where the account behaves like a cash account.
- ``initial_margin`` = sum over positions of ``|market value| * rate``; ``rate`` is ``1/leverage``
  for marginable stock (long or short) and 1 for non-marginable assets (all crypto, which is never
  bought on margin).
- Open orders that would open or add to a position reserve the margin they would need once
  filled (:class:`Reservation`; computed by the exchange, which knows the orders and quotes).
- ``buying_power = max(0, leverage * (equity - initial_margin - reserved.margin))``: the dollars
  of stock that can still be bought (or sold short). With no positions and leverage 2 that is
  twice the equity; each stock dollar held uses one dollar of it, each crypto dollar two.
- ``regt_buying_power`` is the same figure without the open-order reservations.
- ``non_marginable_buying_power = max(0, min(cash - reserved.cash, equity - initial_margin -
  reserved.margin))``: what crypto purchases can use. Crypto needs cash (no margin loan), and the
  excess-equity bound stops short-sale proceeds (which sit in cash) from being spent twice.
- ``multiplier`` is reported as ``"4"`` for accounts with equity >= $2,000 (what Alpaca paper
  shows for a margin account) and ``"1"`` otherwise; buying power deliberately uses the overnight
  2x figure rather than intraday leverage, a conservative simplification.
- Pattern-day-trader fields are not reported (Alpaca removed them on 2026-07-06).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from pulsetrader.domain.enums import OrderSide, PositionSide
from pulsetrader.domain.money import ZERO, decimal_str, isoformat_z
from pulsetrader.sim.assets import SimAsset
from pulsetrader.sim.orders import avg_text, random_uuid

MARGIN_MINIMUM_EQUITY = Decimal(2000)
_RATIO_PLACES = Decimal("0.0000000001")


def ratio_text(numerator: Decimal, denominator: Decimal) -> str:
    """``numerator / denominator`` as Alpaca-style text rounded to 10 places; "0" for x/0."""
    if denominator == 0:
        return "0"
    return decimal_str((numerator / denominator).quantize(_RATIO_PLACES))


@dataclass(frozen=True, slots=True)
class Reservation:
    """What open orders hold back: ``margin`` (initial margin they would need when filled) and
    ``cash`` (cash earmarked by crypto buys, which cannot use margin)."""

    margin: Decimal = ZERO
    cash: Decimal = ZERO


NO_RESERVATION = Reservation()


@dataclass(slots=True)
class SimPosition:
    """A non-zero holding of one asset. ``qty`` is signed: negative for a short.

    ``intraday_basis`` is the price intraday P/L is measured from: the previous close for shares
    held overnight, the (weighted) entry price for shares bought today. ``held_for_orders`` is
    refreshed by the exchange before it hands the position out.
    """

    asset: SimAsset
    qty: Decimal
    avg_entry_price: Decimal
    current_price: Decimal
    lastday_price: Decimal
    intraday_basis: Decimal
    held_for_orders: Decimal = ZERO

    @property
    def symbol(self) -> str:
        """Order spelling (``BTC/USD``); :meth:`to_alpaca` uses the position spelling."""
        return self.asset.symbol

    @property
    def side(self) -> PositionSide:
        return PositionSide.LONG if self.qty > 0 else PositionSide.SHORT

    @property
    def market_value(self) -> Decimal:
        """Signed: negative for a short."""
        return self.qty * self.current_price

    @property
    def cost_basis(self) -> Decimal:
        """Signed like the market value."""
        return self.qty * self.avg_entry_price

    @property
    def unrealized_pl(self) -> Decimal:
        return self.market_value - self.cost_basis

    @property
    def unrealized_intraday_pl(self) -> Decimal:
        return self.qty * (self.current_price - self.intraday_basis)

    @property
    def qty_available(self) -> Decimal:
        """Signed quantity not already promised to open closing orders."""
        sign = 1 if self.qty > 0 else -1
        return sign * max(ZERO, abs(self.qty) - self.held_for_orders)

    def apply(self, side: OrderSide, qty: Decimal, price: Decimal) -> None:
        """Apply one fill of ``qty`` (positive) at ``price``. The caller removes a zero position.

        Adding to a position re-weights the entry price; reducing keeps it; a fill that crosses
        through zero opens the other side at the fill price.
        """
        delta = side.sign * qty
        new_qty = self.qty + delta
        if self.qty * delta > 0:
            total = abs(new_qty)
            self.avg_entry_price = (abs(self.qty) * self.avg_entry_price + qty * price) / total
            self.intraday_basis = (abs(self.qty) * self.intraday_basis + qty * price) / total
        elif new_qty * self.qty < 0:
            self.avg_entry_price = price
            self.intraday_basis = price
        self.qty = new_qty

    def to_alpaca(self) -> dict[str, Any]:
        """The position exactly as ``GET /v2/positions`` shows it (crypto spelled ``BTCUSD``)."""
        return {
            "asset_id": self.asset.id,
            "symbol": self.asset.position_symbol,
            "exchange": self.asset.exchange,
            "asset_class": self.asset.asset_class.value,
            "asset_marginable": self.asset.marginable,
            "qty": decimal_str(self.qty),
            "qty_available": decimal_str(self.qty_available),
            "avg_entry_price": avg_text(self.avg_entry_price),
            "side": self.side.value,
            "market_value": decimal_str(self.market_value),
            "cost_basis": avg_text(self.cost_basis),
            "unrealized_pl": avg_text(self.unrealized_pl),
            "unrealized_plpc": ratio_text(self.unrealized_pl, abs(self.cost_basis)),
            "unrealized_intraday_pl": avg_text(self.unrealized_intraday_pl),
            "unrealized_intraday_plpc": ratio_text(
                self.unrealized_intraday_pl, abs(self.qty * self.intraday_basis)
            ),
            "current_price": decimal_str(self.current_price),
            "lastday_price": decimal_str(self.lastday_price),
            "change_today": ratio_text(self.current_price - self.lastday_price, self.lastday_price),
        }


@dataclass(slots=True)
class SimAccount:
    """Cash plus positions (keyed by order spelling), and the daily reference values."""

    id: str
    account_number: str
    cash: Decimal
    last_equity: Decimal
    positions: dict[str, SimPosition] = field(default_factory=dict)
    shorting_enabled: bool = True
    created_at: datetime | None = None
    last_maintenance_margin: Decimal = ZERO

    @classmethod
    def open(
        cls, cash: Decimal, rng: random.Random, created_at: datetime | None = None
    ) -> SimAccount:
        """A fresh account funded with ``cash``; ids come from ``rng`` so runs reproduce."""
        number = "PA3" + "".join(str(rng.randrange(10)) for _ in range(9))
        return cls(
            id=random_uuid(rng),
            account_number=number,
            cash=cash,
            last_equity=cash,
            created_at=created_at,
        )

    # -- valuation ----------------------------------------------------------------------------
    @property
    def long_market_value(self) -> Decimal:
        return sum((p.market_value for p in self.positions.values() if p.qty > 0), ZERO)

    @property
    def short_market_value(self) -> Decimal:
        """Negative (or zero): what it would cost to buy every short back."""
        return sum((p.market_value for p in self.positions.values() if p.qty < 0), ZERO)

    @property
    def equity(self) -> Decimal:
        return self.cash + self.long_market_value + self.short_market_value

    @property
    def leverage(self) -> int:
        """2 for a margin account at or above $2,000 of equity, else 1 (cash-account rules)."""
        return 2 if self.equity >= MARGIN_MINIMUM_EQUITY else 1

    @property
    def multiplier(self) -> str:
        return "4" if self.leverage == 2 else "1"

    def margin_rate(self, asset: SimAsset) -> Decimal:
        """Initial margin per dollar of ``asset``: 1/leverage if marginable, else 1."""
        return Decimal(1) / self.leverage if asset.marginable else Decimal(1)

    @property
    def initial_margin(self) -> Decimal:
        return sum(
            (abs(p.market_value) * self.margin_rate(p.asset) for p in self.positions.values()),
            ZERO,
        )

    @property
    def maintenance_margin(self) -> Decimal:
        return sum(
            (
                abs(p.market_value) * p.asset.maintenance_margin_requirement / 100
                for p in self.positions.values()
            ),
            ZERO,
        )

    def excess_equity(self, reserved: Reservation = NO_RESERVATION) -> Decimal:
        return self.equity - self.initial_margin - reserved.margin

    def buying_power(self, reserved: Reservation = NO_RESERVATION) -> Decimal:
        """Dollars of marginable stock that can still be bought or shorted (see module doc)."""
        return max(ZERO, self.leverage * self.excess_equity(reserved))

    def non_marginable_buying_power(self, reserved: Reservation = NO_RESERVATION) -> Decimal:
        """Dollars of crypto (or other non-marginable assets) that can still be bought."""
        return max(ZERO, min(self.cash - reserved.cash, self.excess_equity(reserved)))

    # -- changes ------------------------------------------------------------------------------
    def apply_fill(
        self,
        asset: SimAsset,
        side: OrderSide,
        qty: Decimal,
        price: Decimal,
        lastday_price: Decimal | None = None,
    ) -> Decimal:
        """Book one fill: move cash, update the position, return the signed position after it.

        Buying spends cash and selling (short sales included) receives it, so realised P/L
        reaches cash through the cash flows alone. ``lastday_price`` seeds a new position's
        previous-close reference (the fill price when unknown).
        """
        self.cash -= side.sign * qty * price
        position = self.positions.get(asset.symbol)
        if position is None:
            position = SimPosition(
                asset=asset,
                qty=ZERO,
                avg_entry_price=price,
                current_price=price,
                lastday_price=lastday_price if lastday_price is not None else price,
                intraday_basis=price,
            )
            self.positions[asset.symbol] = position
        position.apply(side, qty, price)
        if position.qty == 0:
            del self.positions[asset.symbol]
            return ZERO
        return position.qty

    def close_day(self) -> None:
        """At a session close: today's equity and margin become tomorrow's reference values."""
        self.last_equity = self.equity
        self.last_maintenance_margin = self.maintenance_margin
        for position in self.positions.values():
            position.lastday_price = position.current_price
            position.intraday_basis = position.current_price

    def to_alpaca(self, now: datetime, reserved: Reservation = NO_RESERVATION) -> dict[str, Any]:
        """The account as ``GET /v2/account`` shows it: every amount a string."""
        equity = self.equity
        long_mv = self.long_market_value
        short_mv = self.short_market_value
        initial = self.initial_margin
        return {
            "id": self.id,
            "account_number": self.account_number,
            "status": "ACTIVE",
            "crypto_status": "ACTIVE",
            "currency": "USD",
            "cash": decimal_str(self.cash),
            "portfolio_value": decimal_str(equity),
            "equity": decimal_str(equity),
            "last_equity": decimal_str(self.last_equity),
            "buying_power": decimal_str(self.buying_power(reserved)),
            "regt_buying_power": decimal_str(self.buying_power()),
            "non_marginable_buying_power": decimal_str(self.non_marginable_buying_power(reserved)),
            "options_buying_power": "0",
            "initial_margin": decimal_str(initial),
            "maintenance_margin": decimal_str(self.maintenance_margin),
            "last_maintenance_margin": decimal_str(self.last_maintenance_margin),
            "long_market_value": decimal_str(long_mv),
            "short_market_value": decimal_str(short_mv),
            "position_market_value": decimal_str(long_mv + short_mv),
            "sma": decimal_str(max(ZERO, equity - initial)),
            "accrued_fees": "0",
            "pending_transfer_in": "0",
            "pending_transfer_out": "0",
            "multiplier": self.multiplier,
            "shorting_enabled": self.shorting_enabled,
            "trading_blocked": False,
            "transfers_blocked": False,
            "account_blocked": False,
            "trade_suspended_by_user": False,
            "created_at": isoformat_z(self.created_at or now),
            "options_approved_level": 0,
            "options_trading_level": 0,
        }
