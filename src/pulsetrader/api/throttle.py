"""Slowing down password guessing: per user name and per client address.

Every failed login counts against two keys, the user name tried and the client's address, so
neither guessing one account from many addresses nor many accounts from one address goes fast.
What a key's failures cost (``n`` failures so far, the worse key decides):

* up to ``free_failures``: nothing (people mistype);
* beyond that, the failed answer is delayed: ``base_delay * 2**k`` seconds, capped at
  ``max_delay``, which slows one client trying in sequence;
* from ``lockout_after`` on, attempts are refused with 429 and ``Retry-After`` until
  ``lockout_base * 2**k`` seconds (capped at ``max_lockout``) have passed since the last failure,
  without checking the password, which also stops many attempts in parallel.

A success clears both keys. Keys are forgotten ``forget_after`` seconds after their last failure,
and at most ``max_keys`` are kept (the oldest go first), so memory stays bounded under a flood.
The clock and the sleep are injectable: tests move time instead of waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Record:
    failures: int
    last: float


class LoginThrottle:
    """Failed-login bookkeeping; see the module docstring for the rule."""

    def __init__(
        self,
        *,
        free_failures: int = 3,
        base_delay: float = 0.5,
        max_delay: float = 8.0,
        lockout_after: int = 10,
        lockout_base: float = 30.0,
        max_lockout: float = 900.0,
        forget_after: float = 3600.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not 0 <= free_failures < lockout_after:
            raise ValueError("need 0 <= free_failures < lockout_after")
        self.free_failures = free_failures
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.lockout_after = lockout_after
        self.lockout_base = lockout_base
        self.max_lockout = max_lockout
        self.forget_after = forget_after
        self.max_keys = max_keys
        self.clock = clock
        self.sleep = sleep
        self._records: OrderedDict[str, _Record] = OrderedDict()

    @staticmethod
    def keys(username: str, client: str | None) -> tuple[str, str]:
        """The two keys an attempt counts against (names folded, so case does not dodge it)."""
        return f"user:{username.strip().lower()[:64]}", f"client:{client or 'unknown'}"

    def _get(self, key: str, now: float) -> _Record | None:
        record = self._records.get(key)
        if record is not None and now - record.last >= self.forget_after:
            del self._records[key]
            return None
        return record

    def failures(self, username: str, client: str | None) -> int:
        """The failures that count against this attempt (the worse of its two keys)."""
        now = self.clock()
        counts = [r.failures for k in self.keys(username, client) if (r := self._get(k, now))]
        return max(counts, default=0)

    def retry_after(self, username: str, client: str | None) -> float | None:
        """Seconds until this user name may be tried again from this client; None if now."""
        now = self.clock()
        wait = 0.0
        for key in self.keys(username, client):
            record = self._get(key, now)
            if record is None or record.failures < self.lockout_after:
                continue
            lockout = self.lockout_base * 2 ** (record.failures - self.lockout_after)
            wait = max(wait, record.last + min(lockout, self.max_lockout) - now)
        return wait if wait > 0 else None

    def delay_for(self, failures: int) -> float:
        """How long the answer to the ``failures``-th failure is held back."""
        if failures <= self.free_failures:
            return 0.0
        return float(
            min(self.max_delay, self.base_delay * 2 ** (failures - self.free_failures - 1))
        )

    def record_failure(self, username: str, client: str | None) -> float:
        """Count a failed attempt; return the delay its answer should wait."""
        now = self.clock()
        worst = 0
        for key in self.keys(username, client):
            record = self._get(key, now)
            if record is None:
                record = self._records[key] = _Record(0, now)
            record.failures += 1
            record.last = now
            self._records.move_to_end(key)
            worst = max(worst, record.failures)
        while len(self._records) > self.max_keys:
            self._records.popitem(last=False)
        return self.delay_for(worst)

    async def fail(self, username: str, client: str | None) -> None:
        """Count a failed attempt and wait out its delay."""
        delay = self.record_failure(username, client)
        if delay > 0:
            await self.sleep(delay)

    def record_success(self, username: str, client: str | None) -> None:
        """A correct password: forget this user name's and this client's failures."""
        for key in self.keys(username, client):
            self._records.pop(key, None)

    def __len__(self) -> int:
        return len(self._records)
