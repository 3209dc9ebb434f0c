"""Shared pieces of the REST contract suite: alpaca-py clients and a raw HTTP session wired to
the ``sim_thread`` simulator, and assertions on Alpaca's error bodies.

The contract tests run the simulator with its clock stopped (``speed=0``) so every response is
deterministic; a test that needs time to pass moves it with :func:`advance`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.historical import CryptoHistoricalDataClient, StockHistoricalDataClient
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderClass
from alpaca.trading.requests import (
    LimitOrderRequest,
    MarketOrderRequest,
    StopLossRequest,
    TakeProfitRequest,
)

from tests.simulator import SimThread

#: The contract modules' default config: a stopped clock (tests advance it explicitly).
FROZEN = {"speed": 0.0}


def advance(runner: SimThread, seconds: float) -> None:
    """Move simulated time forward (the market runs over the skipped span)."""
    assert runner.sim is not None
    runner.call(runner.sim.advance(timedelta(seconds=seconds)))


def ask(runner: SimThread, symbol: str) -> Decimal:
    """The simulated exchange's current ask for ``symbol``."""
    assert runner.sim is not None
    quote = runner.sim.exchange.quote(symbol)
    assert quote is not None
    return Decimal(quote.ask_price)


def market(
    symbol: str, qty: float, side: str = "buy", tif: str = "day", **kw: Any
) -> MarketOrderRequest:
    return MarketOrderRequest(symbol=symbol, qty=qty, side=side, time_in_force=tif, **kw)


def limit(
    symbol: str, qty: float, price: float, side: str = "buy", tif: str = "gtc", **kw: Any
) -> LimitOrderRequest:
    return LimitOrderRequest(
        symbol=symbol, qty=qty, side=side, time_in_force=tif, limit_price=price, **kw
    )


def bracket(
    symbol: str,
    qty: float,
    reference: Decimal,
    entry: float | None = None,
    stop_limit: float | None = None,
    tif: str = "gtc",
    **kw: Any,
) -> MarketOrderRequest | LimitOrderRequest:
    """A buy bracket: take profit at twice ``reference``, stop loss at half of it."""
    legs: dict[str, Any] = {
        "order_class": OrderClass.BRACKET,
        "take_profit": TakeProfitRequest(limit_price=float(round(reference * 2, 2))),
        "stop_loss": StopLossRequest(
            stop_price=float(round(reference / 2, 2)), limit_price=stop_limit
        ),
    }
    if entry is None:
        return market(symbol, qty, tif=tif, **legs, **kw)
    return limit(symbol, qty, entry, tif=tif, **legs, **kw)


def no_retries(client: Any) -> Any:
    """alpaca-py retries 429/504 three times, 3 s apart; contract tests want the first answer."""
    client._retry = 0
    client._retry_wait = 0
    return client


def api_error(call: Callable[[], object]) -> APIError:
    """The APIError ``call`` raises (fails the test if it returns)."""
    with pytest.raises(APIError) as info:
        call()
    return info.value


def assert_api_error(
    call: Callable[[], object], status: int, code: int, message: str | None = None
) -> dict[str, Any]:
    """``call`` fails with Alpaca's ``{"code", "message"}`` body; returns the whole body.

    ``message`` is matched exactly when given. ``.code``/``.message`` are alpaca-py's own
    accessors, which raise unless the body is JSON with both keys.
    """
    error = api_error(call)
    assert error.status_code == status, str(error)
    assert error.code == code, str(error)
    assert isinstance(error.message, str)
    assert error.message
    if message is not None:
        assert error.message == message
    body: dict[str, Any] = json.loads(str(error))
    return body


@pytest.fixture
def trading(sim_thread: SimThread) -> TradingClient:
    """alpaca-py's TradingClient on the simulator, parsing every response into models."""
    sim = sim_thread.sim
    assert sim is not None
    client = TradingClient(
        sim.key_id, sim.secret_key, paper=True, raw_data=False, url_override=sim.base_url
    )
    return no_retries(client)


@pytest.fixture
def stocks(sim_thread: SimThread) -> StockHistoricalDataClient:
    sim = sim_thread.sim
    assert sim is not None
    client = StockHistoricalDataClient(
        sim.key_id, sim.secret_key, raw_data=False, url_override=sim.base_url
    )
    return no_retries(client)


@pytest.fixture
def crypto(sim_thread: SimThread) -> CryptoHistoricalDataClient:
    """Keyless, as alpaca-py allows for crypto data."""
    sim = sim_thread.sim
    assert sim is not None
    return no_retries(CryptoHistoricalDataClient(raw_data=False, url_override=sim.base_url))


class Http:
    """A plain ``requests`` client for the simulator: another Alpaca client than alpaca-py."""

    def __init__(self, base_url: str, key: str, secret: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers.update({"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret})

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 10)
        kw.setdefault("allow_redirects", False)
        return self.session.request(method, self.base_url + path, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> requests.Response:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)

    def ok(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        """The JSON body of a request that must answer ``status``."""
        response = self.request(method, path, **kw)
        assert response.status_code == status, response.text
        assert response.headers["Content-Type"].startswith("application/json")
        return response.json()


@pytest.fixture
def http(sim_thread: SimThread) -> Iterator[Http]:
    sim = sim_thread.sim
    assert sim is not None
    client = Http(sim.base_url, sim.key_id, sim.secret_key)
    yield client
    client.session.close()
