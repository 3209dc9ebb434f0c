"""The errors the broker edge raises. No aiohttp or transport exception gets past it.

::

    PulseTraderError
    └── BrokerError                   anything the broker said no to, or could not be asked
        ├── AuthenticationError       401/403 on credentials: wrong, revoked, paper keys on live
        ├── NotFound                  404: no such order, position, asset
        ├── InvalidRequest            400/422 and other 4xx: fix the request, do not retry
        │   └── OrderRejected         the broker refused an order (Alpaca's code and reason)
        │       └── InsufficientBuyingPower
        └── TransientError            may succeed later: retried by RetryStrategy
            ├── RateLimitError        429, with when the budget refills
            ├── BrokerUnavailable     5xx, connection refused or reset
            ├── BrokerTimeout         no answer in time
            └── OrderStatusUnknown    a submission's fate could not be established

Which errors are retried is decided by the class alone (``TransientError``), never by parsing
messages at the call site. Messages are written for the person reading the log: what failed,
what the broker said, and what to do.
"""

from __future__ import annotations

from pulsetrader.domain.errors import PulseTraderError


class BrokerError(PulseTraderError):
    """A broker call failed. ``status`` and ``code`` are the HTTP status and Alpaca's error code
    when there was a response; ``endpoint`` names the call (``submit_order``)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        endpoint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.endpoint = endpoint

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments are not in ``args``: spell them out so errors survive pickling.
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


def _rebuild(cls: type[BrokerError], message: str, state: dict[str, object]) -> BrokerError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class AuthenticationError(BrokerError):
    """The broker refused our credentials. Retrying will not help; check the keys and the mode."""


class NotFound(BrokerError):
    """The order, position or asset does not exist at the broker."""


class InvalidRequest(BrokerError):
    """The broker refused the request as malformed or not allowed. Retrying will not help."""


class OrderRejected(InvalidRequest):
    """The broker refused an order. ``reason`` is the broker's own message."""

    @property
    def reason(self) -> str:
        return self.message


class InsufficientBuyingPower(OrderRejected):
    """The order needs more buying power (or, for a sell, more quantity) than the account has."""


class TransientError(BrokerError):
    """A failure that may go away by itself: worth retrying after a pause."""

    retry_after: float | None = None


class RateLimitError(TransientError):
    """Too many requests. ``retry_after`` is how many seconds until the budget refills, if known."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class BrokerUnavailable(TransientError):
    """The broker answered 5xx, or the connection failed."""


class BrokerTimeout(TransientError):
    """The broker did not answer within the timeout."""


class OrderStatusUnknown(TransientError):
    """A submission may or may not have reached the broker, and asking did not settle it.

    Nothing is resubmitted in this state: reconciliation looks the order up by
    ``client_order_id`` once the broker answers again.
    """

    def __init__(self, message: str, *, client_order_id: str, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.client_order_id = client_order_id
