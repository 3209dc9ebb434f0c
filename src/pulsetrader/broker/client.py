"""AlpacaClient: the one place PulseTrader talks to Alpaca's REST APIs (paper, live or simulator).

Both APIs, trading (account, positions, orders, activities, clock, calendar, assets) and market
data (bars with their pagination, latest trades and quotes), go through
:class:`~pulsetrader.broker.http.AlpacaHttp`: JSON over aiohttp on the event loop itself, pointed
where :class:`BrokerConfig` says. Not alpaca-py's REST clients: they are synchronous, and a
worker-thread round trip per call cost more than the rest of the order path together (see that
module). The requests are the ones alpaca-py sends; the simulator's contract suite checks the
same endpoints through alpaca-py itself.

Around every call:

* the client-side :class:`~pulsetrader.broker.limiter.RequestLimiter` (wait, do not fail);
* a timeout;
* error mapping to :mod:`pulsetrader.broker.errors` (no aiohttp exception escapes);
* a :class:`~pulsetrader.broker.hooks.CallOutcome` to every hook, and a log record;
* :class:`~pulsetrader.broker.retry.RetryStrategy` for idempotent calls only.

Results come back as the domain types (each with ``to_dict()``).

Exactly-once submission: see :meth:`AlpacaClient.submit_order`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import quote

import pandas as pd
from loguru import logger

from pulsetrader.broker import convert
from pulsetrader.broker.errormap import map_exception
from pulsetrader.broker.errors import (
    BrokerError,
    BrokerTimeout,
    InvalidRequest,
    NotFound,
    OrderRejected,
    OrderStatusUnknown,
    RateLimitError,
    TransientError,
)
from pulsetrader.broker.hooks import CallHook, CallOutcome
from pulsetrader.broker.http import DATA_URL, LIVE_URL, PAPER_URL, AlpacaHttp, Params
from pulsetrader.broker.limiter import RequestLimiter
from pulsetrader.broker.marketdata import Pages, bars_path, entries, latest_path
from pulsetrader.broker.orders import (
    is_duplicate_client_order_id,
    new_client_order_id,
    order_payload,
)
from pulsetrader.broker.retry import RetryStrategy
from pulsetrader.config import Mode, Settings
from pulsetrader.domain.account import Account
from pulsetrader.domain.errors import ConfigError
from pulsetrader.domain.intents import OrderIntent
from pulsetrader.domain.market import Bar, Quote, Timeframe, Trade
from pulsetrader.domain.money import decimal_str, ensure_utc, isoformat_z, utcnow
from pulsetrader.domain.orders import Order
from pulsetrader.domain.snapshots import (
    AssetInfo,
    FillActivity,
    MarketClock,
    PositionSnapshot,
    TradingDay,
)
from pulsetrader.domain.symbols import is_crypto, order_symbol, position_symbol

#: One attempt of a call: its result and the HTTP status of its (last) response.
Attempt = Callable[[], Awaitable[tuple[Any, int | None]]]

T = TypeVar("T")

_QUERY_STATUSES = frozenset({"open", "closed", "all"})


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Where and how to reach Alpaca. ``None`` URLs mean Alpaca's own endpoints for the mode."""

    key_id: str
    secret_key: str
    paper: bool = True
    trading_url: str | None = None
    data_url: str | None = None
    feed: str = "iex"
    requests_per_minute: int | None = 200
    timeout: float = 10.0

    def __repr__(self) -> str:  # never print the secret, even in a traceback
        return (
            f"BrokerConfig(key_id={self.key_id[:2]}…, paper={self.paper}, url={self.trading_url})"
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> BrokerConfig:
        """Build from settings; ConfigError naming the missing variables when keys are absent."""
        credentials = settings.credentials()
        mode = settings.mode
        if credentials is None:
            prefix = "ALPACA_LIVE" if mode is Mode.LIVE else "ALPACA_PAPER"
            raise ConfigError(
                f"no Alpaca credentials for {mode.value} mode: set {prefix}_API_KEY and "
                f"{prefix}_API_SECRET (in the environment or .env; see .env.example), "
                "or run `pulsetrader demo` to use the built-in simulator without keys"
            )
        if mode is Mode.LIVE and not settings.live_confirmed:
            raise ConfigError(
                "ALPACA_MODE=live needs PULSETRADER_LIVE_CONFIRM=yes as well: live trading "
                "uses real money and is never enabled by one setting alone"
            )
        return cls(
            key_id=credentials[0],
            secret_key=credentials[1],
            paper=mode is not Mode.LIVE,
            trading_url=settings.alpaca_trading_url,
            data_url=settings.alpaca_data_url,
            feed=settings.alpaca_data_feed,
            requests_per_minute=settings.alpaca_requests_per_minute,
            timeout=settings.alpaca_request_timeout,
        )


def _path_part(value: str) -> str:
    """An id or symbol as one URL path segment (``BTC/USD`` must not become two)."""
    return quote(value, safe="")


class AlpacaClient:
    """Async client of Alpaca's REST APIs. Construct, use, then :meth:`close`.

    ``retry`` governs idempotent calls (reads, cancels). ``hooks`` receive a
    :class:`CallOutcome` for every attempt, on the event loop's thread. ``clock`` is the broker's
    time, used only for default date ranges.
    """

    def __init__(
        self,
        config: BrokerConfig,
        *,
        retry: RetryStrategy | None = None,
        hooks: Iterable[CallHook] = (),
        connections: int = 8,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        # The broker's time, for default date ranges: the wall clock for Alpaca, the simulated
        # clock when the broker is the simulator (its time need not be today).
        self.clock = clock
        self.retry = retry or RetryStrategy()
        self._hooks: list[CallHook] = list(hooks)
        self.trading_limiter = RequestLimiter(config.requests_per_minute)
        self.data_limiter = RequestLimiter(config.requests_per_minute)
        # Each request has config.timeout; this bounds an attempt as a whole besides.
        self.call_timeout = config.timeout + 1
        self._closed = False
        key, secret = config.key_id, config.secret_key
        self._trading = AlpacaHttp(
            config.trading_url or (PAPER_URL if config.paper else LIVE_URL),
            key,
            secret,
            timeout=config.timeout,
            connections=connections,
        )
        self._data = AlpacaHttp(
            config.data_url or DATA_URL,
            key,
            secret,
            timeout=config.timeout,
            connections=connections,
        )

    def add_hook(self, hook: CallHook) -> None:
        """Receive a :class:`CallOutcome` after every broker call attempt."""
        self._hooks.append(hook)

    async def close(self) -> None:
        """Close the HTTP connections; calls after this fail with BrokerError."""
        self._closed = True
        await self._trading.close()
        await self._data.close()

    # -- plumbing -----------------------------------------------------------------------------

    async def _call(
        self, endpoint: str, attempt: Attempt, *, data: bool = False, **log: Any
    ) -> Any:
        """One attempt: limiter, transport under timeout, error mapping, hooks, log."""
        limiter = self.data_limiter if data else self.trading_limiter
        waited = await limiter.acquire()
        logger.debug("broker → {} {}", endpoint, log or "")
        started = time.perf_counter()
        error: BrokerError | None = None
        status: int | None = None
        value: Any = None
        deadline = asyncio.timeout(self.call_timeout)
        try:
            if self._closed:
                raise BrokerError(f"{endpoint}: client is closed", endpoint=endpoint)
            # A timeout scope rather than wait_for: the attempt runs in this task, with no
            # extra task and loop iteration before the request is written.
            async with deadline:
                value, status = await attempt()
        except TimeoutError as exc:
            if deadline.expired():
                error = BrokerTimeout(
                    f"{endpoint}: no answer within {self.call_timeout:.0f}s", endpoint=endpoint
                )
            else:  # the transport's own (per-request) timeout
                error = map_exception(exc, endpoint)
        except Exception as exc:
            error = map_exception(exc, endpoint)
            status = error.status
        seconds = time.perf_counter() - started
        if isinstance(error, RateLimitError):
            limiter.pause_for(error.retry_after if error.retry_after is not None else 1.0)
        outcome = CallOutcome(endpoint, error is None, seconds, utcnow(), status, error, waited)
        self._report(outcome)
        if error is not None:
            level = "DEBUG" if isinstance(error, NotFound) else "WARNING"
            logger.log(
                level, "broker ✗ {} {} in {:.0f} ms: {}", endpoint, status, seconds * 1e3, error
            )
            raise error
        logger.debug("broker ← {} {} in {:.1f} ms", endpoint, status, seconds * 1e3)
        return value

    def _api(
        self, method: str, path: str, params: Params | None = None, body: Any = None
    ) -> Attempt:
        """An attempt that sends one request to the trading API (``/v2`` + ``path``)."""
        return lambda: self._trading.request(method, "/v2" + path, params=params, body=body)

    def _market(self, path: str, params: Params) -> Attempt:
        """An attempt that asks the market-data API for one page."""
        return lambda: self._data.request("GET", path, params=params)

    async def _market_pages(self, path: str, params: Params, limit: int | None) -> dict[str, Any]:
        """Every page of one market-data query (each page retried on its own): rows by symbol."""
        pages = Pages(params, limit)
        while (page_params := pages.next_params()) is not None:
            page = await self._read("get_bars", self._market(path, page_params), data=True)
            self._convert("get_bars", pages.add, page)
        return pages.rows

    def _report(self, outcome: CallOutcome) -> None:
        for hook in self._hooks:
            try:
                hook(outcome)
            except Exception:  # a broken observer must not break trading
                logger.exception("call hook {!r} failed", hook)

    async def _read(self, endpoint: str, attempt: Attempt, *, data: bool = False) -> Any:
        """An idempotent call, retried on transient failures."""
        return await self.retry.run(lambda: self._call(endpoint, attempt, data=data), endpoint)

    async def _once(self, endpoint: str, attempt: Attempt) -> Any:
        """A call that must not be repeated blindly: only a 429 (never processed) is retried."""
        tries = 1
        while True:
            try:
                return await self._call(endpoint, attempt)
            except RateLimitError as exc:
                if tries >= self.retry.max_attempts:
                    raise
                await self.retry.sleep(self.retry.delay(tries, exc))
                tries += 1

    @staticmethod
    def _convert(endpoint: str, fn: Callable[..., T], *args: Any) -> T:
        """Parse a payload; a malformed one is a broker failure, not our crash."""
        try:
            return fn(*args)
        except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
            raise BrokerError(
                f"{endpoint}: unreadable response from the broker ({type(exc).__name__}: {exc})",
                endpoint=endpoint,
            ) from exc

    # -- account and positions ----------------------------------------------------------------

    async def get_account(self) -> Account:
        """Equity, cash, buying power and the rest of ``GET /v2/account``."""
        raw = await self._read("get_account", self._api("GET", "/account"))
        return self._convert("get_account", convert.account_from_wire, raw)

    async def get_positions(self) -> list[PositionSnapshot]:
        """Every open position."""
        raw = await self._read("get_positions", self._api("GET", "/positions"))
        return [self._convert("get_positions", convert.position_from_wire, p) for p in raw]

    async def get_position(self, symbol: str) -> PositionSnapshot | None:
        """The open position in ``symbol`` (``BTC/USD`` or ``BTCUSD``), or None when flat."""
        try:
            raw = await self._read(
                "get_position",
                self._api("GET", f"/positions/{_path_part(position_symbol(symbol))}"),
            )
        except NotFound:
            return None
        return self._convert("get_position", convert.position_from_wire, raw)

    # -- market data ----------------------------------------------------------------------------

    async def get_bars(
        self,
        symbol: str,
        timeframe: Timeframe | str = "1Min",
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Bars for one stock or crypto symbol as the documented frame (:func:`convert.bars_frame`).

        With ``start`` the bars from there (up to ``limit``); without it, the latest ``limit``
        bars (default 1,000) up to ``end``, however far back the market was last open.
        """
        symbol = order_symbol(symbol)
        tf = Timeframe.parse(timeframe) if isinstance(timeframe, str) else timeframe
        if limit is not None and limit < 1:
            raise InvalidRequest(f"get_bars: limit must be positive, got {limit}")
        end_at = ensure_utc(end) if end is not None else None
        newest_first = start is None
        if start is None:
            wanted = limit or 1000
            # Stocks trade ~6.5 of 24 hours, 5 of 7 days; reach back far enough to cover that.
            span = tf.timedelta * wanted * (6 if not is_crypto(symbol) else 1) + timedelta(days=4)
            start_at = (end_at or self.clock()) - min(span, timedelta(days=365 * 20))
            limit = wanted
        else:
            start_at = ensure_utc(start)
        crypto = is_crypto(symbol)
        params = self._bar_params(
            [symbol], tf, start_at, end_at, "desc" if newest_first else "asc", crypto
        )
        raw = await self._market_pages(bars_path(crypto), params, limit)
        rows = raw.get(symbol) or []
        return self._convert("get_bars", convert.bars_frame, rows)

    def _bar_params(
        self,
        symbols: Sequence[str],
        timeframe: Timeframe | str,
        start: datetime,
        end: datetime | None,
        sort: str,
        crypto: bool,
    ) -> Params:
        return {
            **self._symbols_params(symbols, crypto),
            "timeframe": str(
                Timeframe.parse(timeframe) if isinstance(timeframe, str) else timeframe
            ),
            "start": isoformat_z(start),
            "end": isoformat_z(end) if end is not None else None,
            "sort": sort,
        }

    def _symbols_params(self, symbols: Sequence[str], crypto: bool) -> dict[str, str | None]:
        """Which symbols a market-data query is about, and the stock feed it reads."""
        return {"symbols": ",".join(symbols), "feed": None if crypto else self.config.feed}

    async def get_bar_history(
        self,
        symbols: Sequence[str],
        start: datetime,
        end: datetime,
        timeframe: Timeframe | str = "1Min",
    ) -> dict[str, list[Bar]]:
        """Bars ``start <= t < end`` for several symbols of one asset class, oldest first.

        One paginated request for all the symbols (how the streams fill a gap after a
        reconnect without spending a request per symbol). Symbols with no bars are absent.
        """
        wanted = [order_symbol(s) for s in symbols]
        if not wanted:
            return {}
        crypto = {is_crypto(s) for s in wanted}
        if len(crypto) > 1:
            raise InvalidRequest("get_bar_history: stocks and crypto need separate calls")
        end_at = ensure_utc(end)
        is_crypto_query = crypto.pop()
        params = self._bar_params(
            wanted, timeframe, ensure_utc(start), end_at, "asc", is_crypto_query
        )
        raw = await self._market_pages(bars_path(is_crypto_query), params, None)
        out: dict[str, list[Bar]] = {}
        for symbol, rows in raw.items():
            bars = [self._convert("get_bars", convert.bar_from_wire, symbol, r) for r in rows]
            bars = sorted((b for b in bars if b.timestamp < end_at), key=lambda b: b.timestamp)
            if bars:
                out[order_symbol(symbol)] = bars
        return out

    async def _latest(self, endpoint: str, kind: str, symbol: str) -> Any:
        """The raw latest ``kind`` ("trade" or "quote") of one symbol; NotFound when absent."""
        symbol = order_symbol(symbol)
        crypto = is_crypto(symbol)
        params = self._symbols_params([symbol], crypto)
        page = await self._read(
            endpoint, self._market(latest_path(kind, crypto), params), data=True
        )
        raw = self._convert(endpoint, entries, page)
        if symbol not in raw:
            raise NotFound(f"{endpoint}: no {kind} for {symbol}", endpoint=endpoint)
        return raw[symbol]

    async def get_latest_trade(self, symbol: str) -> Trade:
        """The most recent trade."""
        raw = await self._latest("get_latest_trade", "trade", symbol)
        return self._convert("get_latest_trade", convert.trade_from_wire, order_symbol(symbol), raw)

    async def get_latest_quote(self, symbol: str) -> Quote:
        """The current best bid and ask."""
        raw = await self._latest("get_latest_quote", "quote", symbol)
        return self._convert("get_latest_quote", convert.quote_from_wire, order_symbol(symbol), raw)

    async def get_midpoint(self, symbol: str) -> Decimal | None:
        """The latest quote's midpoint, or None when one side of the book is empty."""
        return (await self.get_latest_quote(symbol)).midpoint

    async def get_previous_close(self, symbol: str, now: datetime | None = None) -> Decimal | None:
        """The close of the last session before today's (New York date), or None if unknown.

        On a Saturday that is Friday's close; on Monday (before, during or after the session)
        also Friday's; after a holiday the session before it. Crypto sessions are New York
        calendar days, as Alpaca's daily crypto bars are.
        """
        at = ensure_utc(now) if now is not None else self.clock()
        frame = await self.get_bars(symbol, "1Day", start=at - timedelta(days=14), end=at)
        if frame.empty:
            return None
        today = at.astimezone(convert.NEW_YORK).date()
        index = pd.DatetimeIndex(frame.index)
        dates = index.tz_convert(convert.NEW_YORK).date
        earlier = frame[dates < today]
        if earlier.empty:
            return None
        return Decimal(str(earlier["close"].iloc[-1]))

    # -- orders -------------------------------------------------------------------------------

    async def submit_order(self, intent: OrderIntent, client_order_id: str | None = None) -> Order:
        """Send ``intent`` to the broker exactly once; return the broker's order.

        The order carries a client_order_id (the argument, the intent's, or a fresh one), and
        Alpaca refuses a second order with the same id, so re-sending is safe *only* with the
        same id and only after asking. The protocol:

        1. Send. A definite answer (the order, or a 4xx refusal) ends it.
        2. 429: the request was not processed; wait as told and send again (same id).
        3. Anything ambiguous (timeout, reset connection, 5xx): ask for the order by its
           client_order_id. Found: that is the order. Not found: Alpaca never got it; send again.
        4. A 422 "client_order_id must be unique" means an earlier attempt did land: fetch it.
        5. When asking keeps failing, raise :class:`OrderStatusUnknown`; nothing more is sent,
           and reconciliation settles it once the broker answers again.

        Attempts are bounded by ``retry.max_attempts``.
        """
        coid = client_order_id or intent.client_order_id or new_client_order_id()
        try:
            body = order_payload(intent, coid)
        except ValueError as exc:
            raise InvalidRequest(f"submit_order: {exc}", endpoint="submit_order") from exc
        logger.info(
            "submitting {} {} {} {} ({}) coid={}",
            intent.side.value,
            intent.qty if intent.qty is not None else f"${intent.notional}",
            intent.symbol,
            intent.type.value,
            intent.time_in_force.value,
            coid,
        )
        send = self._api("POST", "/orders", body=body)
        attempt = 1
        while True:
            try:
                raw = await self._call("submit_order", send)
                return self._convert("submit_order", convert.order_from_wire, raw)
            except RateLimitError as exc:
                failure: TransientError = exc
                ambiguous = False
            except TransientError as exc:
                failure, ambiguous = exc, True
            except OrderRejected as exc:
                if not is_duplicate_client_order_id(exc.message):
                    logger.warning("order {} rejected: {}", coid, exc.message)
                    raise
                failure, ambiguous = exc, True  # type: ignore[assignment]
            if ambiguous:
                existing = await self._find_submitted(coid, failure)
                if existing is not None:
                    if (existing.symbol, existing.side) != (intent.symbol, intent.side):
                        raise OrderRejected(
                            f"client_order_id {coid} is already used by a different order "
                            f"({existing.side.value} {existing.symbol}); use a new id",
                            endpoint="submit_order",
                        )
                    logger.info("order {} was received despite {}; not resending", coid, failure)
                    return existing
                if isinstance(failure, OrderRejected):
                    # "Duplicate" yet not found: something else holds the id. Do not guess.
                    raise OrderStatusUnknown(
                        f"submit_order: client_order_id {coid} is taken but cannot be fetched",
                        client_order_id=coid,
                        endpoint="submit_order",
                    )
            if attempt >= self.retry.max_attempts:
                if ambiguous:
                    raise OrderStatusUnknown(
                        f"submit_order: {coid} not received after {attempt} attempts ({failure})",
                        client_order_id=coid,
                        endpoint="submit_order",
                    ) from failure
                raise failure
            await self.retry.sleep(self.retry.delay(attempt, failure))
            attempt += 1
            logger.warning("resending order {} (attempt {}) after {}", coid, attempt, failure)

    async def _find_submitted(self, coid: str, cause: BrokerError) -> Order | None:
        """After an ambiguous submit: the order if Alpaca has it, None if it certainly does not.

        Raises OrderStatusUnknown when the broker cannot be asked.
        """
        try:
            return await self.get_order_by_client_id(coid)
        except BrokerError as exc:
            raise OrderStatusUnknown(
                f"submit_order: {coid} may or may not have reached the broker ({cause}); "
                f"looking it up failed too ({exc})",
                client_order_id=coid,
                endpoint="submit_order",
            ) from exc

    async def get_order(self, order_id: str) -> Order:
        """An order by Alpaca's id (NotFound if unknown)."""
        raw = await self._read("get_order", self._api("GET", f"/orders/{_path_part(order_id)}"))
        return self._convert("get_order", convert.order_from_wire, raw)

    async def get_order_by_client_id(self, client_order_id: str) -> Order | None:
        """An order by our client_order_id, or None if Alpaca has no such order."""
        try:
            raw = await self._read(
                "get_order_by_client_id",
                self._api(
                    "GET", "/orders:by_client_order_id", {"client_order_id": client_order_id}
                ),
            )
        except NotFound:
            return None
        return self._convert("get_order_by_client_id", convert.order_from_wire, raw)

    async def list_orders(
        self,
        status: str = "open",
        *,
        limit: int = 500,
        symbols: Sequence[str] | None = None,
        after: datetime | None = None,
        until: datetime | None = None,
        nested: bool = True,
    ) -> list[Order]:
        """Orders by status (``open``, ``closed``, ``all``), newest first, with their legs."""
        if status not in _QUERY_STATUSES:
            raise InvalidRequest(f"list_orders: status must be open, closed or all, got {status!r}")
        params: Params = {
            "status": status,
            "limit": limit,
            "symbols": ",".join(order_symbol(s) for s in symbols) if symbols else None,
            "after": isoformat_z(after) if after is not None else None,
            "until": isoformat_z(until) if until is not None else None,
            "nested": nested,
        }
        raw = await self._read("list_orders", self._api("GET", "/orders", params))
        return [self._convert("list_orders", convert.order_from_wire, o) for o in raw]

    async def cancel_order(self, order_id: str) -> None:
        """Ask Alpaca to cancel; the outcome arrives as an order update."""
        await self._read("cancel_order", self._api("DELETE", f"/orders/{_path_part(order_id)}"))

    async def cancel_all_orders(self) -> list[tuple[str, int]]:
        """Cancel every open order; (order id, HTTP status of its cancel) per order."""
        raw: Any = await self._read("cancel_all_orders", self._api("DELETE", "/orders"))
        return [(str(row.get("id")), int(row.get("status", 0))) for row in raw or []]

    async def close_position(
        self, symbol: str, *, qty: Decimal | None = None, percentage: Decimal | None = None
    ) -> Order:
        """Close all of a position, ``qty`` of it, or ``percentage`` (0-100) of it.

        Never retried after an ambiguous failure (Alpaca's close takes no client_order_id, so a
        retry could close twice): the error propagates and the caller reconciles.
        """
        if qty is not None and percentage is not None:
            raise InvalidRequest("close_position: give qty or percentage, not both")
        params: Params = {
            "qty": decimal_str(qty) if qty is not None else None,
            "percentage": decimal_str(percentage) if percentage is not None else None,
        }
        path = f"/positions/{_path_part(position_symbol(symbol))}"
        raw = await self._once("close_position", self._api("DELETE", path, params))
        return self._convert("close_position", convert.order_from_wire, raw)

    async def close_all_positions(self, cancel_orders: bool = True) -> list[Order]:
        """Close every position (cancelling open orders first by default); the closing orders.

        Positions Alpaca refused to close are logged and left out.
        """
        params: Params | None = {"cancel_orders": True} if cancel_orders else None
        raw: Any = await self._once(
            "close_all_positions", self._api("DELETE", "/positions", params)
        )
        orders: list[Order] = []
        for row in raw or []:
            body = row.get("body")
            if int(row.get("status", 0)) >= 300 or not isinstance(body, dict) or "id" not in body:
                logger.warning("close of {} refused: {}", row.get("symbol"), body)
                continue
            orders.append(self._convert("close_all_positions", convert.order_from_wire, body))
        return orders

    async def get_fill_activities(
        self, after: datetime | None = None, *, max_pages: int = 50
    ) -> list[FillActivity]:
        """Executions (``FILL`` account activities) after ``after``, oldest first.

        The record of every fill, for reconciliation after the order stream missed some. Pages
        of 100 follow Alpaca's ``page_token`` (the last row's id), up to ``max_pages``.
        """
        activities: list[FillActivity] = []
        token: str | None = None
        for _ in range(max_pages):
            params: dict[str, Any] = {"direction": "asc", "page_size": 100}
            if after is not None:
                params["after"] = isoformat_z(after)
            if token is not None:
                params["page_token"] = token
            rows: Any = await self._read(
                "get_fill_activities", self._api("GET", "/account/activities/FILL", params)
            )
            page = [
                self._convert("get_fill_activities", convert.fill_activity_from_wire, row)
                for row in rows or []
            ]
            activities.extend(page)
            if len(page) < 100:
                break
            token = page[-1].activity_id
        return activities

    # -- reference data -----------------------------------------------------------------------

    async def get_clock(self) -> MarketClock:
        """Whether the stock market is open, and the next open and close."""
        raw = await self._read("get_clock", self._api("GET", "/clock"))
        return self._convert("get_clock", convert.clock_from_wire, raw)

    async def get_calendar(self, start: date, end: date) -> list[TradingDay]:
        """Trading days between two dates, inclusive."""
        params: Params = {"start": start.isoformat(), "end": end.isoformat()}
        raw = await self._read("get_calendar", self._api("GET", "/calendar", params))
        return [self._convert("get_calendar", convert.calendar_from_wire, row) for row in raw]

    async def get_asset(self, symbol: str) -> AssetInfo:
        """Tradability and order rules for one symbol (NotFound if Alpaca does not list it)."""
        path = f"/assets/{_path_part(position_symbol(symbol))}"
        raw = await self._read("get_asset", self._api("GET", path))
        return self._convert("get_asset", convert.asset_from_wire, raw)

    async def ping(self) -> float:
        """One cheap authenticated round trip (the clock), without retries; its latency in s."""
        started = time.perf_counter()
        await self._call("ping", self._api("GET", "/clock"))
        return time.perf_counter() - started
