"""The ``trade_updates`` stream: the account's order events, as :class:`OrderUpdate` values.

One connection per account (Alpaca refuses a second with HTTP 429 at the upgrade, which the
connection loop treats as "connection limit": a long wait, not a storm). Each event is decoded
into an :class:`~pulsetrader.domain.events.OrderUpdate` and delivered once: an event re-sent with
the same key (order, event and execution id, or order, event and time) is dropped, which covers
the duplicates Alpaca sends around reconnects. Order is the broker's: the order manager's state
machine copes with late updates, this stream does not reorder.

After a reconnect, updates sent while the socket was down are lost; the CONNECTED event with a
``downtime_seconds`` is the signal for the order manager to reconcile over REST.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from loguru import logger
from websockets.asyncio.client import ClientConnection

from pulsetrader.broker.convert import order_from_wire
from pulsetrader.domain.events import OrderUpdate
from pulsetrader.domain.money import optional_decimal, parse_utc
from pulsetrader.streaming import protocol as proto
from pulsetrader.streaming.connection import ConnectionRefused, StreamConnection
from pulsetrader.streaming.events import StreamEventKind

OrderUpdateHandler = Callable[[OrderUpdate], Awaitable[None] | None]
#: How many recent update keys are remembered to drop duplicates.
DEDUP_WINDOW = 50_000


def parse_trade_update(data: Mapping[str, Any]) -> OrderUpdate:
    """The ``data`` of a ``trade_updates`` message as an :class:`OrderUpdate`."""
    order = order_from_wire(data["order"])
    stamp = data.get("timestamp") or data["order"].get("updated_at")
    execution_id = data.get("execution_id")
    return OrderUpdate(
        event=str(data["event"]),
        order=order,
        timestamp=parse_utc(stamp),
        execution_id=str(execution_id) if execution_id else None,
        price=optional_decimal(_text(data.get("price"))),
        qty=optional_decimal(_text(data.get("qty"))),
        position_qty=optional_decimal(_text(data.get("position_qty"))),
    )


def _text(value: Any) -> Any:
    # The wire has strings; a float would go through its repr, never Decimal(float).
    return repr(value) if isinstance(value, float) else value


class TradeUpdatesStream(StreamConnection):
    """A self-healing ``trade_updates`` client delivering each order event once to ``handler``."""

    def __init__(
        self,
        url: str,
        key_id: str,
        secret_key: str,
        handler: OrderUpdateHandler,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("silence_timeout", None)
        super().__init__("trade_updates", url, **kwargs)
        self._key_id = key_id
        self._secret_key = secret_key
        self.handler = handler
        self._seen: OrderedDict[tuple[str, ...], None] = OrderedDict()
        self.updates = 0
        self.duplicates = 0

    async def handshake(self, ws: ClientConnection) -> None:
        await ws.send(proto.trade_stream_auth(self._key_id, self._secret_key))
        reply = _load(await asyncio.wait_for(ws.recv(), 10))
        data = reply.get("data") or {}
        if reply.get("stream") != "authorization" or data.get("status") != "authorized":
            raise ConnectionRefused(
                StreamEventKind.AUTH_FAILED, f"trade_updates authentication refused: {data}"
            )
        await ws.send(proto.LISTEN)

    async def on_frame(self, frame: bytes | str) -> None:
        message = _load(frame)
        stream = message.get("stream")
        if stream != "trade_updates":
            if stream not in ("listening", "authorization"):
                logger.warning("trade_updates: unexpected message {!r:.300}", message)
            return
        try:
            update = parse_trade_update(message["data"])
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            logger.warning("trade_updates: unreadable update {!r:.300}: {}", message, exc)
            return
        key = update.key
        if key in self._seen:
            self.duplicates += 1
            logger.debug("trade_updates: duplicate {} dropped", key)
            return
        self._seen[key] = None
        if len(self._seen) > DEDUP_WINDOW:
            self._seen.popitem(last=False)
        self.updates += 1
        self.mark_data()
        try:
            pending = self.handler(update)
            if pending is not None:
                await pending
        except Exception:  # the handler's failure is its own; the stream goes on
            logger.exception("trade_updates handler failed on {} {}", update.event, key)


def _load(frame: bytes | str) -> dict[str, Any]:
    data = json.loads(frame)
    if not isinstance(data, dict):
        raise proto.StreamProtocolError(f"unexpected trade_updates frame: {data!r:.200}")
    return data
