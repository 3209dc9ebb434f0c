"""Alpaca's market-data REST API: where each query goes, and how its pages add up.

Stocks are under ``/v2/stocks/...`` with a ``feed`` (``iex`` or ``sip``); crypto under
``/v1beta3/crypto/us/...``. Every answer keeps its rows under one key (``bars``, ``quotes``,
``trades``; the latest endpoints use the same plural keys) mapping symbol to rows (a list for
bars, one object for a latest trade or quote), and a ``next_page_token`` while more pages remain.
This is what alpaca-py's ``_get_marketdata`` does, written for our async transport.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulsetrader.broker.http import Params

#: Rows Alpaca returns per page of bars at the most (the SDK asks for as many).
PAGE_LIMIT = 10_000

_DATA_KEYS = frozenset({"bars", "quotes", "trades", "bar", "quote", "trade"})
_CRYPTO = "/v1beta3/crypto/us"


def bars_path(crypto: bool) -> str:
    """The historical bars endpoint of stocks or crypto."""
    return f"{_CRYPTO}/bars" if crypto else "/v2/stocks/bars"


def latest_path(kind: str, crypto: bool) -> str:
    """The latest ``kind`` (``trade`` or ``quote``) endpoint of stocks or crypto."""
    return f"{_CRYPTO}/latest/{kind}s" if crypto else f"/v2/stocks/{kind}s/latest"


def entries(page: Any) -> dict[str, Any]:
    """The rows of one answer by symbol. ValueError for an answer of no known shape."""
    if not isinstance(page, Mapping):
        raise ValueError(f"expected an object, got {type(page).__name__}")
    keys = _DATA_KEYS.intersection(page)
    if len(keys) != 1:
        raise ValueError(f"expected one of {sorted(_DATA_KEYS)}, got keys {sorted(page)}")
    (key,) = keys
    rows = page[key]
    if rows is None:  # Alpaca sends null for a query that matched nothing
        return {}
    if not isinstance(rows, Mapping):
        raise ValueError(f"expected rows by symbol, got {type(rows).__name__}")
    return dict(rows)


class Pages:
    """Accumulates the pages of one query (``limit`` rows in all at the most, if given)."""

    def __init__(self, params: Params, limit: int | None) -> None:
        self._params = dict(params)
        self._limit = limit
        self.rows: dict[str, Any] = {}
        self._token: str | None = None
        self._started = False

    def next_params(self) -> Params | None:
        """The parameters of the next page's request, or None when the query is complete."""
        if self._started and self._token is None:
            return None
        count = sum(len(v) for v in self.rows.values() if isinstance(v, list))
        size = PAGE_LIMIT if self._limit is None else min(self._limit - count, PAGE_LIMIT)
        if size < 1:
            return None
        params: dict[str, Any] = {**self._params, "limit": size}
        if self._token is not None:
            params["page_token"] = self._token
        return params

    def add(self, page: Any) -> None:
        """Merge one answer: lists extend across pages, single rows are replaced."""
        self._started = True
        for symbol, value in entries(page).items():
            if isinstance(value, list):
                self.rows.setdefault(symbol, []).extend(value)
            else:
                self.rows[symbol] = value
        token = page.get("next_page_token")
        self._token = token if isinstance(token, str) and token else None
