"""One WebSocket that stays up: connect, handshake, read, and on any failure back off and again.

:class:`StreamConnection` owns the reconnect loop that every stream client shares; subclasses
say how to shake hands and what to do with a frame. Rules it enforces:

* Backoff is exponential with "equal jitter" (half the ceiling fixed, half random), capped at
  ``max_delay``: never a tight loop (alpaca-py #740's 429 storm), and clients that dropped
  together do not come back together. The count resets once a connection has delivered data
  or stayed up for ``stable_after`` seconds (the order stream can be quiet for hours).
* "Connection limit exceeded" (406 on the data streams, HTTP 429 at the upgrade on
  ``trade_updates``) means Alpaca still holds an old socket for the key; it drops it within about
  a minute, so those waits start at ``limit_delay`` and grow to ``limit_max_delay`` (90 s).
* Silence is a fault while the market is open: a watchdog closes a socket that has carried no
  frame for ``silence_timeout`` seconds, and the loop reconnects.
* Every connect, disconnect, refusal and silence goes to the hooks and the log.

The loop runs as a named task on the caller's event loop (never ``asyncio.run``), so streams are
started and subscribed to from inside the engine's running loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from loguru import logger
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException

from pulsetrader.domain.money import utcnow
from pulsetrader.streaming.events import StreamEvent, StreamEventKind, StreamHook
from pulsetrader.streaming.protocol import (
    AUTH_FAILED,
    CONNECTION_LIMIT,
    StreamProtocolError,
)


@dataclass(slots=True)
class ReconnectPolicy:
    """How long to wait before reconnect attempt ``n`` (1-based)."""

    base_delay: float = 1.0
    max_delay: float = 30.0
    limit_delay: float = 15.0
    limit_max_delay: float = 90.0
    rng: random.Random = field(default_factory=random.Random)

    def _jittered(self, ceiling: float) -> float:
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    @staticmethod
    def _ceiling(base: float, cap: float, attempt: int) -> float:
        # The exponent is clamped: 2**1100 does not fit a float, and a stream that has been
        # down for a day has failed more often than that.
        return min(cap, base * 2.0 ** min(max(0, attempt - 1), 64))

    def delay(self, attempt: int) -> float:
        """After an ordinary failure: ``[c/2, c]`` with ``c = min(max, base * 2**(n-1))``."""
        return self._jittered(self._ceiling(self.base_delay, self.max_delay, attempt))

    def limit_wait(self, attempt: int) -> float:
        """After "connection limit exceeded": long enough for Alpaca to drop the stale socket."""
        return self._jittered(self._ceiling(self.limit_delay, self.limit_max_delay, attempt))


class ConnectionRefused(Exception):
    """The server refused this connection for a reason that a quick retry will not fix."""

    def __init__(self, kind: StreamEventKind, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code


class StreamConnection(ABC):
    """A self-healing WebSocket client. :meth:`start`, then :meth:`stop`; or await :meth:`run`.

    ``is_market_open`` decides whether silence is a fault (crypto: always; stocks: the broker's
    clock). ``silence_timeout`` of None turns the watchdog off (the order stream is quiet when
    nothing trades, and relies on WebSocket pings instead).
    """

    def __init__(
        self,
        name: str,
        url: str,
        *,
        policy: ReconnectPolicy | None = None,
        hooks: Iterable[StreamHook] = (),
        silence_timeout: float | None = None,
        is_market_open: Callable[[], bool] = lambda: True,
        headers: dict[str, str] | None = None,
        open_timeout: float = 10.0,
        ping_interval: float = 10.0,
        ping_timeout: float = 30.0,
        stable_after: float = 60.0,
    ) -> None:
        self.name = name
        self.url = url
        self.policy = policy or ReconnectPolicy()
        self._hooks = list(hooks)
        self.silence_timeout = silence_timeout
        self.is_market_open = is_market_open
        self._connect_args: dict[str, Any] = {
            "additional_headers": headers or {},
            "open_timeout": open_timeout,
            "ping_interval": ping_interval,
            "ping_timeout": ping_timeout,
            "close_timeout": 2.0,
            "max_size": None,
            "max_queue": 1024,
        }
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._connected = asyncio.Event()
        self._last_frame = time.monotonic()
        self._had_data = False
        self._up_since: float | None = None  # when the current connection's handshake ended
        self.stable_after = stable_after
        self.connects = 0
        self.disconnects = 0

    # -- lifecycle ----------------------------------------------------------------------------

    def add_hook(self, hook: StreamHook) -> None:
        """Receive every :class:`StreamEvent` of this connection."""
        self._hooks.append(hook)

    @property
    def connected(self) -> bool:
        """Handshake done and the socket open."""
        return self._connected.is_set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Run the connection loop as a task on the current event loop."""
        if self.running:
            return
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self.run(), name=f"stream-{self.name}")

    async def stop(self) -> None:
        """Close the socket and end the loop."""
        self._stopping = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 3)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        self._connected.clear()

    async def wait_connected(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until the handshake is done (TimeoutError otherwise)."""
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def drop(self) -> None:
        """Close the current socket as if the network dropped it; the loop reconnects."""
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(code=1001, reason="dropped by client"), 3)

    # -- to implement -------------------------------------------------------------------------

    @abstractmethod
    async def handshake(self, ws: ClientConnection) -> None:
        """Authenticate (and subscribe) on a new socket; raise on refusal."""

    @abstractmethod
    async def on_frame(self, frame: bytes | str) -> None:
        """Handle one frame from the server."""

    async def on_connected(self, reconnect: bool, down_since: float | None) -> None:  # noqa: B027
        """Called after every successful handshake (``reconnect`` after a drop)."""

    def on_disconnected(self) -> None:  # noqa: B027
        """Called when a connection that had been up ends."""

    # -- the loop -----------------------------------------------------------------------------

    def report(self, kind: StreamEventKind, detail: str = "", **extra: Any) -> None:
        """Send an event to the hooks and the log."""
        event = StreamEvent(self.name, kind, utcnow(), detail, **extra)
        level = (
            "INFO"
            if kind in (StreamEventKind.CONNECTED, StreamEventKind.GAP_FILLED)
            else ("WARNING")
        )
        logger.log(level, "stream {} {}: {}", self.name, kind.value, detail or "-")
        for hook in self._hooks:
            try:
                hook(event)
            except Exception:  # an observer's bug must not take the stream down
                logger.exception("stream hook {!r} failed", hook)

    def _was_healthy(self) -> bool:
        """Whether the connection that just ended proved the link works (data, or a long life).

        Consumed: the answer is about that one connection only, so a run of failed attempts
        after it still backs off exponentially.
        """
        healthy = self._had_data or (
            self._up_since is not None and time.monotonic() - self._up_since >= self.stable_after
        )
        self._had_data = False
        self._up_since = None
        return healthy

    async def run(self) -> None:
        """Connect and read until :meth:`stop`; reconnect after every failure.

        Whatever ends a connection (a network error, a refusal, a frame this client cannot
        read, a bug in a subclass) is reported and followed by a reconnect: the loop itself
        only ends with :meth:`stop` or cancellation.
        """
        failures = 0  # consecutive attempts that failed or delivered no data
        limit_failures = 0
        ever_connected = False
        down_since: float | None = None  # when the last good connection ended
        while not self._stopping:
            try:
                async with connect(self.url, **self._connect_args) as ws:
                    self._ws = ws
                    await self.handshake(ws)
                    self._last_frame = self._up_since = time.monotonic()
                    self._had_data = False
                    self._connected.set()
                    self.connects += 1
                    downtime = None if down_since is None else time.monotonic() - down_since
                    self.report(
                        StreamEventKind.CONNECTED,
                        "reconnected" if ever_connected else "connected",
                        attempt=failures,
                        downtime_seconds=downtime,
                    )
                    limit_failures = 0
                    await self.on_connected(ever_connected, down_since)
                    ever_connected, down_since = True, None
                    await self._read(ws)
                    # A clean close by the server is still a drop while we want the stream.
                    raise ConnectionError("closed by the server")
            except Exception as exc:
                if self._stopping:
                    break
                if not isinstance(exc, _NETWORK_ERRORS):  # not the network's fault: show why
                    logger.opt(exception=exc).error(
                        "stream {}: connection ended by an unexpected error", self.name
                    )
                refusal = exc if isinstance(exc, ConnectionRefused) else classify_refusal(exc)
                if self._was_healthy():
                    failures = 0
                if refusal is not None and refusal.kind is StreamEventKind.CONNECTION_LIMIT:
                    limit_failures += 1
                    wait = self.policy.limit_wait(limit_failures)
                else:
                    failures += 1
                    wait = self.policy.delay(failures)
                kind = refusal.kind if refusal is not None else StreamEventKind.DISCONNECTED
                self.report(
                    kind,
                    f"{type(exc).__name__}: {exc}; retrying in {wait:.2f}s",
                    attempt=failures,
                    code=refusal.code if refusal is not None else None,
                )
            finally:
                self._ws = None
                if self._connected.is_set():
                    self._connected.clear()
                    self.disconnects += 1
                    down_since = time.monotonic()
                    self.on_disconnected()
            if self._stopping:
                break
            await asyncio.sleep(wait)

    async def _read(self, ws: ClientConnection) -> None:
        watchdog = None
        if self.silence_timeout is not None:
            watchdog = asyncio.get_running_loop().create_task(
                self._watch(ws, self.silence_timeout), name=f"stream-{self.name}-watchdog"
            )
        try:
            async for frame in ws:
                self._last_frame = time.monotonic()
                await self.on_frame(frame)
        finally:
            if watchdog is not None:
                watchdog.cancel()

    def mark_data(self) -> None:
        """Subclasses call this when market data (not just control frames) arrived."""
        self._had_data = True

    async def _watch(self, ws: ClientConnection, limit: float) -> None:
        interval = max(0.05, min(1.0, limit / 4))
        while True:
            await asyncio.sleep(interval)
            quiet = time.monotonic() - self._last_frame
            if quiet < limit:
                continue
            if not self.expects_data() or not self.is_market_open():
                self._last_frame = time.monotonic()
                continue
            self.report(StreamEventKind.SILENCE, f"no data for {quiet:.1f}s; reconnecting")
            await ws.close(code=1001, reason="silent stream")
            return

    def expects_data(self) -> bool:
        """Whether silence now would be abnormal (e.g. something is subscribed)."""
        return True


_NETWORK_ERRORS = (
    OSError,
    TimeoutError,
    WebSocketException,
    StreamProtocolError,
    ConnectionRefused,
)


def classify_refusal(exc: BaseException) -> ConnectionRefused | None:
    """Map a handshake failure to a refusal that needs a long wait, or None for ordinary ones."""
    if isinstance(exc, InvalidStatus) and exc.response.status_code == 429:
        return ConnectionRefused(
            StreamEventKind.CONNECTION_LIMIT, "connection limit exceeded (HTTP 429)", 429
        )
    if isinstance(exc, StreamProtocolError):
        if exc.code == CONNECTION_LIMIT:
            return ConnectionRefused(StreamEventKind.CONNECTION_LIMIT, str(exc), exc.code)
        if exc.code == AUTH_FAILED:
            return ConnectionRefused(StreamEventKind.AUTH_FAILED, str(exc), exc.code)
    return None
