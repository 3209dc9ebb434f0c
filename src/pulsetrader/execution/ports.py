"""What the order manager needs from its collaborators, as typed protocols.

The real ones are :class:`~pulsetrader.persistence.Journal` and
:class:`~pulsetrader.broker.AlpacaClient`; the protocols keep the execution code honest about
which of their methods it relies on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from pulsetrader.domain.events import OrderUpdate
from pulsetrader.domain.fills import Fill
from pulsetrader.domain.intents import OrderIntent
from pulsetrader.domain.orders import Order
from pulsetrader.domain.position import Position


class OrderJournal(Protocol):
    """The journal's order-side API (see :class:`pulsetrader.persistence.Journal`)."""

    def record_intent(
        self,
        order: Order,
        intent: OrderIntent,
        *,
        approved_at: datetime | None = None,
    ) -> None: ...

    def record_order(self, order: Order) -> None: ...

    def batch(self) -> AbstractContextManager[None]:
        """The writes inside share one transaction."""
        ...

    def load_orders(self, *, open_only: bool = False) -> list[Order]: ...

    def record_fill(
        self, fill: Fill, *, realized_pl: Decimal | None = None, strategy: str | None = None
    ) -> bool: ...

    def fills(self) -> Sequence[Any]:
        """Every journaled execution, as records with a ``fill`` attribute."""
        ...

    def record_event(self, update: OrderUpdate, order: Order | None = None) -> bool: ...

    def record_decision(
        self,
        intent: OrderIntent,
        approved: bool,
        reason: str,
        rule: str | None = None,
        at: datetime | None = None,
        client_order_id: str | None = None,
    ) -> None: ...

    def save_positions(self, positions: Iterable[Position], at: datetime) -> None: ...

    def load_positions(self) -> dict[str, Position]: ...

    def get_state(self, key: str) -> str | None: ...

    def set_state(self, key: str, value: str) -> None: ...

    def record_action(
        self,
        actor: str,
        action: str,
        detail: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> None: ...
