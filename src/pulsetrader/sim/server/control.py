"""The simulator's own control API under ``/sim/`` (no auth: a loopback tool for tests and demos).

- ``GET /sim/health``: 200 once the market loop runs.
- ``GET /sim/clock`` / ``POST /sim/clock`` with ``{"advance_seconds": N}``, ``{"set": iso}``,
  ``{"speed": X}`` or ``{"paused": bool}``. Moving time runs the market over the skipped interval
  (fills, expiries, bars), so jumping ahead is the same as waiting.
- ``GET /sim/prices``: the latest trade and quote per active symbol.
- ``GET``/``PUT``/``DELETE /sim/faults``: the fault profile.
- ``POST /sim/reset``: a fresh account and exchange, time back at the start, no faults.
- ``GET /sim/stats``: request counts, stream statistics, market loop timings.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from pulsetrader.domain.money import parse_utc
from pulsetrader.sim.errors import MALFORMED, SimError
from pulsetrader.sim.faults import FaultProfile
from pulsetrader.sim.server.common import get_sim, json_body, json_response

#: The largest single jump ``POST /sim/clock`` accepts (the market is replayed over it).
MAX_ADVANCE = timedelta(days=31)


def _bad(message: str) -> SimError:
    return SimError(400, MALFORMED, message)


async def health(request: web.Request) -> web.Response:
    """``GET /sim/health``."""
    sim = get_sim(request)
    if not sim.ready:
        return json_response({"status": "starting"}, status=503)
    return json_response({"status": "ok", "now": sim.now().isoformat(), "base_url": sim.base_url})


async def get_clock(request: web.Request) -> web.Response:
    """``GET /sim/clock``."""
    return json_response(get_sim(request).clock_state())


def _number(body: dict[str, Any], key: str) -> float:
    value = body[key]
    if isinstance(value, bool):
        raise _bad(f"{key} must be a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _bad(f"{key} must be a number") from None


async def post_clock(request: web.Request) -> web.Response:
    """``POST /sim/clock``: advance, jump, change speed, pause or resume."""
    sim = get_sim(request)
    body = await json_body(request)
    known = {"advance_seconds", "set", "speed", "paused"}
    if not body or not set(body) <= known:
        raise _bad(f"expected one or more of {sorted(known)}")
    if "speed" in body:
        speed = _number(body, "speed")
        if not 0 <= speed < float("inf"):
            raise _bad("speed must be a finite number >= 0")
        sim.clock.speed = speed
    if "paused" in body:
        if not isinstance(body["paused"], bool):
            raise _bad("paused must be true or false")
        sim.clock.pause() if body["paused"] else sim.clock.resume()
    if "advance_seconds" in body:
        seconds = _number(body, "advance_seconds")
        if not 0 <= seconds <= MAX_ADVANCE.total_seconds():
            raise _bad(f"advance_seconds must be between 0 and {int(MAX_ADVANCE.total_seconds())}")
        await sim.advance(timedelta(seconds=seconds))
    if "set" in body:
        try:
            target = parse_utc(str(body["set"]))
        except ValueError:
            raise _bad("set must be an RFC 3339 time with a zone") from None
        now = sim.now()
        if target < now:
            raise _bad(f"cannot move the clock back from {now.isoformat()}")
        if target - now > MAX_ADVANCE:
            raise _bad(f"cannot jump more than {MAX_ADVANCE.days} days at once")
        await sim.advance(target - now)
    return json_response(sim.clock_state())


async def prices(request: web.Request) -> web.Response:
    """``GET /sim/prices``."""
    return json_response(get_sim(request).latest_prices())


async def get_faults(request: web.Request) -> web.Response:
    """``GET /sim/faults``."""
    return json_response(get_sim(request).faults.snapshot())


async def put_faults(request: web.Request) -> web.Response:
    """``PUT /sim/faults`` with a profile (see :mod:`pulsetrader.sim.faults`)."""
    sim = get_sim(request)
    body = await json_body(request)
    try:
        profile = FaultProfile.parse(body)
    except ValueError as exc:
        raise _bad(str(exc)) from None
    sim.faults.load(profile)
    return json_response(sim.faults.snapshot())


async def delete_faults(request: web.Request) -> web.Response:
    """``DELETE /sim/faults``: remove every rule."""
    sim = get_sim(request)
    sim.faults.clear()
    return json_response(sim.faults.snapshot())


async def reset(request: web.Request) -> web.Response:
    """``POST /sim/reset``."""
    sim = get_sim(request)
    await sim.reset()
    return json_response({"status": "ok", "now": sim.now().isoformat()})


async def stats(request: web.Request) -> web.Response:
    """``GET /sim/stats``."""
    return json_response(get_sim(request).stats_snapshot())


def add_routes(app: web.Application) -> None:
    """Mount ``/sim/...``."""
    r = app.router
    r.add_get("/sim/health", health)
    r.add_get("/sim/clock", get_clock)
    r.add_post("/sim/clock", post_clock)
    r.add_get("/sim/prices", prices)
    r.add_get("/sim/faults", get_faults)
    r.add_put("/sim/faults", put_faults)
    r.add_delete("/sim/faults", delete_faults)
    r.add_post("/sim/reset", reset)
    r.add_get("/sim/stats", stats)
