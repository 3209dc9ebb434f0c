"""Trading API routes (``/v2/...``): account, orders, positions, assets, clock and calendar.

Handlers are thin: they parse the request the way Alpaca does, call the synchronous
:class:`~pulsetrader.sim.exchange.Exchange` at the current simulated time, and publish the
resulting trade updates right away so the stream sees an order's ``new`` or ``fill`` before the
next market tick. Account activities and portfolio history live in :mod:`.account_routes`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from pulsetrader.domain.enums import AssetClass
from pulsetrader.sim.errors import SimError
from pulsetrader.sim.server import account_routes
from pulsetrader.sim.server.common import (
    bad_query,
    get_sim,
    is_uuid,
    json_body,
    json_response,
    not_found,
    ny_isoformat,
    query_bool,
    query_choice,
    query_date,
    query_decimal,
    query_int,
    query_list,
    query_time,
)

#: Alpaca's calendar covers 1970-2029; ours starts where the simulator's calendar does.
CALENDAR_DEFAULT_START = date(1990, 1, 1)
CALENDAR_DEFAULT_END = date(2029, 12, 31)
_ORDER_STATUSES = ("open", "closed", "all")
_ASSET_STATUSES = ("active", "inactive")


# -- orders ----------------------------------------------------------------------------------
async def submit_order(request: web.Request) -> web.Response:
    """``POST /v2/orders``: the new order, as Alpaca returns it."""
    sim = get_sim(request)
    body = await json_body(request)
    order = sim.exchange.submit_order(body, sim.now())
    sim.flush_events()
    return json_response(order.to_alpaca())


async def list_orders(request: web.Request) -> web.Response:
    """``GET /v2/orders`` with Alpaca's filters (status, limit, after, until, ...)."""
    sim = get_sim(request)
    q = request.query
    status = query_choice(q, "status", _ORDER_STATUSES, "open")
    limit = query_int(q, "limit", 50, minimum=1, maximum=500)
    direction = query_choice(q, "direction", ("asc", "desc"), "desc")
    side = query_choice(q, "side", ("buy", "sell"), None)
    nested = query_bool(q, "nested")
    symbols = query_list(q, "symbols") or None
    orders = sim.exchange.list_orders(
        status=status or "open",
        limit=limit or 50,
        after=query_time(q, "after"),
        until=query_time(q, "until"),
        direction=direction or "desc",
        nested=nested,
        symbols=symbols,
        side=side,
    )
    return json_response([order.to_alpaca(nested=nested) for order in orders])


async def cancel_all_orders(request: web.Request) -> web.Response:
    """``DELETE /v2/orders``: HTTP 207 with one ``{id, status, body}`` row per open order."""
    sim = get_sim(request)
    results = sim.exchange.cancel_all(sim.now())
    sim.flush_events()
    rows: list[dict[str, Any]] = []
    for order_id, status in results:
        row: dict[str, Any] = {"id": order_id, "status": status}
        try:
            row["body"] = sim.exchange.get_order(order_id).to_alpaca()
        except SimError:
            row["body"] = None
        rows.append(row)
    return json_response(rows, status=207)


async def get_order_by_client_id(request: web.Request) -> web.Response:
    """``GET /v2/orders:by_client_order_id?client_order_id=...``."""
    sim = get_sim(request)
    client_id = request.query.get("client_order_id", "")
    if not client_id:
        raise bad_query("client_order_id is required")
    order = sim.exchange.get_order_by_client_id(client_id)
    return json_response(order.to_alpaca())


def _order_id(request: web.Request) -> str:
    order_id = request.match_info["order_id"]
    # Alpaca answers a malformed id exactly like an unknown one.
    if not is_uuid(order_id):
        raise not_found("order not found")
    return order_id.lower()


async def get_order(request: web.Request) -> web.Response:
    """``GET /v2/orders/{order_id}[?nested=true]``."""
    sim = get_sim(request)
    order = sim.exchange.get_order(_order_id(request))
    return json_response(order.to_alpaca(nested=query_bool(request.query, "nested")))


async def replace_order(request: web.Request) -> web.Response:
    """``PATCH /v2/orders/{order_id}``: the replacing order (new id, ``replaces`` set)."""
    sim = get_sim(request)
    order_id = _order_id(request)
    body = await json_body(request)
    order = sim.exchange.replace_order(order_id, body, sim.now())
    sim.flush_events()
    return json_response(order.to_alpaca())


async def cancel_order(request: web.Request) -> web.Response:
    """``DELETE /v2/orders/{order_id}``: 204 with an empty body."""
    sim = get_sim(request)
    sim.exchange.cancel_order(_order_id(request), sim.now())
    sim.flush_events()
    return web.Response(status=204)


# -- positions -------------------------------------------------------------------------------
def _position_symbol(request: web.Request) -> str:
    """The symbol in the path; an asset id is accepted too, as Alpaca does."""
    symbol = request.match_info["symbol"].strip()
    if is_uuid(symbol):
        asset = get_sim(request).assets.get(symbol)
        if asset is None:
            raise not_found("position does not exist")
        return asset.symbol
    return symbol


async def list_positions(request: web.Request) -> web.Response:
    """``GET /v2/positions``."""
    sim = get_sim(request)
    return json_response([position.to_alpaca() for position in sim.exchange.positions()])


async def get_position(request: web.Request) -> web.Response:
    """``GET /v2/positions/{symbol}`` (``BTC/USD`` arrives unescaped, ``BTCUSD`` works too)."""
    sim = get_sim(request)
    return json_response(sim.exchange.position(_position_symbol(request)).to_alpaca())


