"""RetryStrategy: exponential backoff with full jitter, for transient broker failures only.

Only :class:`~pulsetrader.broker.errors.TransientError` is retried: a 4xx will fail the same way
again, and retrying it only burns the rate-limit budget. A ``retry_after`` the broker gave (429's
``Retry-After`` / ``X-RateLimit-Reset``) is a floor under the computed delay.

The transport retries nothing itself (unlike alpaca-py's REST clients, which re-send 429s and
504s, POST /orders included), so this is the only place attempts are counted and the configured
``max_attempts`` is what the broker sees.

Order submissions never go through here: re-sending an order is only safe after asking the broker
whether it already has it, which :meth:`AlpacaClient.submit_order` does itself.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from loguru import logger

from pulsetrader.broker.errors import TransientError

T = TypeVar("T")


@dataclass(slots=True)
class RetryStrategy:
    """Retry transient failures with delays ``uniform(0, min(max_delay, base_delay * 2**n))``.

    ``max_attempts`` counts the first try (1 means no retry). ``sleep`` and ``rng`` are injectable
    so tests run without waiting and deterministically.
    """

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must not be negative")

    def delay(self, attempt: int, error: TransientError | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        backoff = self.rng.uniform(0, ceiling)
        floor = error.retry_after if error is not None and error.retry_after is not None else 0.0
        # The broker's own "come back in N seconds" wins even over max_delay: asking earlier is
        # guaranteed to fail again.
        return max(backoff, floor)

    async def run(self, call: Callable[[], Awaitable[T]], description: str = "call") -> T:
        """Await ``call()`` until it succeeds, fails permanently, or attempts run out."""
        attempt = 1
        while True:
            try:
                return await call()
            except TransientError as exc:
                if attempt >= self.max_attempts:
                    raise
                wait = self.delay(attempt, exc)
                logger.warning(
                    "{} failed ({}), attempt {}/{}; retrying in {:.2f}s",
                    description,
                    exc,
                    attempt,
                    self.max_attempts,
                    wait,
                )
                await self.sleep(wait)
                attempt += 1
