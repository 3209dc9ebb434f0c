"""Live updates: the engine's events fanned out to every dashboard as Server-Sent Events.

:class:`EventHub` listens to the order manager (``order``, ``fill``), the risk manager (``state``)
and the strategy runner (``strategy``), and gives each connected client a bounded queue of its
own. ``GET /api/events`` sends ``status`` at once and every ``status_interval`` seconds, the
engine's events as they happen, and a ``: ping`` comment every ``ping_interval`` seconds.

A stream ends by itself when:

* the hub closes (:meth:`EventHub.close`, called by ``ApiServer.stop``): uvicorn waits for open
  responses on shutdown, so a stream that never ended would hold the engine's stop hostage;
* the access token it was opened with expires: the dashboard reconnects with a fresh one, so a
  revoked user does not keep watching for ever;
* the client falls more than ``queue_size`` events behind: it is cut off rather than buffered
  without bound, and on reconnecting gets the current status.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi.responses import StreamingResponse
from loguru import logger

from pulsetrader.api import views
from pulsetrader.api.context import ApiContext
from pulsetrader.api.deps import Context, CurrentClaims, authed_router
from pulsetrader.api.schemas import ErrorOut
from pulsetrader.domain.enums import TradingState
from pulsetrader.domain.money import decimal_str, isoformat_z
from pulsetrader.domain.orders import Order
from pulsetrader.execution.book import BookedFill
from pulsetrader.strategy.slot import StrategyEvent

if TYPE_CHECKING:
    from pulsetrader.engine import Engine

Event = tuple[str, dict[str, Any]]
_CLOSED: Event = ("", {})  # the sentinel that ends a subscriber's stream


class Subscriber:
    """One client's queue of events."""

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue(size + 1)  # room for the sentinel
        self.size = size
        self.ended = False

    def put(self, event: Event) -> None:
        if self.ended:
            return
        if self.queue.qsize() >= self.size:
            logger.warning("event stream client fell {} events behind: disconnecting", self.size)
            self.end()
            return
        self.queue.put_nowait(event)

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            self.queue.put_nowait(_CLOSED)


class EventHub:
    """Fans the engine's events out to subscribers. Build after ``Engine.start``; :meth:`attach`
    once."""

    def __init__(self, engine: Engine, *, queue_size: int = 1000) -> None:
        self.engine = engine
        self.queue_size = queue_size
        self.subscribers: set[Subscriber] = set()
        self.closed = False

    def attach(self) -> None:
        """Listen to the engine's parts (there is no detaching: the hub lives as long)."""
        engine = self.engine
        engine.orders.on_order(self._on_order)
        engine.orders.on_fill(self._on_fill)
        engine.risk.on_state_change(self._on_state)
        if engine.runner is not None:
            engine.runner.on_state_change(self._on_strategy)

    def subscribe(self) -> Subscriber:
        subscriber = Subscriber(self.queue_size)
        if self.closed:
            subscriber.end()
        else:
            self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    def publish(self, name: str, data: dict[str, Any]) -> None:
        for subscriber in list(self.subscribers):
            subscriber.put((name, data))
            if subscriber.ended:
                self.subscribers.discard(subscriber)

    def close(self) -> None:
        """End every stream, now and for anyone subscribing later."""
        self.closed = True
        for subscriber in list(self.subscribers):
            subscriber.end()
        self.subscribers.clear()

    # -- the engine's listeners (serialize only when someone listens) ---------------------------

    def _on_order(self, order: Order) -> None:
        if self.subscribers:
            self.publish("order", order.to_dict())

    def _on_fill(self, booked: BookedFill, order: Order | None) -> None:
        if self.subscribers:
            data = booked.fill.to_dict()
            data.update(
                realized_pl=decimal_str(booked.realized_pl),
                position_qty=decimal_str(booked.position_qty),
            )
            self.publish("fill", data)

    def _on_state(self, old: TradingState, new: TradingState, reason: str) -> None:
        if self.subscribers:
            data = {
                "from": old.value,
                "to": new.value,
                "state": new.value,
                "reason": reason or None,
                "at": isoformat_z(self.engine.now()),
            }
            self.publish("state", data)

    def _on_strategy(self, event: StrategyEvent) -> None:
        if self.subscribers:
            self.publish("strategy", event.to_dict())


def sse(name: str, data: dict[str, Any]) -> str:
    """One Server-Sent Event (the JSON has no newlines, so one ``data:`` line)."""
    # default=str: an odd value from a producer becomes text instead of breaking the stream.
    payload = json.dumps(data, separators=(",", ":"), default=str)
    return f"event: {name}\ndata: {payload}\n\n"


async def event_stream(
    ctx: ApiContext, subscriber: Subscriber, expires_in: float
) -> AsyncIterator[str]:
    """The stream of one client; see the module docstring for when it ends."""
    hub, engine, options = ctx.hub, ctx.engine, ctx.options
    now = time.monotonic()
    deadline = now + expires_in
    next_status = now + options.status_interval
    next_ping = now + options.ping_interval
    try:
        yield "retry: 2000\n\n"
        yield sse("status", views.status(engine))
        while True:
            now = time.monotonic()
            if now >= deadline:
                return
            if now >= next_status:
                next_status = now + options.status_interval
                yield sse("status", views.status(engine))
                continue
            if now >= next_ping:
                next_ping = now + options.ping_interval
                yield ": ping\n\n"
                continue
            try:
                async with asyncio.timeout(min(deadline, next_status, next_ping) - now):
                    name, data = await subscriber.queue.get()
            except TimeoutError:
                continue
            if not name:  # closed
                return
            yield sse(name, data)
    finally:
        hub.unsubscribe(subscriber)


router = authed_router(tags=["events"])


@router.get(
    "/api/events",
    response_class=StreamingResponse,
    summary="Live updates (Server-Sent Events)",
    responses={
        200: {
            "description": "`event: status` (as /api/status) at once and every second, `order`, "
            "`fill`, `state` and `strategy` as they happen, `: ping` comments to keep alive. "
            "Ends when the access token expires: reconnect with a fresh one.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        401: {"model": ErrorOut, "description": "missing or invalid access token"},
    },
)
async def events(ctx: Context, claims: CurrentClaims) -> StreamingResponse:
    """Server-Sent Events for the dashboard (read with ``fetch`` and the Bearer header, so the
    token never appears in a URL)."""
    subscriber = ctx.hub.subscribe()
    expires_in = max(0.0, claims.exp - ctx.tokens.clock())
    return StreamingResponse(
        event_stream(ctx, subscriber, expires_in),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
