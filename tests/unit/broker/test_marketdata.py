"""Market-data queries: endpoints, page limits and how pages add up."""

from __future__ import annotations

import pytest

from pulsetrader.broker.marketdata import PAGE_LIMIT, Pages, bars_path, entries, latest_path


def test_stock_and_crypto_endpoints_are_alpacas() -> None:
    assert bars_path(crypto=False) == "/v2/stocks/bars"
    assert bars_path(crypto=True) == "/v1beta3/crypto/us/bars"
    assert latest_path("quote", crypto=False) == "/v2/stocks/quotes/latest"
    assert latest_path("trade", crypto=True) == "/v1beta3/crypto/us/latest/trades"


def test_pages_follow_the_token_and_merge_rows_by_symbol() -> None:
    pages = Pages({"symbols": "AAPL,MSFT"}, limit=None)
    first = pages.next_params()
    assert first == {"symbols": "AAPL,MSFT", "limit": PAGE_LIMIT}
    pages.add({"bars": {"AAPL": [1, 2], "MSFT": [3]}, "next_page_token": "t1"})
    second = pages.next_params()
    assert second is not None
    assert second["page_token"] == "t1"
    pages.add({"bars": {"AAPL": [4]}, "next_page_token": None})
    assert pages.next_params() is None
    assert pages.rows == {"AAPL": [1, 2, 4], "MSFT": [3]}


def test_a_limit_is_spread_over_pages_and_ends_the_query() -> None:
    pages = Pages({}, limit=PAGE_LIMIT + 5)
    assert pages.next_params() == {"limit": PAGE_LIMIT}
    pages.add({"bars": {"AAPL": list(range(PAGE_LIMIT))}, "next_page_token": "t"})
    assert pages.next_params() == {"limit": 5, "page_token": "t"}
    pages.add({"bars": {"AAPL": list(range(5))}, "next_page_token": "t2"})
    assert pages.next_params() is None  # the limit is reached, whatever the token says


def test_null_rows_are_no_rows() -> None:
    assert entries({"bars": None, "next_page_token": None}) == {}


@pytest.mark.parametrize(
    "page",
    [[], {"next_page_token": None}, {"bars": {}, "quotes": {}}, {"bars": [1, 2]}],
)
def test_an_answer_of_no_known_shape_is_refused(page: object) -> None:
    with pytest.raises(ValueError, match="expected"):
        entries(page)
