"""One streaming client: its outbound queue, its sender task and the faults applied to it.

Publishers never await: :meth:`StreamConnection.enqueue` appends a ready frame to a deque and
wakes the connection's single sender task, which is the only code that writes to the socket.
That keeps the market loop's publish cost independent of how fast clients read, and puts the
back-pressure decision (drop the client with 407 rather than buffer without bound) in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from aiohttp import web

from pulsetrader.sim.server import stream_protocol as proto

log = logging.getLogger(__name__)

#: How often the fault ticker checks disconnect deadlines. Fine-grained enough for tests
#: measuring seconds, cheap enough to run on every connection.
FAULT_TICK_SECONDS = 0.05
#: How long a close handshake may take before the socket is simply aborted.
CLOSE_GRACE_SECONDS = 2.0
#: A message held back by ``reorder`` goes out after the next one, or after this long if no
#: next one comes: reordering must not turn into silently losing, say, the last fill.
REORDER_MAX_HOLD_SECONDS = 1.0


class FaultRuleLike(Protocol):
    """The fields of ``sim.faults.FaultRule`` that streams read."""

    @property
    def effect(self) -> str: ...
    @property
    def every_seconds(self) -> float | None: ...
    @property
    def at_seconds(self) -> Sequence[float] | None: ...
    @property
    def after_seconds(self) -> float | None: ...
    @property
    def duration_seconds(self) -> float | None: ...


R = TypeVar("R", bound=FaultRuleLike)


class FaultSource(Protocol[R]):
    """What streams need from ``sim.faults.FaultInjector``."""

    def stream_rules(self, stream: str, effect: str | None = None) -> Sequence[R]: ...
    def roll(self, rule: R) -> bool: ...


@dataclass(frozen=True, slots=True)
class _Close:
    """Queue item: close the socket once everything queued before it has been written."""

    code: int


@dataclass(eq=False)
class StreamConnection:
    """A connected client of one stream (``iex``/``sip``/``test``/``crypto``/``trade_updates``)."""

    stream: str
    ws: web.WebSocketResponse
    transport: asyncio.Transport | None
    use_msgpack: bool
    faults: FaultSource[Any]
    max_queued_bytes: int
    monotonic: Callable[[], float] = time.monotonic
    started: float = 0.0
    key: str | None = None
    listening: bool = False
    subs: dict[str, dict[str, None]] = field(default_factory=dict)
    messages_sent: int = 0
    frames_sent: int = 0
    bytes_sent: int = 0
    dropped_slow: bool = False
    fault_disconnected: bool = False
    _queue: deque[bytes | str | _Close] = field(default_factory=deque)
    _queued_bytes: int = 0
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    _closing: bool = False
    _held: list[Any] = field(default_factory=list)  # reorder: elements waiting for the next one
    _held_at: float = 0.0
    _silences: list[tuple[float, float]] = field(default_factory=list)  # (from, to) in age
    _silence_rolled: set[int] = field(default_factory=set)
    _disconnect_state: dict[int, int] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    auth_timer: asyncio.TimerHandle | None = None

    def __post_init__(self) -> None:
        self.started = self.monotonic()

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the sender and the fault ticker; call once the WebSocket is prepared."""
        self._tasks.append(asyncio.create_task(self._sender(), name=f"sim-{self.stream}-send"))
        self._tasks.append(asyncio.create_task(self._ticker(), name=f"sim-{self.stream}-faults"))

    async def stop(self, grace: float = 0.0) -> None:
        """Stop the background tasks once the socket is done with.

        With ``grace``, a sender still finishing a close handshake gets that long to do so.
        """
        self._closing = True
        if self.auth_timer is not None:
            self.auth_timer.cancel()
        sender = self._tasks[0] if self._tasks else None
        if grace and sender is not None and self._queue:
            # Only a queued close is worth waiting for; plain data to a gone client is not.
            await asyncio.wait([sender], timeout=grace)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    @property
    def sender(self) -> asyncio.Task[None] | None:
        """The task writing to the socket (done once the socket is closed)."""
        return self._tasks[0] if self._tasks else None

    @property
    def backlog_bytes(self) -> int:
        """Bytes queued for this client and not yet handed to the socket."""
        return self._queued_bytes

    @property
    def alive(self) -> bool:
        """Open and not on its way out: only such connections count against connection limits."""
        transport = self.transport
        return (
            not self._closing
            and not self.ws.closed
            and transport is not None
            and not transport.is_closing()
        )

    def abort(self) -> None:
        """Drop the TCP connection without a close frame: the client sees code 1006."""
        self._closing = True
        self._queue.clear()
        self._queued_bytes = 0
        if self.transport is not None:
            self.transport.abort()
        self._wakeup.set()

    def close_after_flush(self, code: int = 1000) -> None:
        """Close gracefully once everything already queued has been sent."""
        if self._closing:
            return
        self._queue.append(_Close(code))
        self._closing = True
        self._wakeup.set()

    # --- sending ----------------------------------------------------------------------------

    def send_control(self, messages: list[dict[str, Any]]) -> None:
        """Queue a control frame (``success``/``error``/``subscription``): never faulted but
        silence, which mutes everything."""
        self.enqueue(proto.encode_control(messages, self.use_msgpack))

    def enqueue(self, frame: bytes | str, messages: int = 0) -> None:
        """Queue one frame carrying ``messages`` data messages; never blocks.

        A client whose backlog passes ``max_queued_bytes`` is told 407 "slow client" and closed,
        which is what Alpaca does instead of buffering for a reader that cannot keep up.
        """
        if self._closing or self.silenced():
            return
        size = len(frame)
        if self._queued_bytes + size > self.max_queued_bytes:
            log.warning("sim %s stream: slow client, disconnecting", self.stream)
            self.dropped_slow = True
            self._queue.clear()
            notice = proto.encode_control(proto.error(407), self.use_msgpack)
            self._queue.append(notice)
            self._queued_bytes = len(notice)
            self.close_after_flush(1008)
            # A slow reader may never drain even the error frame; don't wait on it forever.
            asyncio.get_running_loop().call_later(CLOSE_GRACE_SECONDS, self.abort)
            return
        self._queue.append(frame)
        self._queued_bytes += size
        self.messages_sent += messages
        self._wakeup.set()

    async def _sender(self) -> None:
        queue = self._queue
        ws = self.ws
        try:
            while True:
                if not queue:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                item = queue.popleft()
                if isinstance(item, _Close):
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(ws.close(code=item.code), CLOSE_GRACE_SECONDS)
                    self.abort()
                    return
                self._queued_bytes -= len(item)
                if isinstance(item, bytes):
                    await ws.send_bytes(item)
                else:
                    await ws.send_str(item)
                self.frames_sent += 1
                self.bytes_sent += len(item)
        except (ConnectionError, RuntimeError):
            # The peer went away mid-write; the handler's receive loop notices and cleans up.
            self.abort()

    # --- faults -----------------------------------------------------------------------------

    def age(self) -> float:
        """Seconds since the client connected: fault schedules are relative to this."""
        return self.monotonic() - self.started

    def silenced(self) -> bool:
        """Inside a ``silence`` window: nothing is sent, but pings are still answered.

        Probability and count are spent once per connection and rule (when its window opens),
        and a window that fired runs its full length even if the rule is used up meanwhile.
        """
        age = self.age()
        if any(start <= age < end for start, end in self._silences):
            return True
        for rule in self.faults.stream_rules(self.stream, "silence"):
            start = rule.after_seconds or 0.0
            end = math.inf if rule.duration_seconds is None else start + rule.duration_seconds
            if not start <= age < end or id(rule) in self._silence_rolled:
                continue
            self._silence_rolled.add(id(rule))
            if self.faults.roll(rule):
                self._silences.append((start, end))
                return True
        return False

    def apply_message_faults(self, elements: list[Any]) -> list[Any]:
        """Apply ``duplicate`` and ``reorder`` rules to a batch of encoded messages."""
        duplicates = self.faults.stream_rules(self.stream, "duplicate")
        reorders = self.faults.stream_rules(self.stream, "reorder")
        if not duplicates and not reorders and not self._held:
            return elements
        out: list[Any] = []
        for element in elements:
            if not self._held and any(self.faults.roll(rule) for rule in reorders):
                self._held.append(element)  # goes out right after the next message
                self._held_at = asyncio.get_running_loop().time()
                continue
            out.append(element)
            if any(self.faults.roll(rule) for rule in duplicates):
                out.append(element)
            if self._held:
                out.extend(self._held)
                self._held.clear()
        return out

    def _disconnect_due(self, age: float) -> bool:
        for rule in self.faults.stream_rules(self.stream, "disconnect"):
            # State per rule: how many scheduled instants have already passed.
            passed = self._disconnect_state.get(id(rule), 0)
            if rule.every_seconds:
                due = int(age // rule.every_seconds)
            elif rule.at_seconds:
                due = sum(1 for at in rule.at_seconds if age >= at)
            else:
                continue
            if due > passed:
                self._disconnect_state[id(rule)] = due
                if self.faults.roll(rule):
                    return True
        return False

    def _flush_held(self) -> None:
        held, self._held = self._held, []
        if self.stream == "trade_updates":  # there every element is a whole frame
            for frame in held:
                self.enqueue(frame, 1)
        elif self.use_msgpack:
            self.enqueue(proto.msgpack_frame(held), len(held))
        else:
            self.enqueue(proto.json_frame(held), len(held))

    async def _ticker(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing:
            await asyncio.sleep(FAULT_TICK_SECONDS)
            if self._held and loop.time() - self._held_at >= REORDER_MAX_HOLD_SECONDS:
                self._flush_held()
            if self._disconnect_due(self.age()):
                log.info("sim %s stream: fault injection disconnects a client", self.stream)
                self.fault_disconnected = True
                self.abort()
                return