async def close_position(request: web.Request) -> web.Response:
    """``DELETE /v2/positions/{symbol}?qty=|percentage=``: the closing order."""
    sim = get_sim(request)
    q = request.query
    qty = query_decimal(q, "qty")
    percentage = query_decimal(q, "percentage")
    if qty is not None and percentage is not None:
        raise bad_query("only one of qty or percentage may be given")
    if percentage is not None and percentage > 100:
        raise bad_query("invalid percentage: must be between 0 and 100")
    order = sim.exchange.close_position(
        _position_symbol(request), qty=qty, percentage=percentage, now=sim.now()
    )
    sim.flush_events()
    return json_response(order.to_alpaca())


async def close_all_positions(request: web.Request) -> web.Response:
    """``DELETE /v2/positions[?cancel_orders=true]``: 207 with ``{symbol, status, body}`` rows."""
    sim = get_sim(request)
    cancel = query_bool(request.query, "cancel_orders")
    results = sim.exchange.close_all_positions(cancel, sim.now())
    sim.flush_events()
    rows = [{"symbol": symbol, "status": status, "body": body} for symbol, status, body in results]
    return json_response(rows, status=207)


# -- assets ----------------------------------------------------------------------------------
async def list_assets(request: web.Request) -> web.Response:
    """``GET /v2/assets`` filtered by status, asset_class, exchange and attributes."""
    sim = get_sim(request)
    q = request.query
    status = query_choice(q, "status", _ASSET_STATUSES, None)
    raw_class = q.get("asset_class")
    asset_class: AssetClass | None = None
    if raw_class:
        try:
            asset_class = AssetClass(raw_class.strip().lower())
        except ValueError:
            choices = ", ".join(c.value for c in AssetClass)
            raise bad_query(f"invalid asset_class: {raw_class!r} (expected {choices})") from None
    exchange = (q.get("exchange") or "").strip().upper() or None
    attributes = set(query_list(q, "attributes"))
    rows = []
    for asset in sim.assets.all(status=status, asset_class=asset_class):
        row = asset.to_alpaca()
        if exchange is not None and row["exchange"] != exchange:
            continue
        if attributes and not attributes & set(row.get("attributes") or ()):
            continue
        rows.append(row)
    return json_response(rows)


async def get_asset(request: web.Request) -> web.Response:
    """``GET /v2/assets/{symbol_or_id}`` (crypto pairs unescaped)."""
    sim = get_sim(request)
    key = request.match_info["symbol_or_id"]
    asset = sim.assets.get(key)
    if asset is None:
        raise not_found(f"asset not found for {key}")
    return json_response(asset.to_alpaca())


# -- market clock and calendar ---------------------------------------------------------------
async def get_clock(request: web.Request) -> web.Response:
    """``GET /v2/clock``: times in New York with their offset, as Alpaca writes them."""
    sim = get_sim(request)
    now = sim.now()
    calendar = sim.calendar
    return json_response(
        {
            "timestamp": ny_isoformat(now),
            "is_open": calendar.is_open(now),
            "next_open": ny_isoformat(calendar.next_open(now)),
            "next_close": ny_isoformat(calendar.next_close(now)),
        }
    )


async def get_calendar(request: web.Request) -> web.Response:
    """``GET /v2/calendar?start=&end=[&date_type=TRADING|SETTLEMENT]``."""
    sim = get_sim(request)
    q = request.query
    start = query_date(q, "start") or CALENDAR_DEFAULT_START
    end = query_date(q, "end") or CALENDAR_DEFAULT_END
    date_type = (q.get("date_type") or "TRADING").strip().upper()
    if date_type not in ("TRADING", "SETTLEMENT"):
        raise bad_query(f"invalid date_type: {q.get('date_type')!r} (TRADING or SETTLEMENT)")
    if end < start:
        return json_response([])
    try:
        if date_type == "TRADING":
            sessions = sim.calendar.sessions(start, end)
        else:
            # A settlement date trails its trade date by at most a week.
            candidates = sim.calendar.sessions(_minus_days(start, 10), end)
            sessions = [
                s
                for s in candidates
                if s.settlement_date is not None and start <= s.settlement_date <= end
            ]
    except ValueError as exc:
        raise bad_query(str(exc)) from None
    return json_response([session.to_alpaca() for session in sessions])


def _minus_days(day: date, days: int) -> date:
    return date.fromordinal(day.toordinal() - days)


# -- account ---------------------------------------------------------------------------------
async def get_account(request: web.Request) -> web.Response:
    """``GET /v2/account``."""
    sim = get_sim(request)
    return json_response(sim.exchange.account_dict(sim.now()))


def add_routes(app: web.Application) -> None:
    """Mount the trading API. ``:by_client_order_id`` precedes ``{order_id}`` on purpose."""
    r = app.router
    r.add_get("/v2/account", get_account)
    account_routes.add_routes(app)
    r.add_post("/v2/orders", submit_order)
    r.add_get("/v2/orders", list_orders)
    r.add_delete("/v2/orders", cancel_all_orders)
    r.add_get("/v2/orders:by_client_order_id", get_order_by_client_id)
    r.add_get("/v2/orders/{order_id}", get_order)
    r.add_patch("/v2/orders/{order_id}", replace_order)
    r.add_delete("/v2/orders/{order_id}", cancel_order)
    r.add_get("/v2/positions", list_positions)
    r.add_delete("/v2/positions", close_all_positions)
    r.add_get("/v2/positions/{symbol:.+}", get_position)
    r.add_delete("/v2/positions/{symbol:.+}", close_position)
    r.add_get("/v2/assets", list_assets)
    r.add_get("/v2/assets/{symbol_or_id:.+}", get_asset)
    r.add_get("/v2/clock", get_clock)
    r.add_get("/v2/calendar", get_calendar)
