"""The root of PulseTrader's exception tree and the errors the pure domain model raises.

Everything PulseTrader raises on purpose derives from :class:`PulseTraderError`, so a caller at a
boundary (CLI, API handler, engine loop) can tell "our refusal, with a message meant for people"
apart from a bug. Broker and I/O errors live in their own modules and subclass
:class:`PulseTraderError` too.
"""

from __future__ import annotations

from pulsetrader.domain.enums import OrderStatus


class PulseTraderError(Exception):
    """Base class for every error PulseTrader raises deliberately."""


class DomainError(PulseTraderError):
    """The domain model refused an operation that would make its state inconsistent."""


class InvalidTransition(DomainError):
    """An order was asked to move between two statuses the transition table does not connect."""

    def __init__(
        self,
        from_status: OrderStatus,
        to_status: OrderStatus,
        client_order_id: str | None = None,
    ) -> None:
        self.from_status = from_status
        self.to_status = to_status
        self.client_order_id = client_order_id
        who = f"order {client_order_id}" if client_order_id else "order"
        super().__init__(f"{who} cannot go from {from_status.value} to {to_status.value}")

    def __reduce__(self) -> tuple[type[InvalidTransition], tuple[object, ...]]:
        # The default reduce replays ``self.args`` (just the message) into __init__, which takes
        # the statuses instead; spell the real arguments out so the error survives pickling.
        return (type(self), (self.from_status, self.to_status, self.client_order_id))


class OverfillError(DomainError):
    """A fill or broker update would make an order's filled quantity exceed its quantity."""


class ConfigError(PulseTraderError):
    """The configuration is missing, malformed or contradictory."""
