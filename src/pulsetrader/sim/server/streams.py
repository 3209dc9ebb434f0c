"""The simulator's WebSocket streams: market data (``/v2/{iex,sip,test}``, ``/v1beta3/crypto/us``)
and account updates (``/stream``), speaking exactly Alpaca's protocols.

:class:`StreamHub` owns every streaming connection. The REST helper mounts its two handlers on
routes; the service's market loop calls the synchronous ``publish_*`` methods, which build each
message once, encode it once per wire format, and queue one batched frame per subscribed
connection (see :mod:`.stream_conn` for the queue, the sender task and the fault effects).
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from aiohttp import WSMsgType, web

from pulsetrader.domain.market import Bar, Quote, Trade
from pulsetrader.sim.server import stream_protocol as proto
from pulsetrader.sim.server.stream_conn import CLOSE_GRACE_SECONDS, FaultSource, StreamConnection

log = logging.getLogger(__name__)

TRADE_STREAM = "trade_updates"
DEFAULT_SYMBOL_LIMITS: Mapping[str, int | None] = {
    "iex": 30,
    "sip": None,
    "test": None,
    "crypto": None,
}
#: Largest client message accepted: a subscription to many thousands of symbols fits easily.
MAX_CLIENT_MESSAGE = 8 * 1024 * 1024
#: Alpaca batches data messages into arrays; capping the array keeps frames a sane size.
MAX_FRAME_MESSAGES = 1000
#: Per-connection backlog beyond which a client is dropped as slow (code 407).
MAX_QUEUED_BYTES = 64 * 1024 * 1024


class TradeUpdateLike(Protocol):
    """What the hub needs from ``sim.exchange.TradeUpdate``."""

    def to_alpaca(self) -> Mapping[str, Any]: ...


class StreamHub:
    """Every streaming client of the simulator, and the fan-out of published data to them.

    Args:
        keys: API key id -> secret; any pair authenticates (the sim has one account).
        faults: the FaultInjector whose stream rules (disconnect, silence, duplicate, reorder)
            apply to the connections.
        clock: the simulation clock (kept for the service; stream timing uses real time, since
            faults model the network).
        symbol_limits: per feed, the most symbols one connection may subscribe to across trades
            and quotes (``None`` = unlimited); Alpaca's free IEX plan allows 30.
        known_symbols: predicate filtering :meth:`subscribed_symbols` to symbols the sim can
            generate; subscriptions themselves accept any symbol, as Alpaca does.
        auth_timeout: seconds a client has to authenticate before "auth timeout" (Alpaca: 10).
        trade_stream_limit: concurrent ``/stream`` connections allowed (Alpaca: one per account);
            extras are refused with HTTP 429 at the upgrade. ``None`` = unlimited.
        max_queued_bytes / max_frame_messages / monotonic: slow-client bound, batch frame size,
            and the time source of fault schedules.
    """

    def __init__(
        self,
        *,
        keys: Mapping[str, str],
        faults: FaultSource[Any],
        clock: object,
        symbol_limits: Mapping[str, int | None] = DEFAULT_SYMBOL_LIMITS,
        known_symbols: Callable[[str], bool] | None = None,
        auth_timeout: float = 10.0,
        trade_stream_limit: int | None = 1,
        max_queued_bytes: int = MAX_QUEUED_BYTES,
        max_frame_messages: int = MAX_FRAME_MESSAGES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keys = dict(keys)
        self._faults = faults
        self.clock = clock
        self._limits = {**DEFAULT_SYMBOL_LIMITS, **symbol_limits}
        self._known = known_symbols
        self._auth_timeout = auth_timeout
        self._trade_limit = trade_stream_limit
        self._max_queued = max_queued_bytes
        self._frame_size = max_frame_messages
        self._monotonic = monotonic
        self._conns: dict[str, set[StreamConnection]] = {
            name: set() for name in (*proto.FEEDS, TRADE_STREAM)
        }
        self._trade_ids = itertools.count(1)
        self._crypto_mid: dict[str, float] = {}  # last quote midpoint: a trade's taker side
        self._closed_totals: Counter[str] = Counter()  # counters of connections that are gone
        self._published: Counter[str] = Counter()

    # --- handlers ---------------------------------------------------------------------------

    async def handle_data_stream(self, request: web.Request, feed: str) -> web.WebSocketResponse:
        """Serve one market-data client on ``feed`` (``iex``, ``sip``, ``test`` or ``crypto``)."""
        if feed not in proto.FEEDS:
            raise ValueError(f"unknown feed {feed!r}")
        # alpaca-py announces msgpack with this header; without it Alpaca speaks JSON text.
        use_msgpack = "msgpack" in request.headers.get("Content-Type", "").lower()
        conn, ws = await self._open(request, feed, use_msgpack)
        try:
            conn.send_control(proto.CONNECTED)
            async for message in ws:
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    self._on_data_message(conn, message.data)
        finally:
            await self._forget(conn)
        return ws

    async def handle_trade_stream(self, request: web.Request) -> web.WebSocketResponse:
        """Serve one ``trade_updates`` client on ``/stream``.

        Raises HTTPTooManyRequests (429 at the upgrade, before any WebSocket exists) while
        another live connection holds the account's slot. Dead sockets don't hold it.
        """
        live = sum(1 for conn in self._conns[TRADE_STREAM] if conn.alive)
        if self._trade_limit is not None and live >= self._trade_limit:
            raise web.HTTPTooManyRequests(text="too many connections")
        use_msgpack = "msgpack" in request.headers.get("Content-Type", "").lower()
        conn, ws = await self._open(request, TRADE_STREAM, use_msgpack)
        try:
            async for message in ws:
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    self._on_trade_message(conn, message.data)
        finally:
            await self._forget(conn)
        return ws

    async def _open(
        self, request: web.Request, stream: str, use_msgpack: bool
    ) -> tuple[StreamConnection, web.WebSocketResponse]:
        # compress=False: per-message deflate would cost more CPU than loopback bandwidth saves.
        ws = web.WebSocketResponse(
            compress=False,
            max_msg_size=MAX_CLIENT_MESSAGE,
            heartbeat=None,
            timeout=CLOSE_GRACE_SECONDS,
        )
        conn = StreamConnection(
            stream=stream,
            ws=ws,
            transport=request.transport,
            use_msgpack=use_msgpack,
            faults=self._faults,
            max_queued_bytes=self._max_queued,
            monotonic=self._monotonic,
        )
        # Registered before the handshake's await, so two racing upgrades can't both pass the
        # trade stream's one-connection check.
        self._conns[stream].add(conn)
        try:
            await ws.prepare(request)
        except BaseException:
            self._conns[stream].discard(conn)
            raise
        conn.start()
        log.debug("sim %s stream: client connected from %s", stream, request.remote)
        conn.auth_timer = asyncio.get_running_loop().call_later(
            self._auth_timeout, self._on_auth_timeout, conn
        )
        return conn, ws

    async def _forget(self, conn: StreamConnection) -> None:
        self._conns[conn.stream].discard(conn)
        log.debug("sim %s stream: client gone after %d messages", conn.stream, conn.messages_sent)
        totals = self._closed_totals
        totals[f"messages:{conn.stream}"] += conn.messages_sent
        totals[f"frames:{conn.stream}"] += conn.frames_sent
        totals[f"bytes:{conn.stream}"] += conn.bytes_sent
        totals["slow_client_disconnects"] += conn.dropped_slow
        totals["fault_disconnects"] += conn.fault_disconnected
        # A graceful close may still be in flight in the sender: give it a moment to finish.
        await conn.stop(grace=CLOSE_GRACE_SECONDS)

    def _on_auth_timeout(self, conn: StreamConnection) -> None:
        if conn.key is None and conn.alive:
            if conn.stream != TRADE_STREAM:
                conn.send_control(proto.error(404))
            conn.close_after_flush(1008)

    def _authentic(self, key: object, secret: object) -> bool:
        if not isinstance(key, str) or not isinstance(secret, str):
            return False
        expected = self._keys.get(key)
        return expected is not None and hmac.compare_digest(expected, secret)

    # --- market-data protocol ---------------------------------------------------------------

    def _on_data_message(self, conn: StreamConnection, data: bytes | str) -> None:
        try:
            message = proto.decode_client(data, conn.use_msgpack)
            action = message.get("action")
            if action == "auth":
                self._data_auth(conn, message)
                return
            if action not in ("subscribe", "unsubscribe"):
                raise proto.ProtocolError(400)
            if conn.key is None:
                raise proto.ProtocolError(401)
            wanted = proto.parse_subscription(conn.stream, message)
            if action == "subscribe":
                merged = proto.merge_subscription(conn.subs, wanted)
                limit = self._limits.get(conn.stream)
                if limit is not None and proto.counted_symbols(merged) > limit:
                    raise proto.ProtocolError(405)  # the subscription stays as it was
                conn.subs = merged
            else:
                conn.subs = proto.remove_subscription(conn.subs, wanted)
            conn.send_control(proto.subscription_ack(conn.stream, conn.subs))
        except proto.ProtocolError as exc:
            conn.send_control(proto.error(exc.code))

    def _data_auth(self, conn: StreamConnection, message: Mapping[str, Any]) -> None:
        if conn.key is not None:
            raise proto.ProtocolError(403)
        key = message.get("key")
        if not self._authentic(key, message.get("secret")):
            log.info("sim %s stream: authentication failed", conn.stream)
            conn.send_control(proto.error(402))
            conn.close_after_flush(1008)
            return
        others = self._conns[conn.stream]
        if any(other.key == key and other.alive for other in others if other is not conn):
            conn.send_control(proto.error(406))
            conn.close_after_flush(1008)
            return
        conn.key = str(key)
        conn.send_control(proto.AUTHENTICATED)

    # --- trade_updates protocol -------------------------------------------------------------

    def _on_trade_message(self, conn: StreamConnection, data: bytes | str) -> None:
        try:
            message = proto.decode_client(data, conn.use_msgpack)
        except proto.ProtocolError:
            self._trade_reply(conn, proto.TRADE_STREAM_SYNTAX_ERROR)
            return
        action = message.get("action")
        payload = message.get("data")
        payload = payload if isinstance(payload, Mapping) else {}
        if action in ("authenticate", "auth"):
            if action == "auth":  # the legacy flat form
                key, secret = message.get("key"), message.get("secret")
            else:
                key, secret = payload.get("key_id"), payload.get("secret_key")
            ok = self._authentic(key, secret)
            self._trade_reply(conn, proto.authorization(ok, "authenticate"))
            if ok:
                conn.key = str(key)
            else:
                conn.close_after_flush(1008)
        elif action == "listen":
            if conn.key is None:
                self._trade_reply(conn, proto.authorization(False, "listen"))
                return
            streams = payload.get("streams")
            conn.listening = isinstance(streams, list) and TRADE_STREAM in streams
            # Streams the server doesn't offer are left out of the acknowledgement.
            listened = [TRADE_STREAM] if conn.listening else []
            self._trade_reply(conn, {"stream": "listening", "data": {"streams": listened}})
        else:
            self._trade_reply(conn, proto.TRADE_STREAM_SYNTAX_ERROR)

    def _trade_reply(self, conn: StreamConnection, message: Mapping[str, Any]) -> None:
        conn.enqueue(proto.encode_object(message, conn.use_msgpack))

    # --- publishing (synchronous: called from the market loop) ------------------------------

    def publish_trades(self, feed_group: str, trades: Sequence[Trade]) -> None:
        """Send ``trades`` to every connection of ``feed_group`` subscribed to their symbols."""
        crypto = feed_group == "crypto"
        mids = self._crypto_mid

        def build(trade: Trade) -> dict[str, Any]:
            trade_id = trade.trade_id if trade.trade_id is not None else next(self._trade_ids)
            if not crypto:
                return proto.stock_trade(trade, trade_id)
            mid = mids.get(trade.symbol)
            taker = "B" if mid is None or float(trade.price) >= mid else "S"
            return proto.crypto_trade(trade, trade_id, taker)

        self._fan_out(feed_group, "trades", trades, build)

    def publish_quotes(self, feed_group: str, quotes: Sequence[Quote]) -> None:
        """Send ``quotes`` to every connection of ``feed_group`` subscribed to their symbols."""
        if feed_group == "crypto":
            for quote in quotes:
                mid = quote.midpoint
                if mid is not None:
                    self._crypto_mid[quote.symbol] = float(mid)
            self._fan_out(feed_group, "quotes", quotes, proto.crypto_quote)
        else:
            self._fan_out(feed_group, "quotes", quotes, proto.stock_quote)

    def publish_bars(self, feed_group: str, bars: Sequence[Bar], kind: str = "b") -> None:
        """Send minute (``b``), updated (``u``) or daily (``d``) bars to their subscribers."""
        channel = proto.BAR_CHANNEL[kind]
        crypto = feed_group == "crypto"
        self._fan_out(feed_group, channel, bars, lambda bar: proto.bar_message(bar, kind, crypto))

    def publish_trade_updates(self, updates: Sequence[TradeUpdateLike]) -> None:
        """Send each update as its own ``trade_updates`` frame to every listening connection."""
        listeners = [c for c in self._conns[TRADE_STREAM] if c.listening and c.key is not None]
        self._published[TRADE_STREAM] += len(updates)
        if not listeners or not updates:
            return
        messages = [{"stream": TRADE_STREAM, "data": u.to_alpaca()} for u in updates]
        encoded: dict[bool, list[bytes]] = {}
        for conn in listeners:
            frames = encoded.get(conn.use_msgpack)
            if frames is None:
                frames = [proto.encode_object(m, conn.use_msgpack) for m in messages]
                encoded[conn.use_msgpack] = frames
            for frame in conn.apply_message_faults(frames):
                conn.enqueue(frame, 1)

    def _fan_out(
        self,
        feed_group: str,
        channel: str,
        items: Sequence[Trade] | Sequence[Quote] | Sequence[Bar],
        build: Callable[[Any], dict[str, Any]],
    ) -> None:
        if feed_group not in proto.GROUP_FEEDS:
            raise ValueError(f"unknown feed group {feed_group!r}: use stocks, test or crypto")
        self._published[feed_group] += len(items)
        targets = [
            (conn, subs)
            for feed in proto.GROUP_FEEDS[feed_group]
            for conn in self._conns[feed]
            if (subs := conn.subs.get(channel)) and conn.key is not None
        ]
        if not targets or not items:
            return
        everything = any("*" in subs for _, subs in targets)
        wanted: set[str] = set().union(*(subs.keys() for _, subs in targets))
        # Build each message once, and only for symbols somebody listens to.
        symbols = [item.symbol for item in items]
        messages = [
            build(item)
            for item, sym in zip(items, symbols, strict=True)
            if everything or sym in wanted
        ]
        if not everything:
            symbols = [sym for sym in symbols if sym in wanted]
        batch = proto.EncodedBatch(symbols, messages)
        for conn, subs in targets:
            elements = batch.elements(subs, conn.use_msgpack)
            self._send_batch(conn, conn.apply_message_faults(elements))

    def _send_batch(self, conn: StreamConnection, elements: list[Any]) -> None:
        step = self._frame_size
        frame = proto.msgpack_frame if conn.use_msgpack else proto.json_frame
        for start in range(0, len(elements), step):
            chunk = elements[start : start + step]
            conn.enqueue(frame(chunk), len(chunk))

    # --- introspection and shutdown ---------------------------------------------------------

    def subscribed_symbols(self, feed_group: str) -> set[str]:
        """Symbols with at least one data subscriber in ``feed_group``; ``"*"`` means "all".

        The service generates data for exactly these. With ``known_symbols`` set, symbols the
        sim cannot price are left out (they stay subscribed; they just never tick).
        """
        result: set[str] = set()
        for feed in proto.GROUP_FEEDS[feed_group]:
            for conn in self._conns[feed]:
                if conn.key is None:
                    continue
                for channel in proto.DATA_CHANNELS:
                    result.update(conn.subs.get(channel, ()))
        if self._known is not None:
            known = self._known
            result = {s for s in result if s == "*" or known(s)}
        return result

    def subscriptions(self, stream: str) -> list[dict[str, set[str]]]:
        """Each authenticated live connection's subscription on ``stream`` (``iex``, ``test``,
        ...): channel -> symbols, empty channels left out. What the server holds, for tests."""
        return [
            {channel: set(symbols) for channel, symbols in conn.subs.items() if symbols}
            for conn in self._conns[stream]
            if conn.key is not None and conn.alive
        ]

    def stats(self) -> dict[str, Any]:
        """Connection counts, messages/frames/bytes sent per stream, and disconnect counters."""
        totals = self._closed_totals
        streams = (*proto.FEEDS, TRADE_STREAM)
        conns = self._conns

        def total(kind: str, stream: str, attr: str) -> int:
            return totals[f"{kind}:{stream}"] + sum(int(getattr(c, attr)) for c in conns[stream])

        return {
            "connections": {s: sum(1 for c in conns[s] if c.alive) for s in streams},
            "authenticated": {s: sum(1 for c in conns[s] if c.key and c.alive) for s in streams},
            "listening": sum(1 for c in conns[TRADE_STREAM] if c.listening and c.alive),
            "messages_sent": {s: total("messages", s, "messages_sent") for s in streams},
            "frames_sent": {s: total("frames", s, "frames_sent") for s in streams},
            "bytes_sent": {s: total("bytes", s, "bytes_sent") for s in streams},
            "backlog_bytes": {s: sum(c.backlog_bytes for c in conns[s]) for s in streams},
            "published": dict(self._published),
            "slow_client_disconnects": totals["slow_client_disconnects"]
            + sum(c.dropped_slow for s in streams for c in conns[s]),
            "fault_disconnects": totals["fault_disconnects"]
            + sum(c.fault_disconnected for s in streams for c in conns[s]),
        }

    async def close_all(self) -> None:
        """Close every connection (1001 going away) and wait for them to go, aborting stragglers."""
        everyone = [conn for conns in self._conns.values() for conn in conns]
        for conn in everyone:
            conn.close_after_flush(1001)
        senders = [task for conn in everyone if (task := conn.sender) is not None]
        if senders:
            await asyncio.wait(senders, timeout=CLOSE_GRACE_SECONDS)
        for conn in everyone:
            conn.abort()
            await conn.stop()
