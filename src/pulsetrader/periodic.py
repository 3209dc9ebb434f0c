"""PeriodicTask: run an async action every N seconds in a named task that survives its failures.

The caches' background refreshes (account, prices) share this: a failed round is logged with
its traceback and the next one runs on schedule, so one broker hiccup never ends the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from loguru import logger


class PeriodicTask:
    """``action`` every ``interval`` seconds, first at once (``immediately``) or after one wait."""

    def __init__(
        self,
        name: str,
        interval: float,
        action: Callable[[], Awaitable[object]],
        *,
        immediately: bool = True,
    ) -> None:
        self.name = name
        self.interval = interval
        self.action = action
        self.immediately = immediately
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the loop on the running event loop (idempotent)."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        """Cancel the loop and wait for it to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        if not self.immediately:
            await asyncio.sleep(self.interval)
        while True:
            try:
                await self.action()
            except Exception:  # the loop must survive anything; the error is logged
                logger.exception("{} failed", self.name)
            await asyncio.sleep(self.interval)
