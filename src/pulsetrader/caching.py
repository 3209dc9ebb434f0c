"""A TTL cache whose concurrent misses share one load ("single flight").

When twenty strategies ask for the account in the same tick, the broker should see one request.
:meth:`TtlCache.get_or_load` runs the loader as its own task and lets every caller that missed
the same key await that task. A caller that is cancelled stops waiting without cancelling the
load for the others, and a failed load is not cached: the next caller tries again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(slots=True)
class CacheStats:
    """How the cache has been used: ``loads`` is what reached the source."""

    hits: int = 0
    misses: int = 0
    loads: int = 0
    shared: int = 0
    failures: int = 0

    @property
    def saved(self) -> int:
        """Requests that did not reach the source thanks to the cache."""
        return self.hits + self.shared


class TtlCache(Generic[K, V]):
    """Values expire ``ttl`` seconds after they were stored. Clock injectable for tests."""

    def __init__(
        self,
        ttl: float,
        *,
        max_entries: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl < 0:
            raise ValueError("ttl must not be negative")
        self.ttl = ttl
        self.max_entries = max_entries
        self._monotonic = monotonic
        self._values: dict[K, tuple[float, V]] = {}
        self._inflight: dict[K, asyncio.Task[V]] = {}
        # Bumped by invalidate(): a load that started before it must not store what it read.
        self._generation = 0
        self.stats = CacheStats()

    def get(self, key: K) -> V | None:
        """The fresh value for ``key``, or None."""
        entry = self._values.get(key)
        if entry is None or self._monotonic() - entry[0] > self.ttl:
            return None
        return entry[1]

    def peek(self, key: K) -> tuple[V, float] | None:
        """The stored value and its age in seconds, fresh or not."""
        entry = self._values.get(key)
        if entry is None:
            return None
        return entry[1], self._monotonic() - entry[0]

    def put(self, key: K, value: V) -> None:
        """Store ``value`` as fresh now."""
        if key not in self._values and len(self._values) >= self.max_entries:
            # Evict the oldest entry: dicts keep insertion order and puts re-insert.
            self._values.pop(next(iter(self._values)))
        self._values.pop(key, None)
        self._values[key] = (self._monotonic(), value)

    def invalidate(self, key: K | None = None) -> None:
        """Forget ``key`` (or everything).

        Loads in flight still complete for the callers already waiting on them, but what they
        read may predate the change that caused this call: they store nothing, and the next
        read starts a load of its own rather than joining one of theirs.
        """
        self._generation += 1
        if key is None:
            self._values.clear()
            self._inflight.clear()
        else:
            self._values.pop(key, None)
            self._inflight.pop(key, None)

    def __len__(self) -> int:
        return len(self._values)

    async def get_or_load(self, key: K, loader: Callable[[], Awaitable[V]]) -> V:
        """The fresh value, or the result of one shared call to ``loader``.

        A stored None is a value like any other (a previous close the broker does not know is
        cached as unknown for the TTL rather than asked for on every read).
        """
        entry = self._values.get(key)
        if entry is not None and self._monotonic() - entry[0] <= self.ttl:
            self.stats.hits += 1
            return entry[1]
        task = self._inflight.get(key)
        if task is None:
            self.stats.misses += 1
            task = self._start_load(key, loader)
        else:
            self.stats.shared += 1
        # shield: a cancelled caller must not cancel the load the other callers wait on.
        return await asyncio.shield(task)

    async def get_or_refresh(
        self, key: K, loader: Callable[[], Awaitable[V]], max_stale: float
    ) -> V:
        """Like :meth:`get_or_load`, but a stored value past the TTL and no older than
        ``max_stale`` seconds is returned at once, while one shared load renews it in the
        background (stale-while-revalidate). Only an older value, or none, is waited for."""
        entry = self._values.get(key)
        if entry is not None:
            age = self._monotonic() - entry[0]
            if self.ttl < age <= max_stale:
                self.stats.hits += 1
                if key not in self._inflight:
                    self._start_load(key, loader)
                return entry[1]
        return await self.get_or_load(key, loader)

    def _start_load(self, key: K, loader: Callable[[], Awaitable[V]]) -> asyncio.Task[V]:
        self.stats.loads += 1
        task = asyncio.ensure_future(self._load(key, loader, self._generation))
        self._inflight[key] = task
        task.add_done_callback(lambda t, k=key: self._done(k, t))  # type: ignore[misc]
        return task

    async def _load(self, key: K, loader: Callable[[], Awaitable[V]], generation: int) -> V:
        value = await loader()
        if generation == self._generation:
            self.put(key, value)
        return value

    def _done(self, key: K, task: asyncio.Task[V]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled() and task.exception() is not None:
            # Retrieved here so an exception nobody awaited any more is not reported as lost.
            self.stats.failures += 1

    @property
    def inflight(self) -> int:
        """Loads running now."""
        return len(self._inflight)
