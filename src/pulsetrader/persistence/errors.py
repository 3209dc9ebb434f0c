"""Errors the journal raises on purpose, all under :class:`PulseTraderError`."""

from __future__ import annotations

from pulsetrader.domain.errors import PulseTraderError


class JournalError(PulseTraderError):
    """The journal refused an operation or cannot use its database file."""


class DuplicateClientOrderId(JournalError):
    """An intent was recorded for a ``client_order_id`` the journal already holds.

    Client order ids are the key of exactly-once ordering: reusing one would let a retry or a
    restart mistake a new order for an old one, so the second intent is refused, not merged.
    """

    def __init__(self, client_order_id: str) -> None:
        self.client_order_id = client_order_id
        super().__init__(f"client_order_id {client_order_id!r} is already in the journal")

    def __reduce__(self) -> tuple[type[DuplicateClientOrderId], tuple[str]]:
        return (type(self), (self.client_order_id,))


class JournalVersionError(JournalError):
    """The journal file was written by a newer PulseTrader, whose schema this one cannot read."""

    def __init__(self, path: str, found: int, supported: int) -> None:
        self.path = path
        self.found = found
        self.supported = supported
        super().__init__(
            f"journal {path} has schema version {found}, but this PulseTrader supports up to "
            f"{supported}; upgrade PulseTrader (or point PULSETRADER_DB at another file) rather "
            "than downgrade the journal"
        )

    def __reduce__(self) -> tuple[type[JournalVersionError], tuple[str, int, int]]:
        return (type(self), (self.path, self.found, self.supported))
