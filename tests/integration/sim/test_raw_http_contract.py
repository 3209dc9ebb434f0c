"""The simulator seen by another Alpaca client than alpaca-py: plain ``requests``.

These tests pin Alpaca's documented raw JSON: numbers as strings in trading bodies, ``class`` on
assets, ``{"code": int, "message": str}`` errors, 207 multi-status arrays for the bulk deletes,
204 for a single cancel, the literal ``orders:by_client_order_id`` path, crypto positions spelled
``BTCUSD``, and market data with JSON numbers, ``Z`` timestamps and opaque page tokens.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.integration.sim.conftest import FROZEN, Http

pytestmark = pytest.mark.sim_config(**FROZEN)

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?$")
ZULU_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
ACCOUNT_AMOUNTS = (
    "cash",
    "buying_power",
    "regt_buying_power",
    "non_marginable_buying_power",
    "equity",
    "last_equity",
    "portfolio_value",
    "long_market_value",
    "short_market_value",
    "initial_margin",
    "maintenance_margin",
    "sma",
    "multiplier",
)
POSITION_AMOUNTS = (
    "qty",
    "qty_available",
    "avg_entry_price",
    "market_value",
    "cost_basis",
    "unrealized_pl",
    "unrealized_plpc",
    "unrealized_intraday_pl",
    "current_price",
    "lastday_price",
    "change_today",
)


def numeric_text(body: dict[str, Any], *keys: str) -> None:
    """Each key holds a number written as a JSON string (Alpaca's trading API style)."""
    for key in keys:
        value = body[key]
        assert isinstance(value, str), (key, value)
        assert NUMBER_RE.match(value), (key, value)


def is_error(response: Any, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert isinstance(body["code"], int)
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    return body


def order(symbol: str, qty: Any, **fields: Any) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "qty": qty,
        "side": "buy",
        "type": "market",
        "time_in_force": "day",
    } | fields


def test_trading_bodies_write_numbers_as_strings(http: Http) -> None:
    numeric_text(http.ok("GET", "/v2/account"), *ACCOUNT_AMOUNTS)
    # Numbers may be sent as strings too (Alpaca accepts JSON numbers and numeric strings).
    placed = http.ok("POST", "/v2/orders", json=order("AAPL", "2", client_order_id="raw-1"))
    numeric_text(placed, "qty", "filled_qty", "filled_avg_price")
    assert placed["qty"] == "2"
    assert UUID_RE.match(placed["id"])
    assert ZULU_RE.match(placed["submitted_at"])
    assert placed["extended_hours"] is False
    assert placed["legs"] is None
    resting = http.ok(
        "POST",
        "/v2/orders",
        json=order("AAPL", 1.0, type="limit", limit_price=1.25, time_in_force="gtc"),
    )
    assert (resting["qty"], resting["limit_price"], resting["filled_avg_price"]) == (
        "1",
        "1.25",
        None,
    )
    notional = http.ok("POST", "/v2/orders", json=order("MSFT", None, notional="25.5"))
    assert (notional["notional"], notional["qty"]) == ("25.5", None)
    numeric_text(notional, "filled_qty")
    account = http.ok("GET", "/v2/account")
    numeric_text(account, *ACCOUNT_AMOUNTS)
    assert isinstance(account["shorting_enabled"], bool)

    (position, *_) = http.ok("GET", "/v2/positions")
    numeric_text(position, *POSITION_AMOUNTS)
    config = http.ok("GET", "/v2/account/configurations")
    assert config["max_margin_multiplier"] == "4"


def test_crypto_positions_are_spelled_without_the_slash(http: Http) -> None:
    bought = http.ok("POST", "/v2/orders", json=order("BTC/USD", 0.02, time_in_force="gtc"))
    assert bought["symbol"] == "BTC/USD"  # orders keep the pair spelling
    (listed,) = http.ok("GET", "/v2/positions")
    assert (listed["symbol"], listed["exchange"], listed["asset_class"]) == (
        "BTCUSD",
        "CRYPTO",
        "crypto",
    )
    assert listed["asset_id"] == bought["asset_id"]
    numeric_text(listed, *POSITION_AMOUNTS)
    # The pair arrives unescaped in the path (alpaca-py does not encode the slash).
    for path in (
        "/v2/positions/BTC/USD",
        "/v2/positions/BTCUSD",
        f"/v2/positions/{bought['asset_id']}",
    ):
        assert http.ok("GET", path) == listed
    # Fills are account activities, with string amounts and time-sortable ids.
    (fill,) = http.ok("GET", "/v2/account/activities/FILL")
    assert http.ok("GET", "/v2/account/activities", params={"activity_types": "FILL"}) == [fill]
    assert (fill["activity_type"], fill["type"], fill["side"]) == ("FILL", "fill", "buy")
    assert fill["order_id"] == bought["id"]
    numeric_text(fill, "price", "qty", "cum_qty", "leaves_qty")
    assert re.match(r"^\d{17}::[0-9a-f-]{36}$", fill["id"])
    assert http.ok("GET", "/v2/account/activities", params={"activity_types": "DIV"}) == []


def test_assets_use_the_class_key(http: Http) -> None:
    asset = http.ok("GET", "/v2/assets/AAPL")
    assert asset["class"] == "us_equity"
    assert "asset_class" not in asset
    assert isinstance(asset["tradable"], bool)
    assert isinstance(asset["attributes"], list)
    btc = http.ok("GET", "/v2/assets/BTC/USD")
    assert (btc["class"], btc["symbol"], btc["exchange"]) == ("crypto", "BTC/USD", "CRYPTO")
    numeric_text(btc, "min_order_size", "min_trade_increment", "price_increment")
    assets = http.ok("GET", "/v2/assets", params={"status": "active", "asset_class": "crypto"})
    assert assets
    assert {a["class"] for a in assets} == {"crypto"}


def test_error_bodies(http: Http, sim_thread: Any) -> None:
    stranger = Http(http.base_url, "PKWRONG", "wrong")
    assert is_error(stranger.get("/v2/account"), 401, 40110000) == {
        "code": 40110000,
        "message": "request is not authorized",
    }
    nobody = Http(http.base_url, "", "")
    nobody.session.headers.clear()
    is_error(nobody.get("/v2/orders"), 401, 40110000)
    assert is_error(http.get("/v2/orders/61e69015-8549-4bfd-b9c3-01e75843f47d"), 404, 40410000) == {
        "code": 40410000,
        "message": "order not found",
    }
    is_error(http.get("/v2/positions/AAPL"), 404, 40410000)
    is_error(http.get("/v2/assets/NOPE"), 404, 40410000)
    is_error(http.post("/v2/orders", data=b"{not json"), 400, 40010000)
    body = is_error(http.post("/v2/orders", json=order("AAPL", 100_000)), 403, 40310000)
    numeric_text(body, "buying_power", "cost_basis")
    http.ok("POST", "/v2/orders", json=order("AAPL", 1, client_order_id="same"))
    assert is_error(
        http.post("/v2/orders", json=order("AAPL", 1, client_order_id="same")), 422, 40010001
    ) == {
        "code": 40010001,
        "message": "client_order_id must be unique",
    }
    is_error(http.post("/v2/orders", json=order("BTC/USD", 1)), 422, 42210000)  # tif day
    # HTTP Basic auth (alpaca-py's use_basic_auth) is the same credentials.
    assert sim_thread.sim is not None
    token = base64.b64encode(
        f"{sim_thread.sim.key_id}:{sim_thread.sim.secret_key}".encode()
    ).decode()
    basic = Http(http.base_url, "", "")
    basic.session.headers.clear()
    basic.session.headers["Authorization"] = f"Basic {token}"
    assert basic.ok("GET", "/v2/clock")["is_open"] is True


def test_bulk_deletes_are_multi_status_and_cancel_is_204(http: Http) -> None:
    resting = [
        http.ok(
            "POST", "/v2/orders", json=order(s, 1, type="limit", limit_price=1, time_in_force="gtc")
        )
        for s in ("AAPL", "MSFT")
    ]
    response = http.delete(f"/v2/orders/{resting[0]['id']}")
    assert (response.status_code, response.content) == (204, b"")
    assert http.ok("GET", f"/v2/orders/{resting[0]['id']}")["status"] == "canceled"
    is_error(http.delete(f"/v2/orders/{resting[0]['id']}"), 422, 42210000)

    rows = http.ok("DELETE", "/v2/orders", status=207)
    assert [(row["id"], row["status"]) for row in rows] == [(resting[1]["id"], 200)]
    assert http.ok("DELETE", "/v2/orders", status=207) == []

    http.ok("POST", "/v2/orders", json=order("AAPL", 3))
    http.ok("POST", "/v2/orders", json=order("ETH/USD", 0.1, time_in_force="gtc"))
    http.ok(
        "POST",
        "/v2/orders",
        json=order("AAPL", 3, side="sell", type="limit", limit_price=9999, time_in_force="gtc"),
    )
    rows = {row["symbol"]: row for row in http.ok("DELETE", "/v2/positions", status=207)}
    assert set(rows) == {"AAPL", "ETHUSD"}
    assert rows["ETHUSD"]["status"] == 200
    assert rows["ETHUSD"]["body"]["symbol"] == "ETH/USD"
    numeric_text(rows["ETHUSD"]["body"], "qty")
    failed = rows["AAPL"]
    assert failed["status"] == 403
    assert failed["body"]["code"] == 40310000
    numeric_text(failed["body"], "available", "existing_qty", "held_for_orders")
    # alpaca-py sends Python booleans: cancel_orders=True.
    rows = http.ok("DELETE", "/v2/positions", status=207, params={"cancel_orders": "True"})
    assert [(row["symbol"], row["status"]) for row in rows] == [("AAPL", 200)]


def test_order_lookup_by_client_order_id_uses_a_literal_colon(http: Http) -> None:
    placed = http.ok("POST", "/v2/orders", json=order("AAPL", 1, client_order_id="mine/1"))
    found = http.ok("GET", "/v2/orders:by_client_order_id", params={"client_order_id": "mine/1"})
    assert found["id"] == placed["id"]
    missing = http.get("/v2/orders:by_client_order_id", params={"client_order_id": "other"})
    is_error(missing, 404, 40410000)
    nested = http.ok("GET", "/v2/orders", params={"status": "all", "nested": "True", "limit": "1"})
    assert [o["id"] for o in nested] == [placed["id"]]


def test_clock_and_calendar_shapes(http: Http) -> None:
    clock = http.ok("GET", "/v2/clock")
    assert clock["timestamp"].startswith("2024-01-03T09:30:00")
    assert clock["timestamp"].endswith("-05:00")
    assert clock["next_close"] == "2024-01-03T16:00:00-05:00"
    (day,) = http.ok("GET", "/v2/calendar", params={"start": "2024-01-03", "end": "2024-01-03"})
    assert (day["date"], day["open"], day["close"]) == ("2024-01-03", "09:30", "16:00")


@pytest.mark.sim_config(rate_limit_per_minute=50, **FROZEN)
def test_rate_limit_headers_on_every_answer(http: Http) -> None:
    first = http.get("/v2/clock")
    second = http.get("/v2/orders/not-a-uuid")  # errors count and carry the headers too
    assert first.headers["X-Ratelimit-Limit"] == second.headers["X-Ratelimit-Limit"] == "50"
    assert int(first.headers["X-Ratelimit-Remaining"]) == 49
    assert int(second.headers["X-Ratelimit-Remaining"]) == 48
    assert int(first.headers["X-Ratelimit-Reset"]) >= int(datetime.now(UTC).timestamp())


# -- market data ----------------------------------------------------------------------------------
def test_market_data_shapes(http: Http) -> None:
    params = {"symbols": "AAPL,MSFT", "timeframe": "1Min", "start": "2023-12-28T00:00:00Z"}
    page = http.ok("GET", "/v2/stocks/bars", params=params)
    assert set(page) == {"bars", "next_page_token"}
    # No limit: Alpaca's default page of 1,000, then an opaque token to resume from.
    assert {s: len(v) for s, v in page["bars"].items()} == {"AAPL": 1000}
    assert isinstance(page["next_page_token"], str)
    bar = page["bars"]["AAPL"][0]
    assert set(bar) == {"t", "o", "h", "l", "c", "v", "n", "vw"}
    assert all(isinstance(bar[k], int | float) for k in "ohlcvn")
    assert ZULU_RE.match(bar["t"])
    rest = http.ok(
        "GET", "/v2/stocks/bars", params=params | {"page_token": page["next_page_token"]}
    )
    assert page["bars"]["AAPL"][-1]["t"] < rest["bars"]["AAPL"][0]["t"]
    bad = http.get("/v2/stocks/bars", params=params | {"page_token": "garbage"})
    is_error(bad, 400, 40010001)

    trades = http.ok(
        "GET",
        "/v2/stocks/trades",
        params={"symbols": "AAPL", "start": "2024-01-02T15:00:00Z", "limit": 2},
    )
    trade = trades["trades"]["AAPL"][0]
    assert {"t", "x", "p", "s", "c", "i", "z"} <= set(trade)
    assert isinstance(trade["p"], float)
    latest = http.ok("GET", "/v2/stocks/quotes/latest", params={"symbols": "AAPL"})
    assert set(latest) == {"quotes"}
    assert isinstance(latest["quotes"]["AAPL"], dict)  # one object per symbol, not a list
    snapshots = http.ok("GET", "/v2/stocks/snapshots", params={"symbols": "AAPL,MSFT"})
    assert set(snapshots) == {"AAPL", "MSFT"}  # stocks: no wrapper key
    assert {"latestTrade", "latestQuote", "minuteBar", "dailyBar", "prevDailyBar"} <= set(
        snapshots["AAPL"]
    )
    empty = http.ok(
        "GET",
        "/v2/stocks/bars",
        params=params | {"start": "2023-12-30T00:00:00Z", "end": "2023-12-31T00:00:00Z"},
    )
    assert empty == {"bars": {}, "next_page_token": None}  # {} rather than null

    crypto = http.ok("GET", "/v1beta3/crypto/us/snapshots", params={"symbols": "BTC/USD"})
    assert set(crypto) == {"snapshots"}  # crypto wraps the symbol map
    quote = http.ok("GET", "/v1beta3/crypto/us/latest/quotes", params={"symbols": "BTC/USD"})[
        "quotes"
    ]["BTC/USD"]
    assert set(quote) >= {"t", "bp", "bs", "ap", "as"}
    assert quote["bp"] < quote["ap"]
    book = http.ok("GET", "/v1beta3/crypto/us/latest/orderbooks", params={"symbols": "BTC/USD"})
    assert set(book["orderbooks"]["BTC/USD"]) >= {"t", "b", "a"}
    is_error(
        http.get("/v1beta3/crypto/us/latest/trades", params={"symbols": "BTCUSD"}), 400, 40010001
    )
